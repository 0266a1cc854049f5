"""Writes for judges: configurations, runs, and the execution of one call.

A run never does its work inside the request: judge_run_start creates the calls and enqueues one
Celery task per call after commit. Each task claims its call with a conditional UPDATE (queued ->
running), so a message delivered twice does the work once.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import kombu.exceptions
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from annotate.models import Criterion, Pair, Project, RaterKind, Rating
from annotate.scale import Scale, canonical_preference, verdict_of
from concord.api_errors import ApplicationError
from judges.client import JudgeCallError, call_cost, chat
from judges.limiter import limiter_wait
from judges.models import (
    ANSWERED,
    CUSTOM_TEMPLATE,
    CallStatus,
    Judge,
    JudgeCall,
    JudgeRun,
    Orders,
    RunStatus,
)
from judges.parsing import DONE, Parsed, parse_reply
from judges.templates import BUILTIN, Contract, validate_custom
from judges.work import WorkItem, messages_for, work_items

logger = logging.getLogger(__name__)

ENQUEUE_CHUNK = 500
HASH_LOOKUP_CHUNK = 5000
BUSY_RETRY_S = 1.0
# Pair priorities set by routing: inconsistent across orders first, then weakly split pairs.
ROUTE_INCONSISTENT = 10
ROUTE_SPLIT = 5


class TransientCallError(Exception):
    """The call got no answer but may get one later; the task retries it."""


# Outcomes of judge_call_execute, for the task and for tests.
OUTCOME_GONE = "gone"
OUTCOME_NOT_QUEUED = "not_queued"
OUTCOME_RUN_STOPPED = "run_stopped"
OUTCOME_BUSY = "busy"
OUTCOME_BUDGET = "budget_stopped"
OUTCOME_FAILED = "failed"
OUTCOME_CACHED = "cached"
OUTCOME_ANSWERED = "answered"


JUDGE_FIELDS = (
    "name",
    "model",
    "base_url",
    "api_key_env",
    "template",
    "template_text",
    "contract",
    "temperature",
    "max_tokens",
    "price_in",
    "price_out",
    "rpm",
    "tpm",
    "concurrency",
    "timeout_s",
)


def _judge_fields_check(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a judge's settings; a custom template text makes the template custom."""
    if fields["template_text"]:
        fields["template"] = CUSTOM_TEMPLATE
        try:
            validate_custom(fields["template_text"])
        except ValueError as error:
            raise ApplicationError(f"custom template: {error}") from None
    elif fields["template"] == CUSTOM_TEMPLATE:
        raise ApplicationError("a custom template needs its text (template_text)")
    elif fields["template"] not in BUILTIN:
        raise ApplicationError(
            f"unknown template {fields['template']!r}; choose one of {', '.join(BUILTIN)}"
        )
    if fields["contract"] not in set(Contract):
        raise ApplicationError(f"unknown output contract {fields['contract']!r}")
    if not 0 <= fields["temperature"] <= 2:
        raise ApplicationError(f"temperature must be between 0 and 2, got {fields['temperature']}")
    for field in ("max_tokens", "concurrency"):
        if fields[field] < 1:
            raise ApplicationError(f"{field} must be at least 1, got {fields[field]}")
    for field in ("rpm", "tpm", "price_in", "price_out"):
        if fields[field] < 0:
            raise ApplicationError(f"{field} must not be negative, got {fields[field]}")
    if fields["timeout_s"] <= 0:
        raise ApplicationError(f"timeout_s must be positive, got {fields['timeout_s']}")
    return fields


def judge_create(
    *,
    name: str,
    model: str,
    base_url: str = "https://api.openai.com/v1",
    api_key_env: str = "OPENAI_API_KEY",
    template: str = "h4-score-1-8",
    template_text: str = "",
    contract: str = Contract.SCORE_1_8,
    temperature: float = 0.0,
    max_tokens: int = 512,
    price_in: Decimal = Decimal(0),
    price_out: Decimal = Decimal(0),
    rpm: int = 0,
    tpm: int = 0,
    concurrency: int = 4,
    timeout_s: float = 60.0,
) -> Judge:
    if Judge.objects.filter(name=name).exists():
        raise ApplicationError(f"a judge named {name!r} already exists")
    fields = _judge_fields_check(
        {
            "name": name,
            "model": model,
            "base_url": base_url,
            "api_key_env": api_key_env,
            "template": template,
            "template_text": template_text,
            "contract": contract,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "price_in": price_in,
            "price_out": price_out,
            "rpm": rpm,
            "tpm": tpm,
            "concurrency": concurrency,
            "timeout_s": timeout_s,
        }
    )
    return Judge.objects.create(**fields)


