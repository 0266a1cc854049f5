"""Agreement between humans, and between humans and LLM judges (DESIGN.md "Definitions").

Every function takes an already filtered frame (one criterion; the raters to compare) and
returns plain numbers. The nominal alpha bootstrap works on distinct per-unit value-count
patterns: resampling N units with replacement is a multinomial draw over those patterns, so a
thousand rounds cost a few matrix products instead of a thousand groupbys.
"""

from typing import Any, Literal

import krippendorff
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.metrics import cohen_kappa_score, f1_score
from statsmodels.stats import inter_rater

from analysis.metrics.values import number, put

VERDICT_CODES = {"a": 0, "tie": 1, "b": 2}
VERDICT_LABELS = np.array(["a", "tie", "b"])
MIN_CORRELATION_UNITS = 3


def value_counts(units: np.ndarray, values: np.ndarray, n_values: int) -> np.ndarray:
    """units x values matrix of how many raters gave each value to each unit (integer codes)."""
    n_units = int(units.max()) + 1 if len(units) else 0
    flat = np.bincount(units * n_values + values, minlength=n_units * n_values)
    return flat.reshape(n_units, n_values)


def verdict_codes(verdicts: pd.Series) -> np.ndarray:
    """Verdicts as codes 0 = a, 1 = tie, 2 = b (the frame's verdicts are checked by coerce_frame).

    Two vectorised comparisons: a million string verdicts take a tenth of what `.map` takes.
    """
    is_a = (verdicts == "a").to_numpy(dtype=bool)
    is_b = (verdicts == "b").to_numpy(dtype=bool)
    return np.where(
        is_a, VERDICT_CODES["a"], np.where(is_b, VERDICT_CODES["b"], VERDICT_CODES["tie"])
    )


def verdict_counts(frame: pd.DataFrame) -> tuple[pd.Index, np.ndarray]:
    """The frame's units and their (a, tie, b) verdict counts."""
    units, index = pd.factorize(frame["unit"])
    return pd.Index(index), value_counts(units, verdict_codes(frame["verdict"]), 3)


def majority_codes(counts: np.ndarray) -> np.ndarray:
    """Majority verdict code per row of (a, tie, b) counts; a tie between verdicts is a tie."""
    top = counts.max(axis=1, keepdims=True)
    leaders = (counts == top).sum(axis=1)
    return np.where(leaders > 1, VERDICT_CODES["tie"], counts.argmax(axis=1))


def _alpha_degenerate_note(counts: np.ndarray) -> str | None:
    pairable = counts.sum(axis=1) >= 2
    if pairable.sum() < 2:
        return "fewer than two units have two or more ratings (no pairable values)"
    if (counts[pairable].sum(axis=0) > 0).sum() < 2:
        return "every pairable rating has the same value, so expected disagreement is zero"
    return None


AlphaLevel = Literal["nominal", "ordinal", "interval"]


def krippendorff_alpha(frame: pd.DataFrame, level: AlphaLevel) -> tuple[float | None, str | None]:
    """Alpha over units x raters: nominal on verdicts, ordinal/interval on signed preferences."""
    if frame.empty:
        return None, "no ratings"
    units = pd.factorize(frame["unit"])[0]
    if level == "nominal":
        domain = np.arange(3)
        values = verdict_codes(frame["verdict"])
    else:
        preference = frame["preference"].to_numpy(dtype=np.int64)
        domain = np.unique(preference)
        values = np.searchsorted(domain, preference)
    counts = value_counts(units, values, len(domain))
    note = _alpha_degenerate_note(counts)
    if note:
        return None, note
    # int32 counts: the package's units x values x values products stay half the size (exact:
    # a unit would need 46,341 ratings of one value to overflow).
    result = krippendorff.alpha(
        value_counts=counts.astype(np.int32), value_domain=domain, level_of_measurement=level
    )
    return number(result), None if number(result) is not None else "alpha is not finite"


