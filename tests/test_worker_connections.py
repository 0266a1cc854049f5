"""A Celery worker keeps its database connections between tasks, as gunicorn does between requests,
and still drops one that is broken or past CONN_MAX_AGE."""

import time

import pytest
from celery.fixups.django import DjangoWorkerFixup
from celery.signals import task_postrun, task_prerun
from django.conf import settings
from django.db import connection

from concord import celery_app

pytestmark = pytest.mark.django_db(transaction=True)


class _Request:
    def __init__(self, eager: bool) -> None:
        self.is_eager = eager


class _Task:
    def __init__(self, eager: bool) -> None:
        self.request = _Request(eager)


def _around_a_task(*, eager: bool = False) -> None:
    task = _Task(eager)
    for signal in (task_prerun, task_postrun):
        signal.send(sender=task, task=task, task_id="t1", args=(), kwargs={})


def test_the_fixup_closes_connections_only_every_so_many_tasks() -> None:
    # Unset, Celery's Django fix-up closes every connection around every task.
    assert DjangoWorkerFixup(celery_app).db_reuse_max == settings.CELERY_DB_REUSE_MAX == 1000


@pytest.mark.skipif(
    settings.DATABASES["default"]["CONN_MAX_AGE"] == 0, reason="this database keeps no connection"
)
def test_a_healthy_connection_is_kept_from_one_task_to_the_next() -> None:
    connection.ensure_connection()
    raw = connection.connection
    _around_a_task()
    assert connection.connection is raw


@pytest.mark.skipif(connection.vendor == "sqlite", reason="SQLite's test database never closes")
def test_a_connection_past_its_age_is_closed_around_a_task() -> None:
    connection.ensure_connection()
    connection.close_at = time.monotonic() - 1
    _around_a_task()
    assert connection.connection is None


@pytest.mark.skipif(connection.vendor == "sqlite", reason="a SQLite file connection never breaks")
def test_a_broken_connection_is_closed_around_a_task() -> None:
    connection.ensure_connection()
    connection.errors_occurred = True
    connection.connection.close()  # the server went away
    _around_a_task()
    assert connection.connection is None


def test_a_task_run_eagerly_leaves_its_callers_connection_alone() -> None:
    connection.ensure_connection()
    raw = connection.connection
    connection.close_at = time.monotonic() - 1
    _around_a_task(eager=True)
    assert connection.connection is raw
