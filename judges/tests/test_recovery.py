"""Recovery without anyone: take-over of calls dead workers left running, their budget given
back, queued calls published again, the watchdog. The worker test kills a real worker; these
build the state it leaves behind and call the services a worker start and a watchdog tick call.
"""

import socket
import subprocess
import sys
from datetime import timedelta
from decimal import Decimal
from typing import Any

import pytest
from django.db.models import Sum
from django.utils import timezone

from annotate.models import Project, Rating
from annotate.tests.factories import make_pair
from concord import celery_app
from judges import services
from judges.client import chat
from judges.models import CallStatus, Judge, JudgeCall, JudgeRun, RunStatus
from judges.services import Worker
from judges.services.lifecycle import take_over
from judges.stub import OpenAIStub
from judges.tasks import judge_call_task
from judges.tests.conftest import drain, judge_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_broker")]

NODE = f"celery@{socket.gethostname()}"


@pytest.fixture
def judge(stub: OpenAIStub) -> Judge:
    judge = judge_for(stub, max_tokens=100)
    judge.save()
    return judge


@pytest.fixture
def dead_pid() -> int:
    """The pid of a process of this host that has exited."""
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def _start(project: Project, judge: Judge, capture: Any, **kw: Any) -> JudgeRun:
    for _ in range(2):
        make_pair(project, texts=("Short.", "A longer, fuller answer."))
    with capture(execute=True):
        return services.judge_run_start(project=project, judge=judge, **kw)


def _leave_running(run: JudgeRun, claim: str, *, started: Any = None, n: int = 2) -> list[int]:
    """What a worker killed mid-call leaves: calls running under its claim, holding budget."""
    ids = list(run.calls.order_by("id").values_list("id", flat=True)[:n])
    held = Decimal("0.01")
    JudgeCall.objects.filter(id__in=ids).update(
        status=CallStatus.RUNNING,
        claimed_by=claim,
        started_at=started or timezone.now(),
        reserved_usd=held,
    )
    JudgeRun.objects.filter(id=run.id).update(reserved_usd=held * len(ids))
    return ids


def _messages() -> dict[str, list[list[Any]]]:
    """The arguments of every message waiting in the memory broker, by task name."""
    found: dict[str, list[list[Any]]] = {}
    with celery_app.connection_for_read() as conn:
        queue = conn.SimpleQueue("celery")
        while True:
            try:
                message = queue.get(timeout=0.2)
            except queue.Empty:
                break
            message.ack()
            found.setdefault(message.headers["task"], []).append(message.payload[0])
        queue.close()
    return found


def _fanned_out(messages: dict[str, list[list[Any]]]) -> list[int]:
    return sorted(i for args in messages.get(FANOUT, []) for i in args[1])


FANOUT = "judges.tasks.judge_run_fanout_task"
WATCH = "judges.tasks.judge_run_watch_task"


def test_a_restarted_worker_takes_over_what_its_dead_predecessor_left_and_frees_its_budget(
    project: Project, judge: Judge, dead_pid: int, django_capture_on_commit_callbacks: Any
) -> None:
    run = _start(project, judge, django_capture_on_commit_callbacks, budget_usd=Decimal(5))
    ids = _leave_running(run, f"{NODE}|{dead_pid}|oldboot|t1")
    _messages()  # the start's messages went down with the worker
    with django_capture_on_commit_callbacks(execute=True):
        recovery = services.judge_runs_recover(worker=Worker.current(NODE))
    assert (recovery.runs, recovery.taken_over) == (1, 2)
    assert recovery.republished == run.calls.count()
    run.refresh_from_db()
    assert run.reserved_usd == 0
    assert set(JudgeCall.objects.filter(id__in=ids).values_list("status", "reserved_usd")) == {
        (CallStatus.QUEUED, Decimal(0))
    }
    messages = _messages()
    assert _fanned_out(messages) == sorted(run.calls.values_list("id", flat=True))
    assert messages[WATCH] == [[run.id, run.watch_generation]]
    assert set(drain(run)) == {services.OUTCOME_ANSWERED}
    run.refresh_from_db()
    assert run.status == RunStatus.DONE and run.reserved_usd == 0
    assert run.spent_usd == run.calls.aggregate(total=Sum("cost_usd"))["total"]


