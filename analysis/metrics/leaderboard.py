"""Bradley-Terry leaderboards on the Elo scale, with bootstrap intervals over verdicts.

Fitting uses Hunter's (2004) MM iterations for the Bradley-Terry maximum likelihood, a tie
counting as half a win for each side. The maximum likelihood exists only when the "beat or tied"
graph between models is strongly connected (every split of the models has a win both ways);
otherwise the ratings are None with a note. Bootstrap rounds resample verdicts as a multinomial
draw over the distinct (model_a, model_b, verdict) outcomes, and all rounds are fitted at once.
"""

from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from analysis.metrics.agreement import verdict_codes
from analysis.metrics.values import put

MAX_ITERATIONS = 10_000
TOLERANCE = 1e-10
MIN_RANKED_MODELS = 3
NOT_CONNECTED = "no maximum likelihood: some set of models never beats (or never ties) the rest"


def elo_ratings(strength: np.ndarray) -> np.ndarray:
    """1000 + 400 log10(strength), shifted so the mean rating is 1000 (last axis = models)."""
    log_strength = np.log10(strength)
    return 1000 + 400 * (log_strength - log_strength.mean(axis=-1, keepdims=True))


def strongly_connected(wins: np.ndarray) -> np.ndarray:
    """Per round: does every model reach every other along "has a win over" edges?"""
    n_models = wins.shape[-1]
    reach = (wins > 0) | np.eye(n_models, dtype=bool)
    for _ in range(max(1, int(np.ceil(np.log2(max(n_models, 2)))))):
        reach = np.matmul(reach.astype(np.float64), reach.astype(np.float64)) > 0
    return reach.all(axis=(-2, -1))


