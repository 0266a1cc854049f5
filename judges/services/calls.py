"""The execution of one request of a run: claim, cache, budget, the judge, the verdicts.

A request is one call, or with criteria judged together the calls of one (pair, order), one per
criterion. Whoever claims it (a conditional UPDATE queued -> running, under the run's row lock)
owns it through a claim string; every later write of its answer is conditional on that claim, so
a worker that lost its call to a take-over cannot overwrite the new owner's work.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from decimal import Decimal
from functools import partial
from typing import Any

from django.db import transaction
from django.db.models import F, Q, QuerySet
from django.utils import timezone

from annotate.models import Criterion, RaterKind, Rating
from annotate.scale import Scale, canonical_preference, verdict_of
from judges import conf
from judges.client import JudgeCallError, call_cost, chat
from judges.limiter import limiter_defer, limiter_wait
from judges.models import (
    ANSWERED,
    CallStatus,
    CriteriaMode,
    Judge,
    JudgeCall,
    JudgeRun,
    RunStatus,
)
from judges.parsing import DONE, Parsed, parse_joint, parse_reply
from judges.services.lifecycle import Worker, book, lease_start, run_settle
from judges.work import messages_for

logger = logging.getLogger(__name__)

# Outcomes of judge_call_execute, for the task and for tests.
OUTCOME_GONE = "gone"
OUTCOME_SUPERSEDED = "superseded"
OUTCOME_NOT_QUEUED = "not_queued"
OUTCOME_RUN_STOPPED = "run_stopped"
OUTCOME_BUSY = "busy"
OUTCOME_BUDGET = "budget_stopped"
OUTCOME_FAILED = "failed"
OUTCOME_RUN_FAILED = "run_failed"
OUTCOME_CACHED = "cached"
OUTCOME_ANSWERED = "answered"


class TransientCallError(Exception):
    """The call got no answer but may get one later; the task retries it (not before
    `retry_after` seconds when the server said). `tries`: the call's tries so far."""

    def __init__(self, message: str, *, tries: int, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.tries = tries
        self.retry_after = retry_after


@dataclass(frozen=True)
class Request:
    """A claimed request: its calls (the first, the lead, carries the request's cost)."""

    run: JudgeRun
    judge: Judge
    calls: list[JudgeCall]
    criteria: list[Criterion]
    claim: str

    @property
    def lead(self) -> JudgeCall:
        return self.calls[0]

    @property
    def ids(self) -> list[int]:
        return [call.pk for call in self.calls]

    def owned(self) -> QuerySet[JudgeCall]:
        """The request's calls still owned by this claim."""
        return JudgeCall.objects.filter(
            id__in=self.ids, status=CallStatus.RUNNING, claimed_by=self.claim
        )


def request_criteria(run: JudgeRun, call: JudgeCall) -> list[Criterion]:
    """The criteria the call's request covers, in the order its prompt lists them."""
    if run.criteria_mode != CriteriaMode.TOGETHER:
        return [call.criterion]
    return sorted(run.criteria.all(), key=lambda c: (c.position, c.pk))


def _in_flight(run: JudgeRun, *, together: bool) -> int:
    running = JudgeCall.objects.filter(
        run_id=run.pk, status=CallStatus.RUNNING, started_at__gte=lease_start()
    )
    if together:
        return running.values("pair_id", "a_first").distinct().count()
    return running.count()


def _claim(call: JudgeCall, worker: Worker) -> Request | str:
    """Claim the call's request (queued -> running); an outcome string when it must not run now."""
    run = call.run
    criteria = request_criteria(run, call)
    together = len(criteria) > 1
    members = (
        Q(run_id=run.pk, pair_id=call.pair_id, a_first=call.a_first) if together else Q(id=call.pk)
    )
    with transaction.atomic():
        locked = JudgeRun.objects.select_for_update().values_list("status", flat=True)
        status = locked.get(id=run.pk)
        if status != RunStatus.RUNNING:
            # Calls of a failed run stay queued: resume (after the cause is fixed) sends them.
            stopped = {
                RunStatus.BUDGET_STOPPED: CallStatus.SKIPPED_BUDGET,
                RunStatus.CANCELLED: CallStatus.CANCELLED,
                RunStatus.DONE: CallStatus.CANCELLED,
            }.get(RunStatus(status))
            if stopped:
                JudgeCall.objects.filter(members, status=CallStatus.QUEUED).update(status=stopped)
            return OUTCOME_RUN_STOPPED
        # The run row lock serialises claims of one run, so this count cannot race.
        if _in_flight(run, together=together) >= run.judge.concurrency:
            return OUTCOME_BUSY
        claim = worker.new_claim()
        claimed = JudgeCall.objects.filter(members, status=CallStatus.QUEUED).update(
            status=CallStatus.RUNNING, started_at=timezone.now(), claimed_by=claim
        )
        if not claimed:
            return OUTCOME_NOT_QUEUED
        calls = list(
            JudgeCall.objects.filter(members, claimed_by=claim)
            .select_related("criterion")
            .order_by("id")
        )
    return Request(run=run, judge=run.judge, calls=calls, criteria=criteria, claim=claim)


def _reserve_budget(request: Request) -> bool:
    """Reserve the worst-case cost of the request, unless it could take the run past its budget.

    Worst case: the most input tokens the request can count (token_bound) and max_tokens out.
    The lead call holds the reservation until book() gives it back.
    """
    run, lead, judge = request.run, request.lead, request.judge
    if run.budget_usd is None:
        return True
    amount = call_cost(
        judge,
        prompt_tokens=lead.prompt_tokens_bound or lead.prompt_tokens_estimate,
        completion_tokens=judge.max_tokens,
    )
    with transaction.atomic():
        reserved = JudgeRun.objects.filter(
            id=run.pk,
            status=RunStatus.RUNNING,
            spent_usd__lte=F("budget_usd") - F("reserved_usd") - amount,
        ).update(reserved_usd=F("reserved_usd") + amount)
        if reserved:
            JudgeCall.objects.filter(id=lead.pk).update(reserved_usd=amount)
    return bool(reserved)


def _stop_for_budget(request: Request) -> None:
    run = request.run
    with transaction.atomic():
        JudgeRun.objects.select_for_update().only("id").get(id=run.pk)
        request.owned().update(
            status=CallStatus.SKIPPED_BUDGET,
            error="the next call could exceed the run's budget",
            finished_at=timezone.now(),
        )
        run.calls.filter(status=CallStatus.QUEUED).update(status=CallStatus.SKIPPED_BUDGET)
        JudgeRun.objects.filter(id=run.pk, status=RunStatus.RUNNING).update(
            status=RunStatus.BUDGET_STOPPED,
            finished_at=timezone.now(),
            error=f"stopped before exceeding the budget of {run.budget_usd} USD",
        )


def _parse(request: Request, raw: str) -> dict[int, Parsed]:
    """The reply parsed per call, each on its criterion's scale."""
    contract = request.judge.prompt_template.contract
    scales = {c.key: Scale(c.scale_points, c.tie_option) for c in request.criteria}
    if len(request.criteria) > 1:
        by_key = parse_joint(raw, contract=contract, scales=scales)
    else:
        key = request.criteria[0].key
        by_key = {key: parse_reply(raw, contract=contract, scale=scales[key])}
    return {call.pk: by_key[call.criterion.key] for call in request.calls}


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
    request: Request,
    *,
    raw: str,
    paid: dict[str, Any] | None = None,
    cost: Decimal = Decimal(0),
    cached_from: JudgeCall | None = None,
) -> str:
    """Store the answer on each call of the request, its verdict ratings, and book its cost.

    The cost and tokens were paid whoever owns the calls now, so they are always added to the
    lead call and the run (ledger and spend stay equal). The answer is stored on calls this claim
    still owns, or that were taken over and are still queued (the answer saves paying again).
    """
    parsed = _parse(request, raw)
    now = timezone.now()
    with transaction.atomic():
        JudgeRun.objects.select_for_update().only("id").get(id=request.run.pk)
        book(run_id=request.run.pk, lead_id=request.lead.pk, spent=cost, lock=False)
        if paid:
            JudgeCall.objects.filter(id=request.lead.pk).update(**paid)
        for call in request.calls:
            result = parsed[call.pk]
            mine = Q(status=CallStatus.RUNNING, claimed_by=request.claim) | Q(
                status=CallStatus.QUEUED
            )
            stored = JudgeCall.objects.filter(mine, id=call.pk).update(
                status=CallStatus.DONE if result.status == DONE else CallStatus.UNPARSED,
                raw_response=raw,
                shown_preference=result.shown_preference,
                value_shown=result.value_shown,
                explanation=result.explanation,
                error=result.error,
                cached_from=cached_from,
                finished_at=now,
            )
            if stored:
                rating = _rating_write(call, request.judge, result)
                if rating is not None:
                    JudgeCall.objects.filter(id=call.pk).update(rating=rating)
    return OUTCOME_CACHED if cached_from else OUTCOME_ANSWERED


