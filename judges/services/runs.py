"""Writes of judge runs: estimate, start, cancel, resume, and recovery after a crash.

A run never does its work inside the request: judge_run_start creates the calls and enqueues one
Celery task per request after commit. Each task claims its calls with a conditional UPDATE
(queued -> running), so a message delivered twice does the work once.

Recovery needs nobody: a worker that starts takes over the calls its earlier incarnation left
running and publishes the queued calls of active runs again (the messages it held went down with
it), and each active run has a watchdog task that takes over calls whose lease ran out (a worker
that never came back) and republishes a stalled run's queued calls. Resume (page, API,
`manage.py judge --resume`) does the same on demand, and restarts a failed run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from functools import partial
from typing import Any

import kombu.exceptions
from django.db import transaction
from django.db.models import F, Max
from django.utils import timezone

from annotate.models import Criterion, Pair, Project
from concord.api_errors import ApplicationError
from judges import conf
from judges.client import call_cost
from judges.models import (
    ANSWERED,
    CallStatus,
    CriteriaMode,
    Judge,
    JudgeCall,
    JudgeRun,
    Orders,
    RunStatus,
)
from judges.services.lifecycle import (
    ID_CHUNK,
    Worker,
    lease_expired_or_dead,
    one_per_request,
    run_settle,
    take_over,
    unfinished_runs,
)
from judges.work import WorkItem, work_items

logger = logging.getLogger(__name__)

ENQUEUE_CHUNK = 500
RESUMABLE = (RunStatus.RUNNING, RunStatus.FAILED)


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
            return (
                "token counts approximated as characters / 4 (tiktoken does not know this model, "
                "or its encoding file is not on this machine and cannot be downloaded); "
                "a budget reserves up to one token per byte of input, so it cannot be overrun"
            )
        return "token counts from tiktoken; output assumed at max_tokens per call"

    @classmethod
    def of_run(cls, run: JudgeRun) -> Estimate:
        """The estimate made when the run started."""
        return cls(
            calls=run.estimated_calls,
            cached_calls=run.estimated_cached_calls,
            prompt_tokens=run.estimated_prompt_tokens,
            output_tokens=run.estimated_output_tokens,
            cost_usd=run.estimated_cost_usd,
            approximate=run.estimate_is_approximate,
        )


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
    *,
    project: Project,
    judge: Judge,
    criteria: list[str] | None,
    orders: str,
    limit: int | None,
    criteria_mode: str,
) -> tuple[list[Criterion], list[WorkItem], Estimate]:
    if orders not in Orders.values:
        raise ApplicationError(f"orders must be both or one, got {orders!r}")
    if criteria_mode not in CriteriaMode.values:
        raise ApplicationError(f"criteria_mode must be separate or together, got {criteria_mode!r}")
    if limit is not None and limit < 1:
        raise ApplicationError(f"limit must be at least 1, got {limit}")
    chosen = _criteria(project, criteria)
    together = criteria_mode == CriteriaMode.TOGETHER and len(chosen) > 1
    if together:
        if not judge.prompt_template.has_joint_form:
            raise ApplicationError(
                f"judge {judge.name} has a custom template, written for one criterion: judge "
                "the criteria separately, or give the judge a built-in template"
            )
        # The order the prompt lists them in, as the call task rebuilds it.
        chosen.sort(key=lambda c: (c.position, c.pk))
    pairs = (
        Pair.objects.filter(project=project)
        .select_related("prompt", "completion_a", "completion_b")
        .order_by("id")
    )
    items, approximate = work_items(
        judge,
        pairs[:limit] if limit else pairs,
        chosen,
        both_orders=orders == Orders.BOTH,
        together=together,
    )
    hashes = [item.request_hash for item in items]
    answered: set[str] = set()
    # In chunks: SQLite caps the number of query parameters.
    for start in range(0, len(hashes), ID_CHUNK):
        answered.update(
            JudgeCall.objects.filter(
                request_hash__in=hashes[start : start + ID_CHUNK], status__in=ANSWERED
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
    criteria_mode: str = CriteriaMode.SEPARATE,
) -> Estimate:
    """Requests = pairs x orders x (criteria, or 1 when judged together); the cost of those not
    already answered, at max_tokens out."""
    return _plan(
        project=project,
        judge=judge,
        criteria=criteria,
        orders=orders,
        limit=limit,
        criteria_mode=criteria_mode,
    )[2]


def judge_run_start(
    *,
    project: Project,
    judge: Judge,
    created_by: Any = None,
    criteria: list[str] | None = None,
    orders: str = Orders.BOTH,
    limit: int | None = None,
    budget_usd: Decimal | None = None,
    route_disagreements: bool | None = None,
    criteria_mode: str = CriteriaMode.SEPARATE,
) -> JudgeRun:
    """Create the run and its calls, and enqueue one task per request once they are committed.

    The estimate is kept on the run (Estimate.of_run). `route_disagreements` None follows the
    project's option. If the broker cannot be reached the run is marked failed and
    ApplicationError is raised: the work is never done inside the request instead.
    """
    if budget_usd is not None and budget_usd < 0:
        raise ApplicationError(f"budget_usd must not be negative, got {budget_usd}")
    chosen, items, estimate = _plan(
        project=project,
        judge=judge,
        criteria=criteria,
        orders=orders,
        limit=limit,
        criteria_mode=criteria_mode,
    )
    if not items:
        raise ApplicationError(f"project {project.slug} has no pairs to judge")
    now = timezone.now()
    with transaction.atomic():
        run = JudgeRun.objects.create(
            project=project,
            judge=judge,
            orders=orders,
            criteria_mode=criteria_mode,
            status=RunStatus.RUNNING,
            budget_usd=budget_usd,
            route_disagreements=(
                project.route_by_judge if route_disagreements is None else route_disagreements
            ),
            estimated_cost_usd=estimate.cost_usd,
            estimate_is_approximate=estimate.approximate,
            estimated_calls=estimate.calls,
            estimated_cached_calls=estimate.cached_calls,
            estimated_prompt_tokens=estimate.prompt_tokens,
            estimated_output_tokens=estimate.output_tokens,
            created_by=created_by,
            started_at=now,
        )
        run.criteria.set(chosen)
        JudgeCall.objects.bulk_create(
            [
                JudgeCall(
                    run=run,
                    pair=item.pair,
                    criterion=criterion,
                    a_first=item.a_first,
                    request_hash=item.request_hash,
                    prompt_tokens_estimate=item.prompt_tokens,
                    prompt_tokens_bound=item.prompt_tokens_bound,
                    enqueued_at=now,
                )
                for item in items
                for criterion in item.criteria
            ],
            batch_size=1000,
        )
        rows = run.calls.order_by("id").values_list("id", "pair_id", "a_first")
        request_ids = one_per_request(rows, together=len(chosen) > 1 and _together(run))
        transaction.on_commit(partial(_enqueue, run_id=run.id, call_ids=request_ids))
        transaction.on_commit(partial(_watch_arm, run_id=run.id))
    return run


def _together(run: JudgeRun) -> bool:
    return run.criteria_mode == CriteriaMode.TOGETHER


def _enqueue(*, run_id: int, call_ids: list[int], supersede: bool = True) -> None:
    """Publish one fan-out message per chunk of calls; a worker turns each into call tasks.

    A request thus publishes a few messages however large the run, and still finds out at once
    when the broker is unreachable. `supersede` as in judge_run_fanout.
    """
    from judges.tasks import judge_run_fanout_task

    try:
        with judge_run_fanout_task.app.connection_for_write() as connection:
            connection.ensure_connection(max_retries=1)
            with connection.Producer() as producer:
                for start in range(0, len(call_ids), ENQUEUE_CHUNK):
                    chunk = call_ids[start : start + ENQUEUE_CHUNK]
                    judge_run_fanout_task.apply_async(
                        (run_id, chunk, supersede), producer=producer, retry=False
                    )
    except (kombu.exceptions.KombuError, OSError) as error:
        message = f"the task broker is unreachable: {error}"
        JudgeRun.objects.filter(id=run_id).update(
            status=RunStatus.FAILED, error=message, finished_at=timezone.now()
        )
        raise ApplicationError(message) from None


def _watch_arm(*, run_id: int) -> None:
    """Start a new watchdog chain for the run; any older chain stops at its next tick."""
    from judges.tasks import judge_run_watch_task

    JudgeRun.objects.filter(id=run_id).update(watch_generation=F("watch_generation") + 1)
    generation = JudgeRun.objects.values_list("watch_generation", flat=True).get(id=run_id)
    try:
        judge_run_watch_task.apply_async(
            (run_id, generation), countdown=conf.watch_interval_s(), retry=False
        )
    except (kombu.exceptions.KombuError, OSError) as error:
        # The calls went out; a worker start arms the watchdog again.
        logger.warning("judge run %s: no watchdog, the broker refused it: %s", run_id, error)


def judge_run_fanout(*, run_id: int, call_ids: list[int], supersede: bool = True) -> int:
    """Enqueue the call tasks of one chunk (one per request still queued); return how many.

    With `supersede`, each published call's message_seq goes up and its message carries the new
    number: any earlier message of the call (alive, or lost with a dead worker) is thereby
    superseded. Without, the message carries the current number and earlier ones stay valid: a
    publish that cannot know whether the earlier messages are lost or only waiting behind a long
    backlog must not void them, or a backlog longer than the stall time would never drain.
    """
    from judges.tasks import judge_call_task

    run = JudgeRun.objects.filter(id=run_id, status=RunStatus.RUNNING).first()
    if run is None:
        return 0
    rows = (
        JudgeCall.objects.filter(id__in=call_ids, status=CallStatus.QUEUED)
        .order_by("id")
        .values_list("id", "pair_id", "a_first")
    )
    queued = one_per_request(rows, together=_together(run))
    if supersede:
        JudgeCall.objects.filter(id__in=queued).update(message_seq=F("message_seq") + 1)
    seqs = dict(JudgeCall.objects.filter(id__in=queued).values_list("id", "message_seq"))
    with judge_call_task.app.producer_or_acquire() as producer:
        for call_id in queued:
            judge_call_task.apply_async((call_id, seqs[call_id]), producer=producer)
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
    run_settle(run.id)
    run.refresh_from_db()
    return run


def _republish(run: JudgeRun, *, supersede: bool = True) -> int:
    """Publish the run's queued calls again (one message per request); return how many."""
    rows = run.calls.filter(status=CallStatus.QUEUED).order_by("id")
    ids = one_per_request(rows.values_list("id", "pair_id", "a_first"), together=_together(run))
    if ids:
        rows.update(enqueued_at=timezone.now())
        transaction.on_commit(partial(_enqueue, run_id=run.id, call_ids=ids, supersede=supersede))
    return len(ids)


