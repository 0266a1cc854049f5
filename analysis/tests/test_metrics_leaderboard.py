import math

import numpy as np
import pytest

from analysis.metrics import leaderboard
from analysis.tests.frames import frame_of


def verdicts(model_a, model_b, *results):
    return [
        {"pair_id": i, "model_a": model_a, "model_b": model_b, "verdict": v}
        for i, v in enumerate(results)
    ]


def test_three_wins_in_four_give_a_strength_ratio_of_three_on_the_elo_scale():
    board = leaderboard.leaderboard(
        frame_of(verdicts("x", "y", "a", "a", "a", "b")), bootstrap=0, seed=0
    )
    ratings = {row["model"]: row["rating"] for row in board}
    assert ratings["x"] - ratings["y"] == pytest.approx(400 * math.log10(3), abs=1e-6)
    assert (ratings["x"] + ratings["y"]) / 2 == pytest.approx(1000)
    assert [row["model"] for row in board] == ["x", "y"]
    assert board[0] | {"rating": None} == {
        "model": "x",
        "rating": None,
        "ci95": None,
        "ci95_note": "bootstrap disabled (0 rounds)",
        "wins": 3,
        "losses": 1,
        "ties": 0,
    }


def test_a_tie_counts_as_half_a_win_for_each_side():
    # x scores 2 + 2 * 0.5 = 3, y scores 1 + 2 * 0.5 = 2: a strength ratio of 3 / 2.
    board = leaderboard.leaderboard(
        frame_of(verdicts("x", "y", "a", "a", "tie", "tie", "b")), bootstrap=0, seed=0
    )
    ratings = {row["model"]: row["rating"] for row in board}
    assert ratings["x"] - ratings["y"] == pytest.approx(400 * math.log10(3.0 / 2.0), abs=1e-6)
    assert board[0]["ties"] == 2 and board[1]["ties"] == 2


def test_the_mm_fit_matches_a_direct_likelihood_maximisation_on_three_models():
    from scipy.optimize import minimize

    wins = np.array([[0, 5, 2], [3, 0, 4], [1, 2, 0]], dtype=float)
    (strength,) = leaderboard.bradley_terry(wins[None])

    def negative_log_likelihood(theta):
        theta = np.append(theta, -theta.sum())
        diff = theta[:, None] - theta[None, :]
        return -(wins * -np.logaddexp(0, -diff)).sum()

    fitted = minimize(negative_log_likelihood, np.zeros(2), method="BFGS").x
    expected = np.exp(np.append(fitted, -fitted.sum()))
    assert strength == pytest.approx(expected, rel=1e-4)


def test_a_model_that_never_wins_gives_no_ratings_and_says_why():
    board = leaderboard.leaderboard(frame_of(verdicts("x", "y", "a", "a")), bootstrap=10, seed=0)
    assert all(row["rating"] is None for row in board)
    assert "no maximum likelihood" in board[0]["rating_note"]
    assert board[0]["ci95"] is None


def test_the_bootstrap_interval_is_seeded_and_contains_the_rating():
    rng = np.random.default_rng(3)
    rows = []
    for i in range(300):
        a, b = sorted(rng.choice(["m1", "m2", "m3", "m4"], size=2, replace=False))
        rows.append(
            {"pair_id": i, "model_a": a, "model_b": b, "verdict": rng.choice(["a", "b", "tie"])}
        )
    frame = frame_of(rows)
    first = leaderboard.leaderboard(frame, bootstrap=200, seed=5)
    assert first == leaderboard.leaderboard(frame, bootstrap=200, seed=5)
    for row in first:
        low, high = row["ci95"]
        assert low < row["rating"] < high


def test_rank_correlation_compares_the_ratings_of_shared_models():
    human = [
        {"model": m, "rating": r} for m, r in (("a", 1100), ("b", 1000), ("c", 900), ("d", 950))
    ]
    judge = [
        {"model": m, "rating": r} for m, r in (("a", 1050), ("b", 1060), ("c", 890), ("e", 1000))
    ]
    result = leaderboard.rank_correlation(human, judge)
    # Shared a, b, c: human ranks 3,2,1; judge ranks 2,3,1.
    assert result["spearman"] == pytest.approx(0.5)
    assert result["kendall"] == pytest.approx(1 / 3)
    assert result["pearson_of_ranks"] == pytest.approx(0.5)
    too_few = leaderboard.rank_correlation(human[:2], judge[:2])
    assert too_few["spearman"] is None and "fewer than 3 models" in too_few["spearman_note"]


def test_a_fit_that_has_not_converged_keeps_its_rating_and_says_so(monkeypatch):
    # Enough verdicts both ways on every pair that no bootstrap round lacks an estimate.
    rows = verdicts("x", "y", *["a"] * 12, *["b"] * 6, "tie", "tie")
    rows += verdicts("y", "z", *["a"] * 8, *["b"] * 10, "tie", "tie")
    rows += verdicts("x", "z", *["a"] * 9, *["b"] * 9, "tie", "tie")
    frame = frame_of([row | {"pair_id": i} for i, row in enumerate(rows)])
    converged = leaderboard.leaderboard(frame, bootstrap=20, seed=0)
    assert all("rating_note" not in row and "ci95_note" not in row for row in converged)

    monkeypatch.setattr(leaderboard, "MAX_ITERATIONS", 2)
    stopped = leaderboard.leaderboard(frame, bootstrap=20, seed=0)
    for row in stopped:
        assert row["rating"] is not None
        assert "did not converge in 2 iterations" in row["rating_note"]
        assert row["ci95"] is not None
        assert "in 20 bootstrap round(s)" in row["ci95_note"]
