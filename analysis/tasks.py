"""Celery adapter: compute one stored report, by id, through the service."""

from celery import shared_task

from analysis.services import report_task_run


@shared_task(acks_late=True)
def report_compute_task(cache_id: int) -> str:
    return report_task_run(cache_id=cache_id)