def judge_run_resume(
    *, run: JudgeRun, stale_after_s: float | None = None, worker: Worker | None = None
) -> int:
    """Send a running or failed run's unfinished calls again; return how many requests went out.

    Calls left running by a worker that is gone go back to the queue first: those running for
    longer than `stale_after_s` (default: the task time limit, which no live task outlives) and
    those whose process this host knows is dead. Every queued call is then published again;
    publishing a call twice is harmless, as a task only works on a call it claims. A failed run
    (a wrong key, the broker down) runs again.
    """
    if run.status not in RESUMABLE:
        raise ApplicationError(f"run {run.id} is {run.status}; only running or failed runs resume")
    worker = worker or Worker.current()
    since = timezone.now() - timedelta(seconds=stale_after_s) if stale_after_s is not None else None
    JudgeRun.objects.filter(id=run.id, status__in=RESUMABLE).update(
        status=RunStatus.RUNNING, error="", finished_at=None
    )
    take_over(run_id=run.id, is_dead=lease_expired_or_dead(worker, since=since))
    run.refresh_from_db()
    with transaction.atomic():
        count = _republish(run)
        transaction.on_commit(partial(_watch_arm, run_id=run.id))
    run_settle(run.id)
    run.refresh_from_db()
    return count


@dataclass(frozen=True)
class Recovery:
    runs: int
    taken_over: int
    republished: int


