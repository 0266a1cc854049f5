"""Tunables of judge runs, each overridable by a Django setting of the same name.

The defaults suit real endpoints; the worker tests (judges.tests.worker_settings) shrink the waits
so a fault scenario ends in seconds through the same code.
"""

from django.conf import settings


def _setting(name: str, default: float) -> float:
    return float(getattr(settings, name, default))


def client_attempts() -> int:
    """HTTP attempts of one task try (judges.client.chat) before the task itself retries."""
    return int(_setting("JUDGE_CLIENT_ATTEMPTS", 4))


def client_backoff_s() -> float:
    """Base of the client's exponential backoff between attempts (full jitter)."""
    return _setting("JUDGE_CLIENT_BACKOFF_S", 1.0)


def inline_wait_max_s() -> float:
    """The longest Retry-After a worker thread sleeps through; a longer one retries the task later
    instead, so a thread (and the call's lease) is not held by a server asking for minutes."""
    return _setting("JUDGE_INLINE_WAIT_MAX_S", 30.0)


def task_retries() -> int:
    """Retries of a call's task after its attempts found no answer (429, 5xx, timeouts)."""
    return int(_setting("JUDGE_TASK_RETRIES", 5))


def task_backoff_s() -> float:
    """Base of the task's exponential backoff between retries (full jitter, >= Retry-After)."""
    return _setting("JUDGE_TASK_BACKOFF_S", 5.0)


def busy_retry_s() -> float:
    """How soon a call turned away by its run's concurrency limit is offered again."""
    return _setting("JUDGE_BUSY_RETRY_S", 1.0)


def lease_s() -> float:
    """How long a claimed call belongs to its worker: no task outlives the task time limit, so a
    call running for longer lost its worker and may be taken over."""
    return float(settings.CELERY_TASK_TIME_LIMIT)


def watch_interval_s() -> float:
    """Seconds between two ticks of a run's watchdog."""
    return _setting("JUDGE_WATCH_INTERVAL_S", 30.0)


def stall_s() -> float:
    """A running run with queued calls, none in flight and none started or finished for this long
    has lost its messages (they went down with a worker): the watchdog publishes them again."""
    return _setting("JUDGE_STALL_S", 120.0)