def _cached_source(request: Request) -> JudgeCall | None:
    return (
        JudgeCall.objects.filter(
            request_hash=request.lead.request_hash, status__in=ANSWERED, cached_from__isnull=True
        )
        .exclude(id__in=request.ids)
        .order_by("id")
        .first()
    )


def _give_back(
    request: Request, error: JudgeCallError, *, status: str, count_try: bool = False
) -> None:
    """End the attempt without an answer: calls back to the queue (or failed), budget released."""
    with transaction.atomic():
        JudgeRun.objects.select_for_update().only("id").get(id=request.run.pk)
        book(run_id=request.run.pk, lead_id=request.lead.pk, lock=False)
        request.owned().update(
            status=status,
            claimed_by="" if status == CallStatus.QUEUED else request.claim,
            error=error.message,
            finished_at=None if status == CallStatus.QUEUED else timezone.now(),
        )
        JudgeCall.objects.filter(id=request.lead.pk).update(
            attempts=F("attempts") + error.attempts, tries=F("tries") + int(count_try)
        )
        if error.stops_run:
            JudgeRun.objects.filter(id=request.run.pk, status=RunStatus.RUNNING).update(
                status=RunStatus.FAILED,
                finished_at=timezone.now(),
                error=f"{error.message}. Fix it, then resume the run.",
            )


