"""The report: every metric of DESIGN.md "The report", per criterion, from a ratings frame.

Human ratings given while a judge's suggestion was shown (verify mode) are kept apart as the
rater group "human_with_suggestion": they count for bias, distribution and leaderboards of
that group, never for human agreement or human-vs-judge comparisons, which use blind humans.
"""

from collections.abc import Callable
from typing import Any

import pandas as pd

from analysis.metrics import agreement, bias, labelers, leaderboard
from analysis.metrics.frame import COLUMNS, HUMAN, coerce_frame

HUMAN_WITH_SUGGESTION = "human_with_suggestion"
# The columns the metrics read; a criterion's rows are copied with these only.
METRIC_COLUMNS = [c for c in COLUMNS if c not in ("pair_id", "prompt_id", "criterion")]


def _judge_unit_frame(judge: pd.DataFrame) -> pd.DataFrame:
    """One row per unit with the judge's combined verdict (orders that disagree are a tie)."""
    combined = agreement.judge_unit_verdicts(judge).set_index("unit")["verdict"]
    first = judge.drop_duplicates("unit").set_index("unit")
    first["verdict"] = combined.reindex(first.index)
    return first.reset_index()


# The sections of a criterion, in the order they are computed; progress reports after each.
SECTIONS = (
    "human_agreement",
    "position_bias",
    "verbosity_bias",
    "human_vs_llm",
    "leaderboard",
    "distribution",
    "labelers",
)
OnSection = Callable[[int, int], None]


def _criterion_report(
    frame: pd.DataFrame, *, bootstrap: int, seed: int, on_section: OnSection | None = None
) -> dict[str, Any]:
    groups = frame["rater_group"].where(
        ~((frame["rater_kind"] == HUMAN) & frame["with_suggestion"]), HUMAN_WITH_SUGGESTION
    )
    by_group = {str(name): part for name, part in frame.groupby(groups, sort=True)}
    humans = by_group.get(HUMAN, frame.iloc[0:0])
    judges = sorted(name for name, part in by_group.items() if (part["rater_kind"] == "llm").all())

    def boards() -> dict[str, Any]:
        result: dict[str, Any] = {}
        for name, part in by_group.items():
            verdicts = _judge_unit_frame(part) if name in judges else part
            result[name] = leaderboard.leaderboard(verdicts, bootstrap=bootstrap, seed=seed)
        human_board = result.get(HUMAN, [])
        result["rank_correlation"] = {
            judge: leaderboard.rank_correlation(human_board, result[judge]) for judge in judges
        }
        return result

    compute: dict[str, Callable[[], Any]] = {
        "human_agreement": lambda: agreement.human_agreement(
            humans, bootstrap=bootstrap, seed=seed
        ),
        "position_bias": lambda: {
            name: bias.position_bias(part) for name, part in by_group.items()
        },
        "verbosity_bias": lambda: {
            name: bias.verbosity_bias(part) for name, part in by_group.items()
        },
        "human_vs_llm": lambda: {
            judge: agreement.human_vs_judge(humans, by_group[judge]) for judge in judges
        },
        "leaderboard": boards,
        "distribution": lambda: {name: bias.distribution(part) for name, part in by_group.items()},
        "labelers": lambda: labelers.labeler_quality(humans),
    }
    report: dict[str, Any] = {}
    for done, section in enumerate(SECTIONS, start=1):
        report[section] = compute[section]()
        if on_section:
            on_section(done, len(SECTIONS))
    return report


def build_report(
    frame: pd.DataFrame,
    *,
    project: str,
    bootstrap: int = 1000,
    seed: int = 0,
    generated_at: str,
    counts: dict[str, int],
    on_section: OnSection | None = None,
) -> dict[str, Any]:
    """The report JSON: plain ints/floats/None only, each None with a "<key>_note" beside it.

    Deterministic for a given frame and seed. Raises ValueError for a malformed frame.
    """
    frame = coerce_frame(frame)
    criteria = sorted(str(criterion) for criterion in frame["criterion"].unique())

    def rows_of(criterion: str) -> pd.DataFrame:
        # A mask per criterion, not groupby: iterating a groupby first takes a sorted copy of
        # the whole frame, a second million rows held while every criterion is computed. A
        # frame of one criterion (as the report service passes) is used without any copy.
        if len(criteria) == 1:
            return frame.loc[:, METRIC_COLUMNS]
        return frame.loc[frame["criterion"] == criterion, METRIC_COLUMNS]

    return {
        "project": project,
        "generated_at": generated_at,
        "counts": {key: int(value) for key, value in counts.items()},
        "criteria": {
            criterion: _criterion_report(
                rows_of(criterion), bootstrap=bootstrap, seed=seed, on_section=on_section
            )
            for criterion in criteria
        },
    }