def judge_update(*, judge: Judge, **changes: Any) -> Judge:
    """Change a judge's settings (any of JUDGE_FIELDS), validated as judge_create does.

    A judge that has runs keeps its name: its verdict ratings carry the name as the rater.
    Answers already paid for stay cached only for requests that did not change.
    """
    unknown = set(changes) - set(JUDGE_FIELDS)
    if unknown:
        raise ApplicationError(f"unknown judge field {', '.join(sorted(unknown))}")
    fields = {field: getattr(judge, field) for field in JUDGE_FIELDS} | changes
    if fields["template"] != CUSTOM_TEMPLATE and "template" in changes:
        fields["template_text"] = ""
    if fields["name"] != judge.name:
        if JudgeRun.objects.filter(judge=judge).exists():
            raise ApplicationError(
                f"judge {judge.name!r} has runs and keeps its name (its ratings carry it)"
            )
        if Judge.objects.filter(name=fields["name"]).exclude(id=judge.pk).exists():
            raise ApplicationError(f"a judge named {fields['name']!r} already exists")
    _judge_fields_check(fields)
    for field, value in fields.items():
        setattr(judge, field, value)
    judge.save()
    return judge


@dataclass(frozen=True)
class Estimate:
    calls: int
    cached_calls: int
    prompt_tokens: int
    output_tokens: int
    cost_usd: Decimal
    approximate: bool

    @property
    def note(self) -> str:
        if self.approximate:
            return "token counts approximated as characters / 4 (tokenizer unknown for this model)"
        return "token counts from tiktoken; output assumed at max_tokens per call"


def _criteria(project: Project, keys: list[str] | None) -> list[Criterion]:
    criteria = list(project.criteria.all())
    if not keys:
        return criteria
    by_key = {c.key: c for c in criteria}
    unknown = [key for key in keys if key not in by_key]
    if unknown:
        raise ApplicationError(
            f"unknown criterion {', '.join(unknown)} in project {project.slug}; "
            f"known: {', '.join(by_key)}"
        )
    return [by_key[key] for key in keys]


def _plan(
    *, project: Project, judge: Judge, criteria: list[str] | None, orders: str, limit: int | None
) -> tuple[list[Criterion], list[WorkItem], Estimate]:
    if orders not in Orders.values:
        raise ApplicationError(f"orders must be both or one, got {orders!r}")
    if limit is not None and limit < 1:
        raise ApplicationError(f"limit must be at least 1, got {limit}")
    chosen = _criteria(project, criteria)
    pairs = (
        Pair.objects.filter(project=project)
        .select_related("prompt", "completion_a", "completion_b")
        .order_by("id")
    )
    items, approximate = work_items(
        judge, pairs[:limit] if limit else pairs, chosen, both_orders=orders == Orders.BOTH
    )
    hashes = [item.request_hash for item in items]
    answered: set[str] = set()
    # In chunks: SQLite caps the number of query parameters.
    for start in range(0, len(hashes), HASH_LOOKUP_CHUNK):
        answered.update(
            JudgeCall.objects.filter(
                request_hash__in=hashes[start : start + HASH_LOOKUP_CHUNK], status__in=ANSWERED
            ).values_list("request_hash", flat=True)
        )
    to_pay = [item for item in items if item.request_hash not in answered]
    prompt_tokens = sum(item.prompt_tokens for item in to_pay)
    output_tokens = judge.max_tokens * len(to_pay)
    estimate = Estimate(
        calls=len(items),
        cached_calls=len(items) - len(to_pay),
        prompt_tokens=prompt_tokens,
        output_tokens=output_tokens,
        cost_usd=call_cost(judge, prompt_tokens=prompt_tokens, completion_tokens=output_tokens),
        approximate=approximate,
    )
    return chosen, items, estimate