def bradley_terry_fit(wins: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Strengths (geometric mean 1) for each round of a rounds x models x models win matrix,
    and per round whether the iterations converged (largest log-strength step < TOLERANCE).

    wins[r, i, j] = wins of i over j (ties already split in halves). Rounds without a maximum
    likelihood estimate come back as NaN (and count as converged: there is nothing to fit).
    A round that has not converged after MAX_ITERATIONS keeps its last iterate.
    """
    wins = np.asarray(wins, dtype=np.float64)
    games = wins + np.swapaxes(wins, -1, -2)
    total_wins = wins.sum(axis=-1)
    connected = strongly_connected(wins)
    log_strength = np.zeros(total_wins.shape)
    change = np.zeros(total_wins.shape[:-1])
    for _ in range(MAX_ITERATIONS):
        strength = np.exp(log_strength)
        denominator = (games / (strength[..., :, None] + strength[..., None, :])).sum(axis=-1)
        with np.errstate(divide="ignore", invalid="ignore"):
            updated = np.log(total_wins / denominator)
            updated -= updated.mean(axis=-1, keepdims=True)
        updated[~connected] = 0.0
        change = np.abs(updated - log_strength).max(axis=-1)
        log_strength = updated
        if change.max(initial=0.0) < TOLERANCE:
            break
    strength = np.exp(log_strength)
    strength[~connected] = np.nan
    return strength, change < TOLERANCE


def bradley_terry(wins: np.ndarray) -> np.ndarray:
    """The strengths of `bradley_terry_fit` alone."""
    return bradley_terry_fit(wins)[0]


def not_converged_note(rounds: int) -> str:
    return (
        f"the Bradley-Terry fit did not converge in {MAX_ITERATIONS} iterations"
        + (f" in {rounds} bootstrap round(s)" if rounds else "")
        + "; the rating is the last iterate, so treat it as approximate"
    )


def _outcomes(frame: pd.DataFrame, models: pd.Index) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (a index, b index, verdict code) outcomes and how often each occurred.

    Each outcome is one integer, (a * models + b) * 3 + verdict, counted with bincount: sorting
    a million rows of three columns (np.unique over rows) took seconds.
    """
    n_models = len(models)
    a = models.get_indexer(frame["model_a"])
    b = models.get_indexer(frame["model_b"])
    code = (a * n_models + b) * 3 + verdict_codes(frame["verdict"])
    counts = np.bincount(code, minlength=n_models * n_models * 3)
    present = np.flatnonzero(counts)
    keys = np.stack([present // 3 // n_models, present // 3 % n_models, present % 3], axis=1)
    return keys, counts[present]


def _win_matrices(keys: np.ndarray, weights: np.ndarray, n_models: int) -> np.ndarray:
    """rounds x models x models wins from outcome counts per round (ties split in halves)."""
    mapping = np.zeros((len(keys), n_models * n_models))
    rows = np.arange(len(keys))
    a, b, verdict = keys[:, 0], keys[:, 1], keys[:, 2]
    a_share = np.select([verdict == 0, verdict == 1], [1.0, 0.5], 0.0)
    np.add.at(mapping, (rows, a * n_models + b), a_share)
    np.add.at(mapping, (rows, b * n_models + a), 1.0 - a_share)
    return (weights.astype(np.float64) @ mapping).reshape(-1, n_models, n_models)


def leaderboard(frame: pd.DataFrame, *, bootstrap: int, seed: int) -> list[dict[str, Any]]:
    """Models by Bradley-Terry Elo rating, best first, with wins, losses and ties."""
    if frame.empty:
        return []
    # unique() first: iterating a million Arrow strings into a set took seconds.
    names = set(frame["model_a"].unique()) | set(frame["model_b"].unique())
    models = pd.Index(sorted(str(name) for name in names))
    keys, counts = _outcomes(frame, models)
    strength, converged = bradley_terry_fit(_win_matrices(keys, counts[None, :], len(models)))
    (ratings,) = elo_ratings(strength)
    interval, interval_note = _bootstrap_interval(keys, counts, len(models), bootstrap, seed)

    tallies = pd.DataFrame(0, index=models, columns=["wins", "losses", "ties"])
    for (a, b, verdict), count in zip(keys, counts, strict=True):
        if verdict == 1:
            tallies.iloc[[a, b], 2] += count
        else:
            winner, loser = (a, b) if verdict == 0 else (b, a)
            tallies.iloc[winner, 0] += count
            tallies.iloc[loser, 1] += count

    rows = []
    for index, model in enumerate(models):
        row: dict[str, Any] = {"model": str(model)}
        put(row, "rating", ratings[index], NOT_CONNECTED)
        if row["rating"] is not None and not converged[0]:
            row["rating_note"] = not_converged_note(0)
        ci = None if interval is None else [interval[0][index], interval[1][index]]
        put(row, "ci95", ci, interval_note)
        if ci is not None and interval_note:
            row["ci95_note"] = interval_note
        row.update({key: int(tallies.loc[model, key]) for key in ("wins", "losses", "ties")})
        rows.append(row)
    rows.sort(key=lambda row: (-(row["rating"] or 0.0), row["model"]))
    return rows


def _bootstrap_interval(
    keys: np.ndarray, counts: np.ndarray, n_models: int, rounds: int, seed: int
) -> tuple[tuple[np.ndarray, np.ndarray] | None, str | None]:
    if rounds < 1:
        return None, "bootstrap disabled (0 rounds)"
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(counts.sum(), counts / counts.sum(), size=rounds)
    strength, converged = bradley_terry_fit(_win_matrices(keys, weights, n_models))
    ratings = elo_ratings(strength)
    failed = int(np.isnan(ratings).any(axis=1).sum())
    if failed:
        # Not dropped: a round without a maximum likelihood is one where a model's rating
        # runs off to infinity, so leaving those rounds out would narrow the interval.
        return None, f"{failed} of {rounds} bootstrap rounds had no maximum likelihood"
    low, high = np.percentile(ratings, [2.5, 97.5], axis=0)
    unconverged = int((~converged).sum())
    return (low, high), not_converged_note(unconverged) if unconverged else None


def rank_correlation(
    reference: list[dict[str, Any]], other: list[dict[str, Any]]
) -> dict[str, Any]:
    """Spearman, Kendall and Pearson-of-ranks between two leaderboards on their shared models."""
    first = {row["model"]: row["rating"] for row in reference if row["rating"] is not None}
    second = {row["model"]: row["rating"] for row in other if row["rating"] is not None}
    shared = sorted(set(first) & set(second))
    x = np.array([first[m] for m in shared])
    y = np.array([second[m] for m in shared])
    result: dict[str, Any] = {}
    note = None
    if len(shared) < MIN_RANKED_MODELS:
        note = f"fewer than {MIN_RANKED_MODELS} models rated on both leaderboards"
    elif np.ptp(x) == 0 or np.ptp(y) == 0:
        note = "one leaderboard rates every shared model the same"
    if note:
        for key in ("spearman", "kendall", "pearson_of_ranks"):
            put(result, key, None, note)
        return result
    put(result, "spearman", stats.spearmanr(x, y).statistic)
    put(result, "kendall", stats.kendalltau(x, y).statistic)
    put(result, "pearson_of_ranks", stats.pearsonr(stats.rankdata(x), stats.rankdata(y)).statistic)
    result["n_models"] = len(shared)
    return result
