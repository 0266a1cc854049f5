"""Celery adapters: take ids, call one service. One task per judge request, fanned out in chunks.

Plus two adapters for recovery after a crash: the worker_ready signal (a worker that starts picks
up what its dead predecessor left) and each running run's watchdog, a task that reschedules
itself until the run ends.
"""

import logging
import random
from typing import Any

from celery import Task, shared_task
from celery.signals import worker_ready

from judges import conf
from judges.client import backoff_seconds
from judges.services import (
    OUTCOME_BUSY,
    TransientCallError,
    Worker,
    judge_call_execute,
    judge_run_fanout,
    judge_run_sweep,
    judge_runs_recover,
)

logger = logging.getLogger(__name__)


# Retries are not declared with autoretry_for: their countdown must be at least the server's
# Retry-After, which only the raised error knows, and the call counts its own tries (a message
# delivered twice must not give it more). They stay exponential with full jitter; Celery's own
# limit is only a backstop.
@shared_task(bind=True, acks_late=True)
def judge_call_task(self: Task, call_id: int, seq: int | None = None) -> str:
    tries = conf.task_retries() + 1
    try:
        outcome = judge_call_execute(
            call_id=call_id,
            seq=seq,
            max_tries=tries,
            worker=Worker.current(self.request.hostname or ""),
        )
    except TransientCallError as error:
        countdown = backoff_seconds(
            error.tries,
            error.retry_after,
            random.Random(),
            base_s=conf.task_backoff_s(),
            max_s=300.0,
        )
        raise self.retry(countdown=countdown, max_retries=2 * tries) from None
    if outcome == OUTCOME_BUSY:
        # The run has as many calls in flight as its judge allows: come back shortly, as a new
        # message, since waiting for a slot is not a failure and must not use up the retries.
        busy = conf.busy_retry_s()
        judge_call_task.apply_async((call_id, seq), countdown=busy + random.random() * busy)
    return outcome


@shared_task(acks_late=True)
def judge_run_fanout_task(run_id: int, call_ids: list[int], supersede: bool = True) -> int:
    """Turn one chunk of a run into call tasks (enqueuing a call twice is harmless)."""
    return judge_run_fanout(run_id=run_id, call_ids=call_ids, supersede=supersede)


@shared_task(bind=True, acks_late=True)
def judge_run_watch_task(self: Task, run_id: int, generation: int) -> bool:
    """One watchdog tick of a run; the next one follows while the run needs watching."""
    worker = Worker.current(self.request.hostname or "")
    watching = judge_run_sweep(run_id=run_id, generation=generation, worker=worker)
    if watching:
        judge_run_watch_task.apply_async((run_id, generation), countdown=conf.watch_interval_s())
    return watching


@worker_ready.connect
def _recover_on_worker_start(sender: Any = None, **_: Any) -> None:
    node = getattr(sender, "hostname", "") or ""
    try:
        recovery = judge_runs_recover(worker=Worker.current(node))
    except Exception:
        # A worker that cannot recover still serves; the watchdogs and resume remain.
        logger.exception("judge runs: recovery at worker start failed")
        return
    if recovery.runs:
        logger.warning(
            "judge runs: %s unfinished at worker start, %s calls taken over, %s requests sent "
            "again",
            recovery.runs,
            recovery.taken_over,
            recovery.republished,
        )
