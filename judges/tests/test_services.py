"""Judge runs end to end: real HTTP to the stub, the call task run in-process."""

import threading
from datetime import timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import pytest
from django.db import connection
from django.db.models import Sum
from django.utils import timezone

from annotate.models import Pair, Project, Rating
from annotate.tests.factories import make_pair
from concord import celery_app
from concord.api_errors import ApplicationError
from conftest import point_broker_at
from judges import services
from judges.client import chat
from judges.models import CallStatus, Judge, JudgeCall, JudgeRun, RunStatus
from judges.selectors import judge_run_progress
from judges.stub import OpenAIStub, StubConfig
from judges.tasks import judge_call_task
from judges.tests.conftest import API_KEY, API_KEY_ENV, drain

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_broker")]


def _judge(stub: OpenAIStub, **fields: Any) -> Judge:
    values: dict[str, Any] = {
        "name": "gpt-stub",
        "model": "stub-model",
        "base_url": stub.url,
        "api_key_env": API_KEY_ENV,
        "price_in": Decimal("2.5"),
        "price_out": Decimal("10"),
        "max_tokens": 100,
        "timeout_s": 5.0,
        **fields,
    }
    return services.judge_create(**values)


def _pairs(project: Project, n: int = 3) -> list[Pair]:
    # The beta answers are longer except in the last pair, where lengths are equal.
    texts = [
        ("Short.", "A longer, fuller answer."),
        ("Tiny.", "Much more detail here."),
        ("Same!", "Equal"),
    ]
    return [make_pair(project, texts=texts[i % 3]) for i in range(n)]


def _start(
    project: Project, judge: Judge, django_capture_on_commit_callbacks: Any, **kw: Any
) -> JudgeRun:
    with django_capture_on_commit_callbacks(execute=True):
        return services.judge_run_start(project=project, judge=judge, **kw)


def test_the_estimate_counts_pairs_times_criteria_times_orders(
    project: Project, stub: OpenAIStub
) -> None:
    _pairs(project, 3)
    judge = _judge(stub)
    both = services.judge_run_estimate(project=project, judge=judge)
    one = services.judge_run_estimate(
        project=project, judge=judge, orders="one", criteria=["truthfulness"]
    )
    assert (both.calls, one.calls) == (12, 3)
    assert both.output_tokens == 12 * 100
    # stub-model is unknown to tiktoken, so the count is the stated characters/4 approximation.
    assert both.approximate and "characters / 4" in both.note
    expected = Decimal(both.prompt_tokens) * Decimal("2.5") / 10**6 + Decimal(1200) * 10 / 10**6
    assert both.cost_usd == expected.quantize(Decimal("0.000001"), ROUND_HALF_UP)


def test_an_unknown_criterion_is_refused_by_name(project: Project, stub: OpenAIStub) -> None:
    with pytest.raises(ApplicationError, match="unknown criterion honesty"):
        services.judge_run_estimate(project=project, judge=_judge(stub), criteria=["honesty"])