def judge_call_execute(
    *, call_id: int, seq: int | None = None, max_tries: int = 1, worker: Worker | None = None
) -> str:
    """Do one request of a run: claim, reuse a cached answer or ask the judge, record verdicts.

    Idempotent: a call that is not queued (already done, taken by another worker, cancelled) is
    left alone. When the judge gave no answer but may later (429, 5xx, timeouts), the calls go
    back to the queue and TransientCallError is raised, until the call has had `max_tries` tries
    (counted on the call): then they are marked failed. An error no call of the judge can get
    past (a wrong key) fails the whole run at once, leaving its calls queued for a resume.
    A message whose `seq` is older than the call's was superseded by a later publish: dropped.
    """
    # A message that has nothing to do (superseded, its call done) costs one small query: a
    # backlog of such messages drains in seconds, not at the pace of real work.
    state = JudgeCall.objects.filter(id=call_id).values_list("message_seq", "status").first()
    if state is None:
        return OUTCOME_GONE
    if seq is not None and seq != state[0]:
        return OUTCOME_SUPERSEDED
    if state[1] != CallStatus.QUEUED:
        return OUTCOME_NOT_QUEUED
    call = (
        JudgeCall.objects.select_related(
            "run__judge", "criterion", "pair__prompt", "pair__completion_a", "pair__completion_b"
        )
        .filter(id=call_id)
        .first()
    )
    if call is None:
        return OUTCOME_GONE
    claimed = _claim(call, worker or Worker.current())
    if isinstance(claimed, str):
        return claimed
    request, run, judge = claimed, claimed.run, claimed.judge
    source = _cached_source(request)
    if source is not None:
        outcome = _record(request, raw=source.raw_response, cached_from=source)
        run_settle(run.pk)
        return outcome
    if not _reserve_budget(request):
        _stop_for_budget(request)
        run_settle(run.pk)
        return OUTCOME_BUDGET
    messages = messages_for(judge, call.pair, request.criteria, a_first=call.a_first)
    # Paced by the estimate: a server's tokens-per-minute counts real tokens.
    pace = partial(
        limiter_wait, judge=judge, tokens=request.lead.prompt_tokens_estimate + judge.max_tokens
    )
    try:
        reply = chat(judge, messages, pace=pace, on_retry_after=partial(_defer, judge))
    except JudgeCallError as error:
        if error.stops_run:
            _give_back(request, error, status=CallStatus.QUEUED)
            logger.warning("judge run %s stopped: %s", run.pk, error.message)
            return OUTCOME_RUN_FAILED
        tries = request.lead.tries + 1
        if error.transient and tries < max_tries:
            _give_back(request, error, status=CallStatus.QUEUED, count_try=True)
            raise TransientCallError(
                error.message, tries=tries, retry_after=error.retry_after
            ) from None
        _give_back(request, error, status=CallStatus.FAILED)
        logger.warning("judge call %s failed: %s", call.pk, error.message)
        run_settle(run.pk)
        return OUTCOME_FAILED
    except BaseException:
        # A crash or a time limit mid-call: give the reservation back and let the calls go again.
        with transaction.atomic():
            JudgeRun.objects.select_for_update().only("id").get(id=run.pk)
            book(run_id=run.pk, lead_id=request.lead.pk, lock=False)
            request.owned().update(status=CallStatus.QUEUED, claimed_by="")
        raise
    cost = call_cost(
        judge, prompt_tokens=reply.prompt_tokens, completion_tokens=reply.completion_tokens
    )
    outcome = _record(
        request,
        raw=reply.text,
        cost=cost,
        paid={
            "prompt_tokens": F("prompt_tokens") + reply.prompt_tokens,
            "completion_tokens": F("completion_tokens") + reply.completion_tokens,
            "cost_usd": F("cost_usd") + cost,
            "latency_ms": reply.latency_ms,
            "attempts": F("attempts") + reply.attempts,
        },
    )
    run_settle(run.pk)
    return outcome


def _defer(judge: Judge, seconds: float) -> None:
    # Every worker holds back for the whole Retry-After, within reason: a sleeping thread keeps
    # its call's lease, and the lease must outlast the sleep.
    limiter_defer(judge=judge, seconds=min(seconds, conf.lease_s() / 4))
