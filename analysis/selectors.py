"""The ORM side of the report: ratings of a project as the long frame the metrics read."""

import pandas as pd
from django.db.models.functions import Length

from analysis.metrics.frame import COLUMNS, coerce_frame
from annotate.models import Project, RaterKind, Rating

# ORM path of each frame column that comes straight from a row.
_FIELDS = {
    "rating_id": "id",
    "pair_id": "pair_id",
    "prompt_id": "pair__prompt__external_id",
    "category": "pair__prompt__category",
    "model_a": "pair__model_a",
    "model_b": "pair__model_b",
    "criterion": "criterion__key",
    "rater": "rater",
    "rater_kind": "rater_kind",
    "shown_first": "shown_first",
    "value_shown": "value_shown",
    "preference": "preference",
    "scale_points": "criterion__scale_points",
    "verdict": "verdict",
    "len_a": "len_a",
    "len_b": "len_b",
    "with_suggestion": "with_suggestion",
    "time_spent_ms": "assignment__time_spent_ms",
}


def ratings_frame(
    *,
    project: Project,
    criteria: list[str] | None = None,
    categories: list[str] | None = None,
    include_suggested: bool = True,
) -> pd.DataFrame:
    """One row per rating of the project, canonical orientation, with completion lengths.

    A rater group is "human" for every human, and the rater's own name for an LLM judge.
    """
    ratings = Rating.objects.filter(pair__project=project).annotate(
        len_a=Length("pair__completion_a__text"), len_b=Length("pair__completion_b__text")
    )
    if criteria:
        ratings = ratings.filter(criterion__key__in=criteria)
    if categories:
        ratings = ratings.filter(pair__prompt__category__in=categories)
    if not include_suggested:
        ratings = ratings.filter(with_suggestion=False)
    rows = ratings.order_by("id").values_list(*_FIELDS.values())
    frame = pd.DataFrame.from_records(list(rows), columns=list(_FIELDS))
    frame["unit"] = frame["pair_id"].astype(str) + ":" + frame["criterion"].astype(str)
    frame["scale_k"] = frame["scale_points"] // 2
    frame["rater_group"] = frame["rater"].where(frame["rater_kind"] == RaterKind.LLM, "human")
    return coerce_frame(frame[list(COLUMNS)])