def test_a_worker_start_leaves_the_calls_of_live_workers_alone(
    project: Project, judge: Judge, django_capture_on_commit_callbacks: Any
) -> None:
    run = _start(project, judge, django_capture_on_commit_callbacks)
    this_process = Worker.current(NODE)
    # Another live process of this host (this one, under another boot id would be a dead one:
    # its own pid says so); a process of another host, which this host cannot judge.
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(30)"])
    try:
        _leave_running(run, f"{NODE}|{live.pid}|otherboot|t1", n=1)
        other_host = list(run.calls.order_by("id").values_list("id", flat=True))[1]
        JudgeCall.objects.filter(id=other_host).update(
            status=CallStatus.RUNNING,
            claimed_by="celery@elsewhere|1|boot|t2",
            started_at=timezone.now(),
        )
        recovery = services.judge_runs_recover(worker=this_process)
    finally:
        live.kill()
        live.wait()
    assert recovery.taken_over == 0
    assert run.calls.filter(status=CallStatus.RUNNING).count() == 2


def test_calls_past_their_lease_are_taken_over_whoever_held_them(
    project: Project, judge: Judge, django_capture_on_commit_callbacks: Any
) -> None:
    run = _start(project, judge, django_capture_on_commit_callbacks, budget_usd=Decimal(5))
    long_ago = timezone.now() - timedelta(hours=1)
    _leave_running(run, "celery@elsewhere|1|boot|t1", started=long_ago)
    recovery = services.judge_runs_recover(worker=Worker.current(NODE))
    assert recovery.taken_over == 2
    run.refresh_from_db()
    assert run.reserved_usd == 0 and not run.calls.filter(status=CallStatus.RUNNING).exists()


def test_a_message_superseded_by_a_later_publish_is_dropped_and_not_offered_again(
    project: Project, judge: Judge, django_capture_on_commit_callbacks: Any
) -> None:
    """Workers starting together each publish a run's queued calls again: only the last message
    of each call counts, so copies do not pile up (nor bounce for ever while the run is busy)."""
    run = _start(project, judge, django_capture_on_commit_callbacks)
    call_ids = sorted(run.calls.values_list("id", flat=True))
    assert services.judge_run_fanout(run_id=run.id, call_ids=call_ids) == len(call_ids)
    assert services.judge_run_fanout(run_id=run.id, call_ids=call_ids) == len(call_ids)
    published = _messages()["judges.tasks.judge_call_task"]
    first, second = published[: len(call_ids)], published[len(call_ids) :]
    assert [seq for _, seq in first] == [1] * len(call_ids)
    assert [seq for _, seq in second] == [2] * len(call_ids)
    call_id, old_seq = first[0]
    assert judge_call_task.run(call_id, old_seq) == services.OUTCOME_SUPERSEDED
    assert _messages() == {}  # dropped, not bounced
    assert JudgeCall.objects.get(id=call_id).status == CallStatus.QUEUED
    assert judge_call_task.run(call_id, 2) == services.OUTCOME_ANSWERED


def test_the_watchdog_takes_over_a_call_past_its_lease_and_ends_the_run(
    project: Project, judge: Judge, django_capture_on_commit_callbacks: Any
) -> None:
    run = _start(project, judge, django_capture_on_commit_callbacks)
    drain(run)
    last = run.calls.order_by("id").last()
    assert last is not None
    Rating.objects.filter(judge_calls=last).delete()
    JudgeCall.objects.filter(id=last.id).update(
        status=CallStatus.RUNNING,
        claimed_by="celery@elsewhere|1|boot|t1",
        started_at=timezone.now() - timedelta(hours=1),
    )
    JudgeRun.objects.filter(id=run.id).update(status=RunStatus.RUNNING, finished_at=None)
    generation = JudgeRun.objects.get(id=run.id).watch_generation
    assert services.judge_run_sweep(run_id=run.id, generation=generation) is True
    last.refresh_from_db()
    assert last.status == CallStatus.QUEUED
    drain(run)
    assert services.judge_run_sweep(run_id=run.id, generation=generation) is False
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert Rating.objects.filter(rater=judge.name).count() == run.calls.count()


def test_an_older_watchdog_stops_when_a_newer_one_is_armed(
    project: Project, judge: Judge, django_capture_on_commit_callbacks: Any
) -> None:
    run = _start(project, judge, django_capture_on_commit_callbacks)
    generation = JudgeRun.objects.get(id=run.id).watch_generation
    assert generation == 1  # armed by the start
    services.judge_runs_recover(worker=Worker.current(NODE))  # arms a new one
    assert services.judge_run_sweep(run_id=run.id, generation=generation) is False
    assert services.judge_run_sweep(run_id=run.id, generation=generation + 1) is True


def test_the_watchdog_publishes_a_stalled_runs_queued_calls_again(
    project: Project, judge: Judge, django_capture_on_commit_callbacks: Any
) -> None:
    run = _start(project, judge, django_capture_on_commit_callbacks)
    generation = JudgeRun.objects.get(id=run.id).watch_generation
    _messages()
    with django_capture_on_commit_callbacks(execute=True):
        services.judge_run_sweep(run_id=run.id, generation=generation)
    assert FANOUT not in _messages()  # just published: not stalled
    run.calls.update(enqueued_at=timezone.now() - timedelta(hours=1))
    with django_capture_on_commit_callbacks(execute=True):
        services.judge_run_sweep(run_id=run.id, generation=generation)
    assert _fanned_out(_messages()) == sorted(run.calls.values_list("id", flat=True))


