"""Routing: pairs the judge contradicted itself on, or split on, go to humans first."""

from typing import Any

import pytest

from annotate.models import Pair, Project
from annotate.services.assignment import assignment_next
from annotate.tests.factories import make_pair
from judges.models import JudgeRun
from judges.services import ROUTE_INCONSISTENT, ROUTE_SPLIT, judge_run_route, judge_run_start
from judges.stub import OpenAIStub, StubConfig
from judges.tests.conftest import API_KEY, drain, judge_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_broker")]


@pytest.fixture
def stub_config() -> StubConfig:
    # Equal lengths are decided by position alone: the first shown always wins, so the judge
    # contradicts itself across orders on such a pair.
    return StubConfig(api_key=API_KEY, seed=3, position_bias=1.0)


def _pairs(project: Project) -> dict[str, Pair]:
    return {
        "strong": make_pair(project, texts=("Short.", "A much longer and far fuller answer.")),
        "weak": make_pair(project, texts=("Ten chars!", "Eleven char")),
        "inconsistent": make_pair(project, texts=("Same!", "Equal")),
    }


def _run(project: Project, stub: OpenAIStub, capture: Any, **kw: Any) -> JudgeRun:
    judge = judge_for(stub)
    judge.save()
    with capture(execute=True):
        run = judge_run_start(project=project, judge=judge, **kw)
    drain(run)
    run.refresh_from_db()
    return run


def test_a_finished_run_raises_the_priority_of_inconsistent_and_split_pairs(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(project)
    run = _run(project, stub, django_capture_on_commit_callbacks)
    assert run.status == "done"
    priorities = {name: Pair.objects.get(id=pair.id).priority for name, pair in pairs.items()}
    assert priorities == {"strong": 0, "weak": ROUTE_SPLIT, "inconsistent": ROUTE_INCONSISTENT}


def test_a_labelers_next_pair_is_the_one_the_judge_was_inconsistent_on(
    project: Project, alice: Any, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(project)
    _run(project, stub, django_capture_on_commit_callbacks)
    first = assignment_next(project=project, labeler=alice)
    assert first is not None and first.pair_id == pairs["inconsistent"].id


def test_a_run_with_routing_off_leaves_priorities_alone_until_routed_by_hand(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(project)
    run = _run(project, stub, django_capture_on_commit_callbacks, route_disagreements=False)
    assert run.status == "done"
    assert set(Pair.objects.values_list("priority", flat=True)) == {0}
    result = judge_run_route(run=run)
    assert (result.inconsistent, result.split) == (1, 1)
    assert Pair.objects.get(id=pairs["inconsistent"].id).priority == ROUTE_INCONSISTENT


def test_routing_never_lowers_a_priority_set_elsewhere(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(project)
    Pair.objects.filter(id=pairs["weak"].id).update(priority=50)
    _run(project, stub, django_capture_on_commit_callbacks)
    assert Pair.objects.get(id=pairs["weak"].id).priority == 50