def judge_runs_recover(*, worker: Worker) -> Recovery:
    """What a worker does when it starts: pick up what dead workers left of unfinished runs.

    Takes over the calls of processes of this host that are gone (its own earlier incarnation)
    and calls past their lease, publishes the queued calls of running runs again (the messages a
    dead worker held, prefetched or waiting for their countdown, went with it; the new messages
    supersede every earlier one, so a fleet of workers starting together leaves one live message
    per call, not one per worker), and arms each running run's watchdog.
    """
    taken = republished = 0
    runs = list(JudgeRun.objects.filter(unfinished_runs()).order_by("id"))
    for run in runs:
        taken += len(take_over(run_id=run.id, is_dead=lease_expired_or_dead(worker)))
        if run.status == RunStatus.RUNNING:
            republished += _republish(run)
            _watch_arm(run_id=run.id)
        run_settle(run.id)
    return Recovery(runs=len(runs), taken_over=taken, republished=republished)


def judge_run_sweep(*, run_id: int, generation: int, worker: Worker | None = None) -> bool:
    """One watchdog tick: take over calls past their lease, republish a stalled run's queued
    calls, end the run if it is complete. True while the run needs watching (running, or calls
    still running); False also when a newer watchdog took over."""
    run = JudgeRun.objects.filter(id=run_id).first()
    if run is None or run.watch_generation != generation:
        return False
    take_over(run_id=run.id, is_dead=lease_expired_or_dead(worker or Worker.current()))
    if run.status == RunStatus.RUNNING and _stalled(run):
        logger.warning("judge run %s stalled: publishing its queued calls again", run.id)
        with transaction.atomic():
            _republish(run, supersede=False)
    run_settle(run.id)
    run.refresh_from_db(fields=["status"])
    running = run.calls.filter(status=CallStatus.RUNNING).exists()
    return run.status == RunStatus.RUNNING or running


def _stalled(run: JudgeRun) -> bool:
    """Queued calls, none running, and nothing started, finished or published for a while."""
    calls = run.calls
    if calls.filter(status=CallStatus.RUNNING).exists():
        return False
    if not calls.filter(status=CallStatus.QUEUED).exists():
        return False
    latest = calls.aggregate(
        started=Max("started_at"), finished=Max("finished_at"), enqueued=Max("enqueued_at")
    )
    moments = [value for value in latest.values() if value is not None]
    quiet_since = timezone.now() - timedelta(seconds=conf.stall_s())
    return not moments or max(moments) < quiet_since