def test_a_stalled_runs_second_publish_leaves_the_earlier_messages_valid(
    project: Project, judge: Judge, django_capture_on_commit_callbacks: Any
) -> None:
    """The watchdog cannot tell lost messages from ones waiting behind a long backlog: voiding
    them would let a backlog longer than the stall time push the run back for ever."""
    run = _start(project, judge, django_capture_on_commit_callbacks)
    call_ids = sorted(run.calls.values_list("id", flat=True))
    services.judge_run_fanout(run_id=run.id, call_ids=call_ids)
    waiting = _messages()["judges.tasks.judge_call_task"]
    run.calls.update(enqueued_at=timezone.now() - timedelta(hours=1))
    generation = JudgeRun.objects.get(id=run.id).watch_generation
    with django_capture_on_commit_callbacks(execute=True):
        services.judge_run_sweep(run_id=run.id, generation=generation)
    fanouts = _messages()[FANOUT]
    assert {args[2] for args in fanouts} == {False}
    for args in fanouts:
        services.judge_run_fanout(run_id=args[0], call_ids=args[1], supersede=args[2])
    again = _messages()["judges.tasks.judge_call_task"]
    assert sorted(again) == sorted(waiting)  # the same numbers: both copies count
    call_id, seq = waiting[0]
    assert judge_call_task.run(call_id, seq) == services.OUTCOME_ANSWERED
    assert judge_call_task.run(call_id, seq) == services.OUTCOME_NOT_QUEUED


def test_a_message_with_nothing_to_do_costs_one_query(
    project: Project,
    judge: Judge,
    django_capture_on_commit_callbacks: Any,
    django_assert_num_queries: Any,
) -> None:
    run = _start(project, judge, django_capture_on_commit_callbacks)
    call_ids = sorted(run.calls.values_list("id", flat=True))
    services.judge_run_fanout(run_id=run.id, call_ids=call_ids)
    services.judge_run_fanout(run_id=run.id, call_ids=call_ids)
    _messages()
    with django_assert_num_queries(1):
        assert judge_call_task.run(call_ids[0], 1) == services.OUTCOME_SUPERSEDED
    assert judge_call_task.run(call_ids[0], 2) == services.OUTCOME_ANSWERED
    with django_assert_num_queries(1):
        assert judge_call_task.run(call_ids[0], 2) == services.OUTCOME_NOT_QUEUED
    with django_assert_num_queries(1):
        assert judge_call_task.run(10**9, None) == services.OUTCOME_GONE


def test_a_cancelled_run_whose_worker_died_ends_with_its_calls_cancelled_and_is_routed(
    project: Project, judge: Judge, dead_pid: int, django_capture_on_commit_callbacks: Any
) -> None:
    run = _start(project, judge, django_capture_on_commit_callbacks, route_disagreements=True)
    ids = _leave_running(run, f"{NODE}|{dead_pid}|oldboot|t1")
    services.judge_run_cancel(run=run)
    run.refresh_from_db()
    assert run.routed_at is None  # calls still in flight
    services.judge_runs_recover(worker=Worker.current(NODE))
    run.refresh_from_db()
    assert run.routed_at is not None and run.reserved_usd == 0
    assert set(JudgeCall.objects.filter(id__in=ids).values_list("status", flat=True)) == {
        CallStatus.CANCELLED
    }


def test_an_answer_that_comes_back_after_a_take_over_is_kept_and_paid_once_in_the_ledger(
    project: Project,
    judge: Judge,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A worker thought dead still answers: the answer is kept if its call is still queued, and
    every paid request shows in the ledger, so spend and the calls' costs stay equal."""
    run = _start(project, judge, django_capture_on_commit_callbacks, orders="one")
    call = run.calls.order_by("id").first()
    assert call is not None

    def chat_then_lose_the_call(*args: Any, **kwargs: Any) -> Any:
        reply = chat(*args, **kwargs)
        take_over(run_id=run.id, is_dead=lambda *_: True)
        return reply

    monkeypatch.setattr("judges.services.calls.chat", chat_then_lose_the_call)
    assert services.judge_call_execute(call_id=call.id) == services.OUTCOME_ANSWERED
    call.refresh_from_db()
    assert call.status == CallStatus.DONE and call.rating is not None
    run.refresh_from_db()
    assert run.spent_usd == call.cost_usd > 0 and run.reserved_usd == 0
