"""Human majority verdict x judge verdict counts, the table behind the confusion-matrix plot."""

from typing import Any

import pandas as pd

from analysis.metrics.agreement import (
    VERDICT_LABELS,
    judge_unit_verdicts,
    majority_codes,
    verdict_counts,
)


def human_judge_confusion(humans: pd.DataFrame, judge: pd.DataFrame) -> dict[str, Any]:
    """{"labels": [a, tie, b], "counts": rows = human majority, columns = judge verdict, "n"}.

    Same units and verdict rules as `human_vs_llm`: the human majority (a tie between verdicts is
    a tie) against the judge's verdict over both orders (orders that disagree are a tie).
    """
    labels = [str(label) for label in VERDICT_LABELS]
    if humans.empty or judge.empty:
        return {"labels": labels, "counts": [[0] * 3 for _ in labels], "n": 0}
    units, counts = verdict_counts(humans)
    majority = pd.Series(VERDICT_LABELS[majority_codes(counts)], index=units, name="human")
    verdicts = judge_unit_verdicts(judge).set_index("unit")["verdict"].rename("judge")
    joined = pd.concat([majority, verdicts], axis=1, join="inner")
    table = pd.crosstab(joined["human"], joined["judge"]).reindex(
        index=labels, columns=labels, fill_value=0
    )
    return {
        "labels": labels,
        "counts": [[int(value) for value in row] for row in table.to_numpy()],
        "n": len(joined),
    }
