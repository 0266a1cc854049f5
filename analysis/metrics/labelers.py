"""Per-labeler quality on one criterion's human ratings.

Agreement is leave-one-out: each rating against the majority verdict of the other raters of the
same unit (a tie between their verdicts is a tie); units nobody else rated do not count.
"""

from typing import Any

import numpy as np
import pandas as pd

from analysis.metrics.agreement import majority_codes, value_counts, verdict_codes
from analysis.metrics.values import put

MIN_LABELERS_FOR_OUTLIERS = 3
OUTLIER_MADS = 3.0
# 1.4826 x MAD estimates the standard deviation when the values are normal.
MAD_SCALE = 1.4826
OUTLIER_MIN_GAP = 0.1
OUTLIER_RULE = (
    "flagged when agreement_with_others is below the labelers' median by more than "
    f"{OUTLIER_MADS:g} scaled MADs ({MAD_SCALE} x the median absolute deviation) and by more "
    f"than {OUTLIER_MIN_GAP:g}; needs {MIN_LABELERS_FOR_OUTLIERS}+ labelers with an agreement"
)


def labeler_quality(frame: pd.DataFrame) -> dict[str, Any]:
    """{"outlier_rule": ..., "raters": {rater: quality}} for the human ratings of one criterion."""
    if frame.empty:
        return {"outlier_rule": OUTLIER_RULE, "raters": {}}
    units = pd.factorize(frame["unit"])[0]
    own = verdict_codes(frame["verdict"])
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
    flagged = outliers(agreement.dropna())

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


def outliers(agreement: pd.Series) -> pd.Series:
    """Which labelers agree with the others unusually little (a robust, one-sided rule).

    A labeler is flagged when their agreement is below the median by more than OUTLIER_MADS
    scaled MADs (MAD_SCALE x the median absolute deviation, a robust standard deviation) AND by
    more than OUTLIER_MIN_GAP in absolute terms. The floor matters when most labelers agree
    almost equally: the MAD is then near 0 and anyone a hair below the median would be flagged.
    With fewer than MIN_LABELERS_FOR_OUTLIERS labelers nobody is flagged.
    """
    if len(agreement) < MIN_LABELERS_FOR_OUTLIERS:
        return pd.Series(False, index=agreement.index)
    median = agreement.median()
    scaled_mad = MAD_SCALE * (agreement - median).abs().median()
    gap = median - agreement
    return (gap > OUTLIER_MADS * scaled_mad) & (gap > OUTLIER_MIN_GAP)
