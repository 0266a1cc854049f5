"""Celery adapters: take ids, call one service. One task per judge call, fanned out in chunks."""

import random

from celery import Task, shared_task

from judges.services import (
    BUSY_RETRY_S,
    OUTCOME_BUSY,
    TransientCallError,
    judge_call_execute,
    judge_run_fanout,
)


@shared_task(
    bind=True,
    acks_late=True,
    autoretry_for=(TransientCallError,),
    max_retries=5,
    retry_backoff=5,
    retry_backoff_max=300,
    retry_jitter=True,
)
def judge_call_task(self: Task, call_id: int) -> str:
    outcome = judge_call_execute(
        call_id=call_id, final_attempt=self.request.retries >= (self.max_retries or 0)
    )
    if outcome == OUTCOME_BUSY:
        # The run has as many calls in flight as its judge allows: come back shortly, as a new
        # message, since waiting for a slot is not a failure and must not use up the retries.
        judge_call_task.apply_async((call_id,), countdown=BUSY_RETRY_S + random.random())
    return outcome


@shared_task(acks_late=True)
def judge_run_fanout_task(run_id: int, call_ids: list[int]) -> int:
    """Turn one chunk of a run into call tasks (enqueuing a call twice is harmless)."""
    return judge_run_fanout(run_id=run_id, call_ids=call_ids)
