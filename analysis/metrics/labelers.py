"""Per-labeler quality on one criterion's human ratings.

Agreement is leave-one-out: each rating against the majority verdict of the other raters of the
same unit (a tie between their verdicts is a tie); units nobody else rated do not count.
"""

from typing import Any

import numpy as np
import pandas as pd

from analysis.metrics.agreement import VERDICT_CODES, majority_codes, value_counts
from analysis.metrics.values import put

MIN_LABELERS_FOR_OUTLIERS = 3
OUTLIER_RULE = (
    "flagged when agreement_with_others is more than 2 MAD (median absolute deviation, "
    f"unscaled) below the labelers' median; needs {MIN_LABELERS_FOR_OUTLIERS}+ labelers"
)


def labeler_quality(frame: pd.DataFrame) -> dict[str, Any]:
    """{"outlier_rule": ..., "raters": {rater: quality}} for the human ratings of one criterion."""
    if frame.empty:
        return {"outlier_rule": OUTLIER_RULE, "raters": {}}
    units = pd.factorize(frame["unit"])[0]
    own = frame["verdict"].map(VERDICT_CODES).to_numpy(dtype=np.int64)
    others = value_counts(units, own, 3)[units]
    others[np.arange(len(own)), own] -= 1
    has_others = others.sum(axis=1) > 0
    agrees = majority_codes(others) == own

    known = frame["shown_first"] != ""
    decisive_known = known & (frame["verdict"] != "tie")
    stats = pd.DataFrame(
        {
            "rater": frame["rater"].to_numpy(),
            "compared": has_others,
            "agrees": agrees & has_others,
            "tie": (frame["verdict"] == "tie").to_numpy(),
            "decisive_known": decisive_known.to_numpy(),
            "first_won": (decisive_known & (frame["verdict"] == frame["shown_first"])).to_numpy(),
            "time_spent_ms": frame["time_spent_ms"].to_numpy(),
        }
    ).groupby("rater", sort=True)
    summary = stats.agg(
        n_ratings=("tie", "size"),
        compared=("compared", "sum"),
        agrees=("agrees", "sum"),
        ties=("tie", "sum"),
        decisive_known=("decisive_known", "sum"),
        first_won=("first_won", "sum"),
        median_time_ms=("time_spent_ms", "median"),
    )
    agreement = (summary["agrees"] / summary["compared"]).where(summary["compared"] > 0)
    flagged = _outliers(agreement.dropna())

    raters: dict[str, Any] = {}
    for rater, row in summary.iterrows():
        quality: dict[str, Any] = {"n_ratings": int(row["n_ratings"])}
        put(quality, "agreement_with_others", agreement[rater], "no unit rated by someone else too")
        quality["n_compared"] = int(row["compared"])
        put(quality, "tie_rate", row["ties"] / row["n_ratings"])
        put(
            quality,
            "first_shown_win_rate",
            row["first_won"] / row["decisive_known"] if row["decisive_known"] else None,
            "no decisive rating with a known shown order",
        )
        put(quality, "median_time_ms", row["median_time_ms"], "no time recorded")
        quality["outlier"] = bool(flagged.get(rater, False))
        raters[str(rater)] = quality
    return {"outlier_rule": OUTLIER_RULE, "raters": raters}


def _outliers(agreement: pd.Series) -> pd.Series:
    if len(agreement) < MIN_LABELERS_FOR_OUTLIERS:
        return pd.Series(False, index=agreement.index)
    median = agreement.median()
    mad = (agreement - median).abs().median()
    return agreement < median - 2 * mad
