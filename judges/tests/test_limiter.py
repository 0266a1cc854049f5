"""The shared rate limiter."""

import threading

import pytest
from django.db import connection

from judges.limiter import HEADROOM, limiter_defer, limiter_reserve
from judges.models import Judge


def _judge(**fields: int) -> Judge:
    return Judge.objects.create(name="limited", model="m", **fields)


@pytest.mark.django_db
def test_requests_are_spaced_so_no_minute_holds_more_than_the_limit() -> None:
    judge = _judge(rpm=60)
    waits = [limiter_reserve(judge=judge, tokens=10, now=1000.0) for _ in range(5)]
    step = 1 / HEADROOM
    assert waits == pytest.approx([0, step, 2 * step, 3 * step, 4 * step])


@pytest.mark.django_db
def test_tokens_are_paid_for_at_the_tokens_per_minute_rate() -> None:
    judge = _judge(tpm=6000)
    first = limiter_reserve(judge=judge, tokens=3000, now=1000.0)
    second = limiter_reserve(judge=judge, tokens=100, now=1000.0)
    assert (first, second) == (0, pytest.approx(30 / HEADROOM))


@pytest.mark.django_db
def test_a_judge_without_limits_never_waits() -> None:
    judge = _judge()
    assert [limiter_reserve(judge=judge, tokens=10**6) for _ in range(3)] == [0, 0, 0]


@pytest.mark.django_db
def test_an_idle_limiter_lets_the_next_request_go_at_once() -> None:
    judge = _judge(rpm=60)
    limiter_reserve(judge=judge, tokens=1, now=1000.0)
    assert limiter_reserve(judge=judge, tokens=1, now=2000.0) == 0


@pytest.mark.django_db(transaction=True)
def test_concurrent_workers_never_get_the_same_slot() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("threads sharing one SQLite test database is not a concurrency test")
    judge = _judge(rpm=600)
    waits: list[float] = []
    lock = threading.Lock()

    def worker() -> None:
        for _ in range(10):
            wait = limiter_reserve(judge=judge, tokens=1, now=1000.0)
            with lock:
                waits.append(wait)
        connection.close()

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    step = 0.1 / HEADROOM
    assert sorted(waits) == pytest.approx([n * step for n in range(40)])


@pytest.mark.django_db
def test_a_retry_after_holds_back_every_request_of_the_judge() -> None:
    limited, unlimited = _judge(rpm=60), Judge.objects.create(name="free", model="m")
    for judge in (limited, unlimited):
        limiter_defer(judge=judge, seconds=20, now=1000.0)
    assert limiter_reserve(judge=limited, tokens=1, now=1005.0) == pytest.approx(15)
    assert limiter_reserve(judge=unlimited, tokens=1, now=1005.0) == pytest.approx(15)
    # A shorter Retry-After never brings the next slot forward.
    limiter_defer(judge=unlimited, seconds=1, now=1005.0)
    assert limiter_reserve(judge=unlimited, tokens=1, now=1010.0) == pytest.approx(10)
    assert limiter_reserve(judge=unlimited, tokens=1, now=1021.0) == 0