def judge_run_estimate(
    *,
    project: Project,
    judge: Judge,
    criteria: list[str] | None = None,
    orders: str = Orders.BOTH,
    limit: int | None = None,
) -> Estimate:
    """Calls = pairs x criteria x orders; cost of those not already answered, at max_tokens out."""
    return _plan(project=project, judge=judge, criteria=criteria, orders=orders, limit=limit)[2]


def judge_run_start(
    *,
    project: Project,
    judge: Judge,
    created_by: Any = None,
    criteria: list[str] | None = None,
    orders: str = Orders.BOTH,
    limit: int | None = None,
    budget_usd: Decimal | None = None,
    route_disagreements: bool = True,
) -> JudgeRun:
    """Create the run and its calls, and enqueue one task per call once they are committed.

    If the broker cannot be reached the run is marked failed and ApplicationError is raised:
    the work is never done inside the request instead.
    """
    if budget_usd is not None and budget_usd < 0:
        raise ApplicationError(f"budget_usd must not be negative, got {budget_usd}")
    chosen, items, estimate = _plan(
        project=project, judge=judge, criteria=criteria, orders=orders, limit=limit
    )
    if not items:
        raise ApplicationError(f"project {project.slug} has no pairs to judge")
    now = timezone.now()
    with transaction.atomic():
        run = JudgeRun.objects.create(
            project=project,
            judge=judge,
            orders=orders,
            status=RunStatus.RUNNING,
            budget_usd=budget_usd,
            route_disagreements=route_disagreements,
            estimated_cost_usd=estimate.cost_usd,
            estimate_is_approximate=estimate.approximate,
            created_by=created_by,
            started_at=now,
        )
        run.criteria.set(chosen)
        JudgeCall.objects.bulk_create(
            [
                JudgeCall(
                    run=run,
                    pair=item.pair,
                    criterion=item.criterion,
                    a_first=item.a_first,
                    request_hash=item.request_hash,
                    prompt_tokens_estimate=item.prompt_tokens,
                    enqueued_at=now,
                )
                for item in items
            ],
            batch_size=1000,
        )
        call_ids = list(run.calls.order_by("id").values_list("id", flat=True))
        transaction.on_commit(partial(_enqueue, run_id=run.id, call_ids=call_ids))
    return run


def _enqueue(*, run_id: int, call_ids: list[int]) -> None:
    """Publish one fan-out message per chunk of calls; a worker turns each into call tasks.

    A request thus publishes a few messages however large the run, and still finds out at once
    when the broker is unreachable.
    """
    from judges.tasks import judge_run_fanout_task

    try:
        with judge_run_fanout_task.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            with connection.Producer() as producer:
                for start in range(0, len(call_ids), ENQUEUE_CHUNK):
                    chunk = call_ids[start : start + ENQUEUE_CHUNK]
                    judge_run_fanout_task.apply_async(
                        (run_id, chunk), producer=producer, retry=False
                    )
    except (kombu.exceptions.KombuError, OSError) as error:
        message = f"the task broker is unreachable: {error}"
        JudgeRun.objects.filter(id=run_id).update(
            status=RunStatus.FAILED, error=message, finished_at=timezone.now()
        )
        raise ApplicationError(message) from None


def judge_run_fanout(*, run_id: int, call_ids: list[int]) -> int:
    """Enqueue the call tasks of one chunk (those still queued); return how many."""
    from judges.tasks import judge_call_task

    if not JudgeRun.objects.filter(id=run_id, status=RunStatus.RUNNING).exists():
        return 0
    queued = list(
        JudgeCall.objects.filter(id__in=call_ids, status=CallStatus.QUEUED)
        .order_by("id")
        .values_list("id", flat=True)
    )
    with judge_call_task.app.producer_or_acquire() as producer:
        for call_id in queued:
            judge_call_task.apply_async((call_id,), producer=producer)
    return len(queued)


