"""Position bias, verbosity bias and the distribution of shown values, per rater group.

Each function takes the ratings of one rater group on one criterion. Every judge call counts
as a verdict of its own here (both orders), because the bias is a property of single calls.
"""

from typing import Any

import numpy as np
import pandas as pd
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from analysis.metrics.values import put

UNKNOWN_ORDER = ""


def _rate_with_interval(
    result: dict[str, Any], key: str, successes: int, trials: int, empty_note: str
) -> None:
    if trials == 0:
        put(result, key, None, empty_note)
        put(result, "ci95", None, empty_note)
        return
    put(result, key, successes / trials)
    low, high = proportion_confint(successes, trials, alpha=0.05, method="wilson")
    put(result, "ci95", [low, high])


def position_bias(frame: pd.DataFrame) -> dict[str, Any]:
    """first_shown_win_rate (Wilson interval, exact binomial p), tie rate, swap consistency."""
    result: dict[str, Any] = {}
    known = frame[frame["shown_first"] != UNKNOWN_ORDER]
    decisive = known[known["verdict"] != "tie"]
    first_won = int((decisive["verdict"] == decisive["shown_first"]).sum())
    n_decisive = len(decisive)
    no_order = "no decisive verdict with a known shown order"
    _rate_with_interval(result, "first_shown_win_rate", first_won, n_decisive, no_order)
    if n_decisive:
        put(result, "p_value", binomtest(first_won, n_decisive, 0.5).pvalue)
    else:
        put(result, "p_value", None, no_order)
    result["n_decisive"] = n_decisive
    put(
        result,
        "tie_rate",
        (known["verdict"] == "tie").mean() if len(known) else None,
        "no verdict with a known shown order",
    )
    consistency, n_swapped = swap_consistency(known)
    put(
        result,
        "swap_consistency",
        consistency,
        "no unit was rated by the same rater in both orders",
    )
    result["n_swapped_pairs"] = n_swapped
    return result


def swap_consistency(known: pd.DataFrame) -> tuple[float | None, int]:
    """Among (rater, unit)s seen in both orders, the share with a single canonical verdict."""
    if known.empty:
        return None, 0
    per_unit = known.groupby(["rater", "unit"], sort=False).agg(
        orders=("shown_first", "nunique"), verdicts=("verdict", "nunique")
    )
    swapped = per_unit[per_unit["orders"] == 2]
    if swapped.empty:
        return None, 0
    return float((swapped["verdicts"] == 1).mean()), len(swapped)


def verbosity_bias(frame: pd.DataFrame) -> dict[str, Any]:
    """longer_win_rate among decisive verdicts on pairs whose lengths differ."""
    result: dict[str, Any] = {}
    usable = frame[(frame["verdict"] != "tie") & (frame["len_a"] != frame["len_b"])]
    a_longer = usable["len_a"] > usable["len_b"]
    longer_won = int(((usable["verdict"] == "a") == a_longer).sum())
    _rate_with_interval(
        result,
        "longer_win_rate",
        longer_won,
        len(usable),
        "no decisive verdict on a pair of different lengths",
    )
    result["n_decisive"] = len(usable)
    return result


def _distribution_key(value: str) -> tuple[int, float, str]:
    if value.lstrip("-").isdigit():
        return (0, float(value), value)
    return (1, 0.0, "" if value == "tie" else value)


def distribution(frame: pd.DataFrame) -> dict[str, int]:
    """How often each value was given as shown: scale points, "tie", then "a"/"b".

    Imported ratings carry no shown value (""); they are counted under their canonical verdict
    ("a", "b" or "tie"), since "a wins" is all such a rating says. A scale point is never "a" or
    "b", so the keys cannot collide, and an imported tie means the same as a shown tie.
    """
    values = frame["value_shown"].to_numpy(dtype=object)
    values = np.where(values == "", frame["verdict"].to_numpy(dtype=object), values)
    counts = pd.Series(values, dtype=object).value_counts()
    return {str(key): int(counts[key]) for key in sorted(counts.index, key=_distribution_key)}