def nominal_alpha_from_patterns(patterns: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Nominal alpha for each row of `weights` (how many units show each count pattern).

    Same coincidence-matrix formula as the krippendorff package (tested against it):
    alpha = 1 - (n - 1) * D_o / D_e with nominal distance 1 - [c == k].
    """
    totals = patterns.sum(axis=1, keepdims=True).astype(float)
    per_unit = (patterns[:, :, None] * patterns[:, None, :]).astype(float)
    per_unit -= patterns[:, :, None] * np.eye(patterns.shape[1])[None]
    per_unit /= np.maximum(totals, 2)[:, :, None] - 1
    coincidences = np.einsum("rp,pck->rck", weights.astype(float), per_unit)
    n_c = coincidences.sum(axis=1)
    n = n_c.sum(axis=1)
    observed = n - np.trace(coincidences, axis1=1, axis2=2)
    expected = (n**2 - (n_c**2).sum(axis=1)) / (n - 1)
    with np.errstate(divide="ignore", invalid="ignore"):
        return 1 - observed / expected


def alpha_nominal_ci95(
    frame: pd.DataFrame, *, rounds: int, seed: int
) -> tuple[list[float] | None, str | None]:
    """Percentile 95% interval of nominal alpha, resampling the pairable units (seeded).

    A round whose resample has a single value has no alpha; the interval is taken over the
    defined rounds and the note says how many those were. Below half of the rounds it is None.
    """
    if rounds < 1:
        return None, "bootstrap disabled (0 rounds)"
    _, counts = verdict_counts(frame) if not frame.empty else (None, np.zeros((0, 3), int))
    note = _alpha_degenerate_note(counts)
    if note:
        return None, note
    pairable = counts[counts.sum(axis=1) >= 2]
    patterns, frequency = np.unique(pairable, axis=0, return_counts=True)
    rng = np.random.default_rng(seed)
    weights = rng.multinomial(len(pairable), frequency / frequency.sum(), size=rounds)
    alphas = nominal_alpha_from_patterns(patterns, weights)
    defined = alphas[np.isfinite(alphas)]
    undefined = rounds - len(defined)
    if len(defined) * 2 < rounds:
        return None, f"alpha undefined in {undefined} of {rounds} bootstrap rounds"
    low, high = np.percentile(defined, [2.5, 97.5])
    note = None
    if undefined:
        note = (
            f"from the {len(defined)} of {rounds} bootstrap rounds in which alpha is defined "
            f"({undefined} resampled every pairable rating to one value)"
        )
    return [float(low), float(high)], note


def fleiss_kappa(frame: pd.DataFrame) -> tuple[float | None, str]:
    """Fleiss' kappa on verdicts over the units with the most common number of ratings."""
    if frame.empty:
        return None, "no ratings"
    _, counts = verdict_counts(frame)
    sizes = counts.sum(axis=1)
    size_values, size_counts = np.unique(sizes, return_counts=True)
    # Most common number of ratings; on a draw the larger n, which carries more information.
    n = int(size_values[size_counts == size_counts.max()].max())
    table = counts[sizes == n]
    if n < 2:
        return None, "the most common number of ratings per unit is 1"
    if len(table) < 2:
        return None, f"fewer than two units with n={n} ratings"
    kappa = number(inter_rater.fleiss_kappa(table, method="fleiss"))
    note = f"over {len(table)} units with n={n} ratings each"
    if kappa is None:
        return None, f"undefined (all ratings in one category) {note}"
    return kappa, note


def _pairs(n: np.ndarray) -> np.ndarray:
    return n * (n - 1) // 2


def pairwise_agreement(frame: pd.DataFrame) -> dict[str, Any]:
    """Share of equal verdicts over all unordered pairs of ratings on the same unit."""
    result: dict[str, Any] = {}
    counts = verdict_counts(frame)[1] if not frame.empty else np.zeros((0, 3), int)
    total = _pairs(counts.sum(axis=1)).sum()
    equal = _pairs(counts).sum()
    decisive_total = _pairs(counts[:, 0] + counts[:, 2]).sum()
    decisive_equal = (_pairs(counts[:, 0]) + _pairs(counts[:, 2])).sum()
    put(
        result,
        "pairwise_agreement_with_ties",
        equal / total if total else None,
        "no unit has two ratings",
    )
    put(
        result,
        "pairwise_agreement_without_ties",
        decisive_equal / decisive_total if decisive_total else None,
        "no unit has two decisive (non-tie) ratings",
    )
    return result


def human_agreement(frame: pd.DataFrame, *, bootstrap: int, seed: int) -> dict[str, Any]:
    """The report's "human_agreement" block for one criterion's human ratings."""
    result: dict[str, Any] = {}
    for level in ("nominal", "ordinal", "interval"):
        value, note = krippendorff_alpha(frame, level)
        put(result, f"alpha_{level}", value, note)
    ci, note = alpha_nominal_ci95(frame, rounds=bootstrap, seed=seed)
    put(result, "alpha_nominal_ci95", ci, note)
    if ci is not None and note:
        result["alpha_nominal_ci95_note"] = note
    kappa, note = fleiss_kappa(frame)
    put(result, "fleiss_kappa", kappa, note)
    if kappa is not None:
        result["fleiss_kappa_note"] = note
    result.update(pairwise_agreement(frame))
    result["n_units"] = int(frame["unit"].nunique())
    result["n_ratings"] = len(frame)
    return result


def cohen_kappa(first: pd.Series, second: pd.Series) -> tuple[float | None, str | None]:
    """Cohen's kappa between two aligned verdict series (a / tie / b)."""
    if len(first) < 2:
        return None, "fewer than two units rated by both"
    if first.nunique() == 1 and second.nunique() == 1 and first.iloc[0] == second.iloc[0]:
        # Chance agreement is then 1 and kappa 0/0; two different constant verdicts give 0.
        return None, "both raters gave the same single verdict everywhere, so kappa is undefined"
    # Integer codes, not strings: sklearn sorts its inputs several times, and strings sort slowly.
    kappa = number(cohen_kappa_score(verdict_codes(first), verdict_codes(second), labels=[0, 1, 2]))
    return kappa, None if kappa is not None else "kappa is undefined for these ratings"


def rater_cohen_kappa(
    frame: pd.DataFrame, first: str, second: str
) -> tuple[float | None, str | None]:
    """Cohen's kappa between two raters over the units both rated."""
    verdicts = frame.pivot_table(
        index="unit", columns="rater", values="verdict", aggfunc="first"
    ).reindex(columns=[first, second])
    both = verdicts.dropna()
    return cohen_kappa(both[first], both[second])


def judge_unit_verdicts(frame: pd.DataFrame) -> pd.DataFrame:
    """One verdict per unit for a judge's calls: the orders' verdict if they agree, else tie.

    Returns unit, verdict and preference (the mean signed preference over the orders).
    """
    if frame.empty:
        return pd.DataFrame({"unit": [], "verdict": [], "preference": []})
    grouped = frame.groupby("unit", sort=False)
    combined = grouped.agg(
        first=("verdict", "first"),
        kinds=("verdict", "nunique"),
        preference=("preference", "mean"),
    )
    combined["verdict"] = combined["first"].where(combined["kinds"] == 1, "tie")
    return combined.reset_index()[["unit", "verdict", "preference"]]


def _human_units(humans: pd.DataFrame) -> pd.DataFrame:
    units, counts = verdict_counts(humans)
    scaled = humans["preference"] / humans["scale_k"]
    mean_preference = scaled.groupby(humans["unit"], sort=False).mean().reindex(units)
    category = humans.groupby("unit", sort=False)["category"].first().reindex(units)
    return pd.DataFrame(
        {
            "n_a": counts[:, 0],
            "n_tie": counts[:, 1],
            "n_b": counts[:, 2],
            "majority": VERDICT_LABELS[majority_codes(counts)],
            "human_preference": mean_preference.to_numpy(),
            "category": category.to_numpy(),
        },
        index=units,
    )


def _compare(joined: pd.DataFrame) -> dict[str, Any]:
    result: dict[str, Any] = {}
    judge_code = verdict_codes(joined["judge_verdict"])
    counts = joined[["n_a", "n_tie", "n_b"]].to_numpy()
    matches = counts[np.arange(len(counts)), judge_code]
    total = counts.sum()
    decisive = judge_code != VERDICT_CODES["tie"]
    decisive_total = (counts[decisive][:, [0, 2]]).sum()
    put(result, "agreement_with_ties", matches.sum() / total if total else None, "no units")
    put(
        result,
        "agreement_without_ties",
        matches[decisive].sum() / decisive_total if decisive_total else None,
        "no comparison without a tie on either side",
    )
    kappa, note = cohen_kappa(joined["judge_verdict"], joined["majority"])
    put(result, "cohen_kappa", kappa, note)
    judge = joined["judge_preference"].to_numpy(dtype=float)
    human = joined["human_preference"].to_numpy(dtype=float)
    for key, test in (("pearson", stats.pearsonr), ("spearman", stats.spearmanr)):
        if len(joined) < MIN_CORRELATION_UNITS:
            put(result, key, None, f"fewer than {MIN_CORRELATION_UNITS} units")
        elif np.ptp(judge) == 0 or np.ptp(human) == 0:
            put(result, key, None, "one side's preferences are constant")
        else:
            put(result, key, test(judge, human).statistic)
    result["n"] = len(joined)
    return result


def human_vs_judge(humans: pd.DataFrame, judge: pd.DataFrame) -> dict[str, Any]:
    """The report's "human_vs_llm" block for one judge: overall and by category."""
    units = _human_units(humans)
    verdicts = judge_unit_verdicts(judge).set_index("unit")
    judge_k = judge.groupby("unit")["scale_k"].first()
    joined = units.join(
        pd.DataFrame(
            {
                "judge_verdict": verdicts["verdict"],
                "judge_preference": verdicts["preference"] / judge_k.reindex(verdicts.index),
            }
        ),
        how="inner",
    )
    return {
        "overall": _compare(joined),
        "by_category": {
            str(category): _compare(part)
            for category, part in sorted(joined.groupby("category", sort=False))
        },
    }


def judge_vs_majority(humans: pd.DataFrame, judge: pd.DataFrame) -> dict[str, Any]:
    """Classification of the judge's unit verdicts against the human majority."""
    units = _human_units(humans)
    verdicts = judge_unit_verdicts(judge).set_index("unit")["verdict"]
    joined = units.join(verdicts.rename("judge_verdict"), how="inner")
    result: dict[str, Any] = {"n": len(joined)}
    kappa, note = cohen_kappa(joined["judge_verdict"], joined["majority"])
    put(result, "cohen_kappa", kappa, note)
    if joined.empty:
        put(result, "accuracy", None, "no unit rated by both")
        put(result, "macro_f1", None, "no unit rated by both")
        return result
    put(result, "accuracy", (joined["judge_verdict"] == joined["majority"]).mean())
    macro_f1 = f1_score(
        joined["majority"], joined["judge_verdict"], labels=list(VERDICT_LABELS), average="macro"
    )
    put(result, "macro_f1", macro_f1)
    return result