def judge_run_cancel(*, run: JudgeRun) -> JudgeRun:
    """Stop a run: queued calls are cancelled; calls already in flight finish and are kept."""
    with transaction.atomic():
        changed = JudgeRun.objects.filter(
            id=run.id, status__in=[RunStatus.QUEUED, RunStatus.RUNNING]
        ).update(status=RunStatus.CANCELLED, finished_at=timezone.now())
        if not changed:
            run.refresh_from_db()
            raise ApplicationError(f"run {run.id} is already {run.status}")
        run.calls.filter(status=CallStatus.QUEUED).update(status=CallStatus.CANCELLED)
    run.refresh_from_db()
    return run


def judge_run_resume(*, run: JudgeRun, stale_after_s: float = 600.0) -> int:
    """Re-enqueue calls stuck queued or running for longer than `stale_after_s` (after a crash).

    A call that was running when its worker died goes back to queued; enqueuing a call twice is
    harmless because a task only works on a call it claims. Returns how many calls were enqueued.
    """
    if run.status not in (RunStatus.RUNNING, RunStatus.FAILED):
        raise ApplicationError(f"run {run.id} is {run.status}; only running or failed runs resume")
    now = timezone.now()
    # A run failed by an unreachable broker never got its messages: re-enqueue all its calls.
    stale = now if run.status == RunStatus.FAILED else now - timedelta(seconds=stale_after_s)
    with transaction.atomic():
        JudgeRun.objects.filter(id=run.id).update(
            status=RunStatus.RUNNING, error="", finished_at=None
        )
        stuck = run.calls.filter(
            Q(status=CallStatus.RUNNING, started_at__lt=stale)
            | Q(status=CallStatus.QUEUED, enqueued_at__lte=stale)
        )
        call_ids = list(stuck.order_by("id").values_list("id", flat=True))
        stuck.update(status=CallStatus.QUEUED, enqueued_at=now)
        if call_ids:
            transaction.on_commit(partial(_enqueue, run_id=run.id, call_ids=call_ids))
    run.refresh_from_db()
    _run_finish_if_complete(run.id)
    return len(call_ids)


def _run_finish_if_complete(run_id: int) -> None:
    if JudgeCall.objects.filter(
        run_id=run_id, status__in=[CallStatus.QUEUED, CallStatus.RUNNING]
    ).exists():
        return
    # Only the worker whose UPDATE ends the run routes it, so routing happens once.
    finished = JudgeRun.objects.filter(id=run_id, status=RunStatus.RUNNING).update(
        status=RunStatus.DONE, finished_at=timezone.now()
    )
    if finished:
        run = JudgeRun.objects.get(id=run_id)
        if run.route_disagreements:
            judge_run_route(run=run)


@dataclass(frozen=True)
class RouteResult:
    inconsistent: int
    split: int


def judge_run_route(*, run: JudgeRun) -> RouteResult:
    """Send the pairs this run's judge disagreed with itself on to humans first.

    A pair gets priority ROUTE_INCONSISTENT when, on any criterion, the judge's verdicts in the two
    orders differ, else ROUTE_SPLIT when the mean signed preference over orders is within one
    point of a tie on any criterion. Priorities only go up (another run or an import may have set
    a higher one); annotate's assignment_next hands out higher priorities first.
    """
    preferences: dict[tuple[int, int], list[int]] = {}
    answered = run.calls.filter(status=CallStatus.DONE, shown_preference__isnull=False)
    for pair_id, criterion_id, a_first, shown in answered.values_list(
        "pair_id", "criterion_id", "a_first", "shown_preference"
    ).iterator():
        if shown is None:
            continue
        preference = canonical_preference(shown, a_shown_first=a_first)
        preferences.setdefault((pair_id, criterion_id), []).append(preference)
    inconsistent: set[int] = set()
    split: set[int] = set()
    for (pair_id, _), values in preferences.items():
        if len({verdict_of(v) for v in values}) > 1:
            inconsistent.add(pair_id)
        elif abs(sum(values) / len(values)) <= 1:
            split.add(pair_id)
    split -= inconsistent
    for priority, pair_ids in ((ROUTE_INCONSISTENT, inconsistent), (ROUTE_SPLIT, split)):
        ordered = sorted(pair_ids)
        for start in range(0, len(ordered), HASH_LOOKUP_CHUNK):
            Pair.objects.filter(
                id__in=ordered[start : start + HASH_LOOKUP_CHUNK], priority__lt=priority
            ).update(priority=priority)
    return RouteResult(inconsistent=len(inconsistent), split=len(split))


