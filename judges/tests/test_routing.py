"""Routing: pairs the judge contradicted itself on, or split on, go to humans first."""

from decimal import Decimal
from typing import Any

import pytest
from django.db.models import F

from annotate.models import Pair, Project
from annotate.services.assignment import assignment_next
from annotate.tests.factories import make_pair
from judges.models import JudgeRun, RunStatus
from judges.services import (
    OUTCOME_ANSWERED,
    OUTCOME_BUDGET,
    ROUTE_INCONSISTENT,
    ROUTE_SPLIT,
    judge_call_execute,
    judge_run_cancel,
    judge_run_route,
    judge_run_start,
)
from judges.stub import OpenAIStub, StubConfig
from judges.tests.conftest import API_KEY, drain, judge_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_broker")]


@pytest.fixture
def stub_config() -> StubConfig:
    # Equal lengths are decided by position alone: the first shown always wins, so the judge
    # contradicts itself across orders on such a pair.
    return StubConfig(api_key=API_KEY, seed=3, position_bias=1.0)


@pytest.fixture
def routed_project(project: Project) -> Project:
    project.route_by_judge = True
    project.save(update_fields=["route_by_judge"])
    return project


def _pairs(project: Project) -> dict[str, Pair]:
    return {
        "strong": make_pair(project, texts=("Short.", "A much longer and far fuller answer.")),
        "weak": make_pair(project, texts=("Ten chars!", "Eleven char")),
        "inconsistent": make_pair(project, texts=("Same!", "Equal")),
    }


def _start(project: Project, stub: OpenAIStub, capture: Any, **kw: Any) -> JudgeRun:
    judge = judge_for(stub)
    judge.save()
    with capture(execute=True):
        return judge_run_start(project=project, judge=judge, **kw)


def _run(project: Project, stub: OpenAIStub, capture: Any, **kw: Any) -> JudgeRun:
    run = _start(project, stub, capture, **kw)
    drain(run)
    run.refresh_from_db()
    return run


def test_a_finished_run_raises_the_priority_of_inconsistent_and_split_pairs(
    routed_project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(routed_project)
    run = _run(routed_project, stub, django_capture_on_commit_callbacks)
    assert run.route_disagreements and run.routed_at is not None
    assert run.status == "done"
    priorities = {name: Pair.objects.get(id=pair.id).priority for name, pair in pairs.items()}
    assert priorities == {"strong": 0, "weak": ROUTE_SPLIT, "inconsistent": ROUTE_INCONSISTENT}


def test_a_labelers_next_pair_is_the_one_the_judge_was_inconsistent_on(
    routed_project: Project, alice: Any, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(routed_project)
    _run(routed_project, stub, django_capture_on_commit_callbacks)
    first = assignment_next(project=routed_project, labeler=alice)
    assert first is not None and first.pair_id == pairs["inconsistent"].id


def test_a_run_with_routing_off_leaves_priorities_alone_until_routed_by_hand(
    routed_project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(routed_project)
    # The run's own choice wins over the project's option.
    run = _run(routed_project, stub, django_capture_on_commit_callbacks, route_disagreements=False)
    assert run.status == "done"
    assert set(Pair.objects.values_list("priority", flat=True)) == {0}
    result = judge_run_route(run=run)
    assert (result.inconsistent, result.split) == (1, 1)
    assert Pair.objects.get(id=pairs["inconsistent"].id).priority == ROUTE_INCONSISTENT


def test_routing_never_lowers_a_priority_set_elsewhere(
    routed_project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(routed_project)
    Pair.objects.filter(id=pairs["weak"].id).update(priority=50)
    _run(routed_project, stub, django_capture_on_commit_callbacks)
    assert Pair.objects.get(id=pairs["weak"].id).priority == 50


def test_a_project_routes_nothing_unless_its_option_says_so(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project)
    run = _run(project, stub, django_capture_on_commit_callbacks)
    assert run.status == "done" and not run.route_disagreements and run.routed_at is None
    assert set(Pair.objects.values_list("priority", flat=True)) == {0}


def _answer(run: JudgeRun, pair: Pair, *, a_first: bool | None = None) -> None:
    calls = run.calls.filter(pair=pair)
    if a_first is not None:
        calls = calls.filter(a_first=a_first)
    for call_id in calls.values_list("id", flat=True):
        assert judge_call_execute(call_id=call_id) == OUTCOME_ANSWERED


def test_a_cancelled_run_routes_the_units_it_answered_in_both_orders(
    routed_project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(routed_project)
    run = _start(routed_project, stub, django_capture_on_commit_callbacks, criteria=["helpfulness"])
    _answer(run, pairs["inconsistent"])
    _answer(run, pairs["weak"], a_first=True)  # one order only: no verdict on the unit yet
    run = judge_run_cancel(run=run)
    assert run.routed_at is not None
    priorities = {name: Pair.objects.get(id=pair.id).priority for name, pair in pairs.items()}
    assert priorities == {"strong": 0, "weak": 0, "inconsistent": ROUTE_INCONSISTENT}


def test_a_run_stopped_by_its_budget_routes_the_units_it_answered(
    routed_project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(routed_project)
    run = _start(
        routed_project,
        stub,
        django_capture_on_commit_callbacks,
        criteria=["helpfulness"],
        budget_usd=Decimal(1),
    )
    _answer(run, pairs["inconsistent"])
    _answer(run, pairs["weak"])
    # The budget runs out: the next call cannot reserve its worst case.
    JudgeRun.objects.filter(id=run.id).update(budget_usd=F("spent_usd"))
    strong = run.calls.filter(pair=pairs["strong"]).order_by("id").first()
    assert strong is not None
    assert judge_call_execute(call_id=strong.id) == OUTCOME_BUDGET
    run.refresh_from_db()
    assert run.status == RunStatus.BUDGET_STOPPED and run.routed_at is not None
    priorities = {name: Pair.objects.get(id=pair.id).priority for name, pair in pairs.items()}
    assert priorities == {"strong": 0, "weak": ROUTE_SPLIT, "inconsistent": ROUTE_INCONSISTENT}