def test_a_whole_run_writes_one_llm_rating_per_call_in_both_orders(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(project, 3)
    judge = _judge(stub)
    run = _start(project, judge, django_capture_on_commit_callbacks)
    assert set(drain(run)) == {services.OUTCOME_ANSWERED}
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    ratings = Rating.objects.filter(rater="gpt-stub", rater_kind="llm", source="judge")
    assert ratings.count() == 12
    assert {r.shown_first for r in ratings} == {"a", "b"}
    # The stub prefers the longer answer whatever the order: beta (B) in the first two pairs.
    for pair in pairs[:2]:
        assert set(ratings.filter(pair=pair).values_list("verdict", flat=True)) == {"b"}
    call = JudgeCall.objects.filter(pair=pairs[0], a_first=False).first()
    assert call is not None and call.rating is not None
    assert call.value_shown in {"1", "2", "3", "4"}  # B was shown first and won
    assert call.rating.preference > 0
    progress = judge_run_progress(run=run)
    assert (progress.done, progress.failed, progress.unparsed, progress.total) == (12, 0, 0, 12)
    assert progress.cost_usd == run.spent_usd > 0
    assert stub.stats()["total"] == 12


def test_the_call_task_claims_its_call_once(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(
        project, _judge(stub), django_capture_on_commit_callbacks, criteria=["helpfulness"]
    )
    call = run.calls.order_by("id").first()
    assert call is not None
    assert judge_call_task.run(call.id) == services.OUTCOME_ANSWERED
    assert judge_call_task.run(call.id) == services.OUTCOME_NOT_QUEUED
    assert judge_call_task.run(call.id + 999) == services.OUTCOME_GONE
    assert stub.stats()["total"] == 1


def _published(task_name: str) -> list[list[Any]]:
    """The arguments of every message for `task_name` waiting in the memory broker."""
    found = []
    with celery_app.connection_for_read() as conn:
        queue = conn.SimpleQueue("celery")
        while True:
            try:
                message = queue.get(timeout=0.2)
            except queue.Empty:
                break
            message.ack()
            if message.headers["task"] == task_name:
                found.append(message.payload[0])
        queue.close()
    return found


def test_start_publishes_chunks_that_fan_out_into_one_task_per_queued_call(
    project: Project,
    stub: OpenAIStub,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("judges.services.runs.ENQUEUE_CHUNK", 3)
    _pairs(project, 2)
    run = _start(project, _judge(stub), django_capture_on_commit_callbacks)
    call_ids = sorted(run.calls.values_list("id", flat=True))
    chunks = _published("judges.tasks.judge_run_fanout_task")
    assert [len(ids) for _, ids, _ in chunks] == [3, 3, 2]
    assert sorted(i for _, ids, _ in chunks for i in ids) == call_ids
    assert {supersede for _, _, supersede in chunks} == {True}
    JudgeCall.objects.filter(id=call_ids[0]).update(status=CallStatus.DONE)
    assert services.judge_run_fanout(run_id=run.id, call_ids=call_ids) == 7
    assert sorted(a[0] for a in _published("judges.tasks.judge_call_task")) == call_ids[1:]
    services.judge_run_cancel(run=run)
    assert services.judge_run_fanout(run_id=run.id, call_ids=call_ids) == 0


def test_a_second_run_of_the_same_work_makes_no_http_call(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 3)
    judge = _judge(stub)
    drain(_start(project, judge, django_capture_on_commit_callbacks))
    assert services.judge_run_estimate(project=project, judge=judge).cached_calls == 12
    second = _start(project, judge, django_capture_on_commit_callbacks)
    assert set(drain(second)) == {services.OUTCOME_CACHED}
    second.refresh_from_db()
    assert stub.stats()["total"] == 12
    assert second.status == RunStatus.DONE and second.spent_usd == 0
    assert all(call.cached and call.cost_usd == 0 for call in second.calls.all())
    assert Rating.objects.filter(rater="gpt-stub").count() == 12


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, garbage_rate=1.0)])
def test_garbage_answers_are_kept_raw_as_unparsed_without_a_rating(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(project, _judge(stub), django_capture_on_commit_callbacks)
    drain(run)
    assert set(run.calls.values_list("status", flat=True)) == {CallStatus.UNPARSED}
    assert all(call.raw_response and call.error for call in run.calls.all())
    assert not Rating.objects.exists()
    assert judge_run_progress(run=run).unparsed == 4


def test_the_budget_stops_the_run_before_it_could_be_exceeded(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 3)
    judge = _judge(stub)
    per_call_worst = services.judge_run_estimate(project=project, judge=judge).cost_usd / 12
    budget = (per_call_worst * Decimal("3.5")).quantize(Decimal("0.0001"))
    run = _start(project, judge, django_capture_on_commit_callbacks, budget_usd=budget)
    outcomes = drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.BUDGET_STOPPED
    assert run.spent_usd <= budget
    assert outcomes.count(services.OUTCOME_ANSWERED) >= 3
    assert services.OUTCOME_BUDGET in outcomes
    statuses = list(run.calls.values_list("status", flat=True))
    assert statuses.count(CallStatus.SKIPPED_BUDGET) == 12 - statuses.count(CallStatus.DONE)
    assert run.reserved_usd == 0


def test_cancel_stops_queued_calls_and_keeps_answered_ones(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 2)
    run = _start(project, _judge(stub), django_capture_on_commit_callbacks)
    first = run.calls.order_by("id").first()
    assert first is not None
    services.judge_call_execute(call_id=first.id)
    services.judge_run_cancel(run=run)
    assert drain(run) == []
    assert run.status == RunStatus.CANCELLED
    assert sorted(run.calls.values_list("status", flat=True)) == ["cancelled"] * 7 + ["done"]
    assert stub.stats()["total"] == 1
    with pytest.raises(ApplicationError, match="already cancelled"):
        services.judge_run_cancel(run=run)


# Two requests per 20 s: the third is told to come back in up to 20 s, short enough to wait for.
@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, rpm=2, window_s=20)])
def test_a_429_storm_is_retried_after_the_servers_retry_after(
    project: Project,
    stub: OpenAIStub,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    waits: list[float] = []
    # Record the waits instead of sleeping through them (client backoff and limiter alike).
    monkeypatch.setattr("judges.client.time.sleep", waits.append)
    _pairs(project, 2)
    run = _start(
        project, _judge(stub), django_capture_on_commit_callbacks, criteria=["helpfulness"]
    )
    calls = list(run.calls.order_by("id"))
    assert services.judge_call_execute(call_id=calls[0].id) == services.OUTCOME_ANSWERED
    assert services.judge_call_execute(call_id=calls[1].id) == services.OUTCOME_ANSWERED
    with pytest.raises(services.TransientCallError, match="HTTP 429") as caught:
        services.judge_call_execute(call_id=calls[2].id, max_tries=2)
    assert caught.value.retry_after is not None and caught.value.retry_after >= 19
    # Each retry waited out the Retry-After (19-20 s) before it went, backoff and limiter alike.
    assert len(waits) >= 3 and min(waits) >= 19
    calls[2].refresh_from_db()
    assert (calls[2].status, calls[2].attempts, calls[2].tries) == (CallStatus.QUEUED, 4, 1)
    assert calls[2].claimed_by == "" and calls[2].reserved_usd == 0
    run.refresh_from_db()
    assert run.status == RunStatus.RUNNING


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, rpm=1)])
def test_a_retry_after_too_long_to_sleep_through_goes_back_to_the_task_at_once(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(
        project, _judge(stub), django_capture_on_commit_callbacks, criteria=["helpfulness"]
    )
    first, second = list(run.calls.order_by("id"))
    assert services.judge_call_execute(call_id=first.id) == services.OUTCOME_ANSWERED
    with pytest.raises(services.TransientCallError, match="asked to retry after") as caught:
        services.judge_call_execute(call_id=second.id, max_tries=2)
    # The stub's window is a minute: the task is to retry in about that, not a thread to sleep.
    assert caught.value.retry_after is not None and caught.value.retry_after > 30
    second.refresh_from_db()
    assert (second.status, second.attempts, second.tries) == (CallStatus.QUEUED, 1, 1)


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, hang=True)])
def test_a_judge_that_never_answers_fails_the_call_after_timeouts(
    project: Project,
    stub: OpenAIStub,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr("judges.client.time.sleep", lambda _: None)
    _pairs(project, 1)
    run = _start(
        project,
        _judge(stub, timeout_s=0.2),
        django_capture_on_commit_callbacks,
        orders="one",
        criteria=["helpfulness"],
    )
    assert drain(run) == [services.OUTCOME_FAILED]
    call = run.calls.get()
    assert call.status == CallStatus.FAILED and "timed out after 0.2 s" in call.error
    run.refresh_from_db()
    assert run.status == RunStatus.DONE


def test_a_wrong_key_stops_the_run_at_its_first_call_and_resume_finishes_it_once_fixed(
    project: Project,
    stub: OpenAIStub,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv(API_KEY_ENV, "sk-wrong")
    _pairs(project, 1)
    run = _start(project, _judge(stub), django_capture_on_commit_callbacks)
    assert drain(run) == [services.OUTCOME_RUN_FAILED]
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert run.error == (
        f"authentication failed for judge gpt-stub: check the environment variable "
        f"{API_KEY_ENV}. Fix it, then resume the run."
    )
    assert stub.stats()["statuses"] == {"401": 1}
    # No call failed on its own: they wait, queued, for the fix.
    assert set(run.calls.values_list("status", flat=True)) == {CallStatus.QUEUED}
    assert run.reserved_usd == 0
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        assert services.judge_run_resume(run=run) == 4
    assert set(drain(run)) == {services.OUTCOME_ANSWERED}
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.DONE, "")


def test_a_missing_key_variable_stops_the_run_naming_the_variable(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(
        project, _judge(stub, api_key_env="NO_SUCH_KEY_VAR"), django_capture_on_commit_callbacks
    )
    drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.FAILED
    assert "set the environment variable NO_SUCH_KEY_VAR" in run.error
    assert stub.stats()["statuses"] == {}


@pytest.mark.parametrize("stub_config", [StubConfig()])
def test_a_judge_of_a_local_server_needs_no_key_variable(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(project, _judge(stub, api_key_env=""), django_capture_on_commit_callbacks)
    assert set(drain(run)) == {services.OUTCOME_ANSWERED}


def test_an_unreachable_broker_fails_the_run_loudly_and_resume_enqueues_it_later(
    project: Project,
    stub: OpenAIStub,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _pairs(project, 1)
    point_broker_at(monkeypatch, "redis://127.0.0.1:1/0")
    with pytest.raises(ApplicationError, match="the task broker is unreachable"):
        _start(project, _judge(stub), django_capture_on_commit_callbacks)
    run = JudgeRun.objects.get()
    assert run.status == RunStatus.FAILED and "unreachable" in run.error
    assert stub.stats()["total"] == 0
    point_broker_at(monkeypatch, "memory://")
    with django_capture_on_commit_callbacks(execute=True):
        assert services.judge_run_resume(run=run) == 4
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.RUNNING, "")


def test_a_run_never_has_more_calls_in_flight_than_its_judge_allows(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(project, _judge(stub, concurrency=1), django_capture_on_commit_callbacks)
    first, second = list(run.calls.order_by("id"))[:2]
    JudgeCall.objects.filter(id=first.id).update(
        status=CallStatus.RUNNING, started_at=timezone.now()
    )
    assert services.judge_call_execute(call_id=second.id) == services.OUTCOME_BUSY
    second.refresh_from_db()
    assert second.status == CallStatus.QUEUED


def test_a_call_left_running_by_a_dead_worker_does_not_hold_a_concurrency_slot(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(project, _judge(stub, concurrency=1), django_capture_on_commit_callbacks)
    first, second = list(run.calls.order_by("id"))[:2]
    JudgeCall.objects.filter(id=first.id).update(
        status=CallStatus.RUNNING, started_at=timezone.now() - timedelta(hours=1)
    )
    assert services.judge_call_execute(call_id=second.id) == services.OUTCOME_ANSWERED


@pytest.mark.django_db(transaction=True)
def test_workers_racing_for_one_call_pay_for_it_once(project: Project, stub: OpenAIStub) -> None:
    if connection.vendor != "postgresql":
        pytest.skip("threads sharing one SQLite test database is not a concurrency test")
    _pairs(project, 1)
    judge = _judge(stub, concurrency=8)
    run = services.judge_run_start(
        project=project, judge=judge, orders="one", criteria=["helpfulness"]
    )
    call = run.calls.get()
    outcomes: list[str] = []

    def worker() -> None:
        try:
            outcomes.append(services.judge_call_execute(call_id=call.id))
        finally:
            connection.close()

    threads = [threading.Thread(target=worker) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert outcomes.count(services.OUTCOME_ANSWERED) == 1
    assert stub.stats()["total"] == 1
    assert Rating.objects.filter(rater="gpt-stub").count() == 1


def test_resume_requeues_calls_left_running_by_a_dead_worker(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(project, _judge(stub), django_capture_on_commit_callbacks)
    JudgeCall.objects.filter(run=run).update(
        status=CallStatus.RUNNING, started_at="2020-01-01T00:00:00Z"
    )
    with django_capture_on_commit_callbacks(execute=True):
        assert services.judge_run_resume(run=run, stale_after_s=60) == 4
    drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert Rating.objects.count() == 4


def test_judge_create_refuses_a_custom_template_with_a_missing_placeholder(
    stub: OpenAIStub,
) -> None:
    with pytest.raises(ApplicationError, match=r"missing placeholder\(s\) \{criterion\}"):
        _judge(stub, template_text="{question} {answer_1} {answer_2}")


def test_judge_create_refuses_a_duplicate_name(stub: OpenAIStub) -> None:
    _judge(stub)
    with pytest.raises(ApplicationError, match="already exists"):
        _judge(stub)


# The stub counts one token per character, four times what characters / 4 expects (as for code
# or non-Latin text on a tokenizer tiktoken does not know).
@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, chars_per_token=1.0)])
def test_a_budget_is_never_overrun_when_the_token_estimate_is_far_too_low(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 6)
    judge = _judge(stub, max_tokens=20)
    estimate = services.judge_run_estimate(project=project, judge=judge)
    assert estimate.approximate
    # Enough for about half the calls at the estimate: the real cost is about four times that.
    budget = (estimate.cost_usd / 2).quantize(Decimal("0.0001"))
    run = _start(project, judge, django_capture_on_commit_callbacks, budget_usd=budget)
    outcomes = drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.BUDGET_STOPPED and services.OUTCOME_BUDGET in outcomes
    assert outcomes.count(services.OUTCOME_ANSWERED) >= 2
    ledger = run.calls.aggregate(total=Sum("cost_usd"))["total"]
    assert run.spent_usd == ledger <= budget
    # Each answered call cost well over its characters / 4 estimate, yet stayed within its bound.
    for call in run.calls.filter(status=CallStatus.DONE):
        assert call.prompt_tokens > 3 * call.prompt_tokens_estimate
        assert call.prompt_tokens <= call.prompt_tokens_bound
    assert run.reserved_usd == 0 and not run.calls.exclude(reserved_usd=0).exists()


def test_a_call_in_flight_holds_its_reservation_until_it_ends(
    project: Project,
    stub: OpenAIStub,
    django_capture_on_commit_callbacks: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    _pairs(project, 1)
    run = _start(project, _judge(stub), django_capture_on_commit_callbacks, budget_usd=Decimal(1))
    call = run.calls.order_by("id").first()
    assert call is not None
    held: list[tuple[Decimal, Decimal]] = []

    def chat_and_look(*args: Any, **kwargs: Any) -> Any:
        held.append(
            (
                JudgeCall.objects.get(id=call.id).reserved_usd,
                JudgeRun.objects.get(id=run.id).reserved_usd,
            )
        )
        return chat(*args, **kwargs)

    monkeypatch.setattr("judges.services.calls.chat", chat_and_look)
    services.judge_call_execute(call_id=call.id)
    ((on_call, on_run),) = held
    assert on_call == on_run > 0
    call.refresh_from_db()
    run.refresh_from_db()
    assert (call.reserved_usd, run.reserved_usd) == (0, 0)


def test_the_cache_key_names_the_endpoint_so_a_judge_elsewhere_is_never_served_its_answers(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    first = _start(project, _judge(stub), django_capture_on_commit_callbacks)
    drain(first)
    with OpenAIStub(StubConfig(api_key=API_KEY, seed=7)) as elsewhere:
        # Same model, template and prompts, another endpoint: a real judge behind a stub's name.
        other = _judge(elsewhere, name="gpt-real")
        estimate = services.judge_run_estimate(project=project, judge=other)
        assert estimate.cached_calls == 0
        second = _start(project, other, django_capture_on_commit_callbacks)
        assert set(drain(second)) == {services.OUTCOME_ANSWERED}
        assert elsewhere.stats()["total"] == 4
    # The same endpoint written with a trailing slash and capitals is the same endpoint.
    same = _judge(stub, name="gpt-stub-again", base_url=stub.url.upper().replace("/V1", "/v1/"))
    assert services.judge_run_estimate(project=project, judge=same).cached_calls == 4


def test_criteria_judged_together_ask_once_per_pair_and_order_and_rate_each_criterion(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    pairs = _pairs(project, 3)
    judge = _judge(stub, template="json-score-1-9")
    estimate = services.judge_run_estimate(project=project, judge=judge, criteria_mode="together")
    assert estimate.calls == 6  # 3 pairs x 2 orders, both criteria in each request
    run = _start(project, judge, django_capture_on_commit_callbacks, criteria_mode="together")
    assert run.calls.count() == 12
    outcomes = drain(run)
    assert outcomes.count(services.OUTCOME_ANSWERED) == 6
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    assert stub.stats()["total"] == 6
    assert set(run.calls.values_list("status", flat=True)) == {CallStatus.DONE}
    ratings = Rating.objects.filter(rater="gpt-stub")
    assert ratings.count() == 12
    assert set(ratings.values_list("criterion__key", flat=True)) == {"helpfulness", "truthfulness"}
    # The longer answer (B) wins on both criteria, in both orders.
    for pair in pairs[:2]:
        assert set(ratings.filter(pair=pair).values_list("verdict", flat=True)) == {"b"}
    # One request, one cost: booked on the request's first call, none on its second.
    for pair in pairs:
        for a_first in (True, False):
            lead, other = run.calls.filter(pair=pair, a_first=a_first).order_by("id")
            assert (
                lead.request_hash == other.request_hash and lead.raw_response == other.raw_response
            )
            assert lead.cost_usd > 0 and other.cost_usd == 0 and other.prompt_tokens == 0
    assert run.spent_usd == run.calls.aggregate(total=Sum("cost_usd"))["total"]
    again = _start(project, judge, django_capture_on_commit_callbacks, criteria_mode="together")
    assert set(drain(again)) <= {services.OUTCOME_CACHED, services.OUTCOME_NOT_QUEUED}
    assert stub.stats()["total"] == 6
    assert set(again.calls.values_list("status", flat=True)) == {CallStatus.DONE}


@pytest.mark.parametrize("stub_config", [StubConfig(api_key=API_KEY, garbage_rate=1.0)])
def test_a_joint_answer_that_cannot_be_read_is_kept_raw_as_unparsed_for_each_criterion(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    _pairs(project, 1)
    run = _start(
        project, _judge(stub), django_capture_on_commit_callbacks, criteria_mode="together"
    )
    drain(run)
    assert set(run.calls.values_list("status", flat=True)) == {CallStatus.UNPARSED}
    errors = set(run.calls.values_list("criterion__key", "error"))
    assert errors == {
        ("helpfulness", "no score line for helpfulness in the reply"),
        ("truthfulness", "no score line for truthfulness in the reply"),
    }
    assert not Rating.objects.exists()