def _claim(call: JudgeCall, judge: Judge) -> str | None:
    """Move the call from queued to running; an outcome string when it must not run now."""
    with transaction.atomic():
        run = JudgeRun.objects.select_for_update().get(id=call.run_id)
        if run.status != RunStatus.RUNNING:
            stopped = (
                CallStatus.SKIPPED_BUDGET
                if run.status == RunStatus.BUDGET_STOPPED
                else CallStatus.CANCELLED
            )
            JudgeCall.objects.filter(id=call.id, status=CallStatus.QUEUED).update(status=stopped)
            return OUTCOME_RUN_STOPPED
        # The run row lock serialises claims of one run, so this count cannot race. A call
        # running for longer than a task may live belongs to a dead worker (resume retries it).
        alive_since = timezone.now() - timedelta(seconds=settings.CELERY_TASK_TIME_LIMIT)
        in_flight = JudgeCall.objects.filter(
            run_id=run.id, status=CallStatus.RUNNING, started_at__gte=alive_since
        ).count()
        if in_flight >= judge.concurrency:
            return OUTCOME_BUSY
        claimed = JudgeCall.objects.filter(id=call.id, status=CallStatus.QUEUED).update(
            status=CallStatus.RUNNING, started_at=timezone.now()
        )
        return None if claimed else OUTCOME_NOT_QUEUED


def _reserve_budget(run: JudgeRun, amount: Decimal) -> bool:
    """Reserve the worst-case cost of one call, unless it could take the run past its budget."""
    if run.budget_usd is None:
        return True
    return bool(
        JudgeRun.objects.filter(
            id=run.id,
            status=RunStatus.RUNNING,
            spent_usd__lte=F("budget_usd") - F("reserved_usd") - amount,
        ).update(reserved_usd=F("reserved_usd") + amount)
    )


def _release_budget(run: JudgeRun, reserved: Decimal, spent: Decimal) -> None:
    if run.budget_usd is None:
        JudgeRun.objects.filter(id=run.id).update(spent_usd=F("spent_usd") + spent)
    else:
        JudgeRun.objects.filter(id=run.id).update(
            reserved_usd=F("reserved_usd") - reserved, spent_usd=F("spent_usd") + spent
        )


def _stop_for_budget(run: JudgeRun, call: JudgeCall) -> None:
    with transaction.atomic():
        JudgeCall.objects.filter(id=call.id, status=CallStatus.RUNNING).update(
            status=CallStatus.SKIPPED_BUDGET, error="the next call could exceed the run's budget"
        )
        run.calls.filter(status=CallStatus.QUEUED).update(status=CallStatus.SKIPPED_BUDGET)
        JudgeRun.objects.filter(id=run.id, status=RunStatus.RUNNING).update(
            status=RunStatus.BUDGET_STOPPED,
            finished_at=timezone.now(),
            error=f"stopped before exceeding the budget of {run.budget_usd} USD",
        )


def _rating_write(call: JudgeCall, judge: Judge, parsed: Parsed) -> Rating | None:
    if parsed.status != DONE or parsed.shown_preference is None:
        return None
    preference = canonical_preference(parsed.shown_preference, a_shown_first=call.a_first)
    rating, _ = Rating.objects.update_or_create(
        pair_id=call.pair_id,
        criterion_id=call.criterion_id,
        rater_kind=RaterKind.LLM,
        rater=judge.name,
        shown_first="a" if call.a_first else "b",
        defaults={
            "value_shown": parsed.value_shown,
            "preference": preference,
            "verdict": verdict_of(preference),
            "rationale": parsed.explanation,
            "source": "judge",
        },
    )
    return rating


