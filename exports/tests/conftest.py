"""Small rated projects for export tests."""

import datetime as dt
from typing import Any

import pytest

from annotate.models import Criterion, Pair, Project, RaterKind, Rating
from annotate.tests.factories import make_pair

CREATED = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)

_PREFERENCE = {"a": -1, "tie": 0, "b": 1}


def rate(
    pair: Pair,
    criterion: Criterion,
    rater: str,
    verdict: str,
    *,
    kind: str = RaterKind.HUMAN,
    **fields: Any,
) -> Rating:
    """A rating created at CREATED; preference defaults to the weakest one of the verdict."""
    fields.setdefault("preference", _PREFERENCE[verdict])
    rating = Rating.objects.create(
        pair=pair, criterion=criterion, rater=rater, rater_kind=kind, verdict=verdict, **fields
    )
    Rating.objects.filter(pk=rating.pk).update(created_at=CREATED, updated_at=CREATED)
    return rating


@pytest.fixture
def helpfulness(project: Project) -> Criterion:
    return project.criteria.get(key="helpfulness")


@pytest.fixture
def truthfulness(project: Project) -> Criterion:
    return project.criteria.get(key="truthfulness")


@pytest.fixture
def rated(project: Project, helpfulness: Criterion, truthfulness: Criterion) -> dict[str, Any]:
    """One pair (alpha-7b vs beta-13b) rated by a human and by a judge in one order.

    B's text and the human's rationale start like spreadsheet formulas.
    """
    pair = make_pair(
        project,
        external_id="q1",
        category="math",
        models_=("beta-13b", "alpha-7b"),
        texts=("=SUM(A1:A9)", "Four."),
    )
    human = rate(
        pair,
        helpfulness,
        "alice",
        "a",
        shown_first="b",
        value_shown="7",
        preference=-3,
        rationale="-clearly better",
    )
    judge = rate(
        pair,
        truthfulness,
        "gpt-judge",
        "tie",
        kind=RaterKind.LLM,
        shown_first="a",
        value_shown="tie",
    )
    return {"pair": pair, "human": human, "judge": judge}