def _record(
    call: JudgeCall,
    judge: Judge,
    *,
    raw: str,
    fields: dict[str, Any],
    cached_from: JudgeCall | None = None,
) -> str:
    """Store the answer of a call (parsed on this criterion's scale) and its verdict rating."""
    criterion = call.criterion
    scale = Scale(criterion.scale_points, criterion.tie_option)
    parsed = parse_reply(raw, contract=judge.prompt_template.contract, scale=scale)
    with transaction.atomic():
        rating = _rating_write(call, judge, parsed)
        JudgeCall.objects.filter(id=call.id).update(
            status=CallStatus.DONE if parsed.status == DONE else CallStatus.UNPARSED,
            raw_response=raw,
            shown_preference=parsed.shown_preference,
            value_shown=parsed.value_shown,
            explanation=parsed.explanation,
            error=parsed.error,
            rating=rating,
            cached_from=cached_from,
            finished_at=timezone.now(),
            **fields,
        )
    return OUTCOME_CACHED if cached_from else OUTCOME_ANSWERED


def judge_call_execute(*, call_id: int, final_attempt: bool = True) -> str:
    """Do one call of a run: claim, reuse a cached answer or ask the judge, record the verdict.

    Idempotent: a call that is not queued (already done, taken by another worker, cancelled) is
    left alone. Raises TransientCallError, with the call back in the queue, when the judge gave
    no answer and `final_attempt` is false; on the final attempt the call is marked failed.
    """
    call = (
        JudgeCall.objects.select_related(
            "run__judge", "criterion", "pair__prompt", "pair__completion_a", "pair__completion_b"
        )
        .filter(id=call_id)
        .first()
    )
    if call is None:
        return OUTCOME_GONE
    run, judge = call.run, call.run.judge
    blocked = _claim(call, judge)
    if blocked:
        return blocked
    source = (
        JudgeCall.objects.filter(
            request_hash=call.request_hash, status__in=ANSWERED, cached_from__isnull=True
        )
        .exclude(id=call.id)
        .order_by("id")
        .first()
    )
    if source is not None:
        outcome = _record(call, judge, raw=source.raw_response, fields={}, cached_from=source)
        _run_finish_if_complete(run.id)
        return outcome

    reserve = call_cost(
        judge, prompt_tokens=call.prompt_tokens_estimate, completion_tokens=judge.max_tokens
    )
    if not _reserve_budget(run, reserve):
        _stop_for_budget(run, call)
        return OUTCOME_BUDGET
    messages = messages_for(judge, call.pair, call.criterion, a_first=call.a_first)
    try:
        limiter_wait(judge=judge, tokens=call.prompt_tokens_estimate + judge.max_tokens)
        reply = chat(judge, messages)
    except JudgeCallError as error:
        _release_budget(run, reserve, Decimal(0))
        if error.transient and not final_attempt:
            JudgeCall.objects.filter(id=call.id).update(
                status=CallStatus.QUEUED,
                attempts=F("attempts") + error.attempts,
                error=error.message,
            )
            raise TransientCallError(error.message) from None
        JudgeCall.objects.filter(id=call.id).update(
            status=CallStatus.FAILED,
            attempts=F("attempts") + error.attempts,
            error=error.message,
            finished_at=timezone.now(),
        )
        logger.warning("judge call %s failed: %s", call.id, error.message)
        _run_finish_if_complete(run.id)
        return OUTCOME_FAILED
    except BaseException:
        # A crash or a time limit mid-call: give the reservation back and let resume retry.
        _release_budget(run, reserve, Decimal(0))
        JudgeCall.objects.filter(id=call.id, status=CallStatus.RUNNING).update(
            status=CallStatus.QUEUED
        )
        raise
    cost = call_cost(
        judge, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens
    )
    _release_budget(run, reserve, cost)
    outcome = _record(
        call,
        judge,
        raw=reply.text,
        fields={
            "prompt_tokens": reply.prompt_tokens,
            "completion_tokens": reply.completion_tokens,
            "cost_usd": cost,
            "latency_ms": reply.latency_ms,
            "attempts": F("attempts") + reply.attempts,
        },
    )
    _run_finish_if_complete(run.id)
    return outcome
