"""A judge run through a real Celery worker, killed mid-run and restarted.

The worker and the commands run as separate processes, so they cannot see pytest's test
transaction: the test gives them a database of their own through DATABASE_URL (a throwaway
PostgreSQL database when DATABASE_URL points at PostgreSQL, as in CI; else a SQLite file) and a
broker through CELERY_BROKER_URL (Redis when the environment names Redis, as CI does; else the
filesystem transport in a temporary folder). Slow: a few seconds.
"""

import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlparse

import pytest

from conftest import service_missing
from judges.stub import OpenAIStub, StubConfig

ROOT = Path(__file__).resolve().parents[2]
PAIRS = 12  # x 2 criteria x 2 orders = 48 calls
CALLS = PAIRS * 4
WORKER_THREADS = 4

Query = Callable[[str], list[tuple]]

SETUP = f"""
from annotate.models import Criterion, Project
from annotate.tests.factories import make_pair
from judges.services import judge_create
project = Project.objects.create(name="Worker", slug="worker")
Criterion.objects.create(project=project, key="helpfulness", question="More helpful?")
Criterion.objects.create(project=project, key="truthfulness", question="More truthful?", position=1)
for n in range({PAIRS}):
    make_pair(project, texts=("x" * (n + 1), "y" * (20 - n)))
judge_create(name="stub", model="stub-model", base_url="{{url}}", api_key_env="WORKER_TEST_KEY",
             price_in=1, price_out=1, concurrency={WORKER_THREADS}, max_tokens=50)
"""


def _postgres(url: str) -> Iterator[tuple[str, Query]]:
    import psycopg

    name = f"concord_worker_{uuid.uuid4().hex[:12]}"
    live = urlparse(url)._replace(path=f"/{name}").geturl()
    # The server's maintenance database: the one DATABASE_URL names need not exist (pytest
    # creates test_<name> from it).
    maintenance = urlparse(url)._replace(path="/postgres").geturl()
    with psycopg.connect(maintenance, autocommit=True) as admin:
        admin.execute(f'CREATE DATABASE "{name}"')

    def query(sql: str) -> list[tuple]:
        with psycopg.connect(live) as conn:
            return conn.execute(sql).fetchall()

    try:
        yield live, query
    finally:
        with psycopg.connect(maintenance, autocommit=True) as admin:
            admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def _sqlite(path: Path) -> Iterator[tuple[str, Query]]:
    def query(sql: str) -> list[tuple]:
        with sqlite3.connect(path, timeout=30) as conn:
            return conn.execute(sql).fetchall()

    yield "", query


@pytest.fixture
def database(tmp_path: Path) -> Iterator[tuple[str, Query]]:
    """(DATABASE_URL for the subprocesses, "" for the default SQLite file; a query function)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        yield from _postgres(url)
    else:
        yield from _sqlite(tmp_path / "db.sqlite3")


@pytest.fixture
def broker() -> Iterator[tuple[str, str]]:
    """(CELERY_BROKER_URL for the subprocesses, "" for the filesystem transport; queue name)."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    queue = f"judge-worker-test-{uuid.uuid4().hex[:12]}"
    if not url.startswith("redis"):
        yield "", queue
        return
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        service_missing(f"Redis at {url}")
    yield url, queue
    # Messages left behind (duplicates the claims turned away) go with the test's queue.
    for key in client.scan_iter(match=f"*{queue}*"):
        client.delete(key)
    client.close()


@pytest.fixture
def env(
    tmp_path: Path, database: tuple[str, Query], broker: tuple[str, str]
) -> Iterator[dict[str, str]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        CONCORD_VAR_DIR=str(tmp_path),
        WORKER_TEST_KEY="sk-worker",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="judges.tests.worker_settings",
        CONCORD_TEST_QUEUE=broker[1],
    )
    if database[0]:
        env["DATABASE_URL"] = database[0]
    if broker[0]:
        env["CELERY_BROKER_URL"] = broker[0]
    for folder in ("broker/queue", "broker/processed"):
        (tmp_path / folder).mkdir(parents=True)
    yield env


def _manage(env: dict[str, str], *args: str) -> str:
    result = subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _worker(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "celery",
            "-A",
            "concord",
            "worker",
            "--pool",
            "threads",
            "--concurrency",
            str(WORKER_THREADS),
            "--loglevel",
            "warning",
            "--queues",
            env["CONCORD_TEST_QUEUE"],
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _statuses(query: Query) -> dict[str, int]:
    return dict(query("SELECT status, COUNT(*) FROM judges_judgecall GROUP BY status"))


def _wait_for(predicate: object, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker")


def test_a_worker_killed_mid_run_loses_and_duplicates_no_verdict(
    env: dict[str, str], database: tuple[str, Query], tmp_path: Path
) -> None:
    query, log = database[1], tmp_path / "worker.log"
    with OpenAIStub(StubConfig(api_key="sk-worker", latency_ms=300, seed=1)) as stub:
        _manage(env, "migrate", "--verbosity", "0")
        _manage(env, "shell", "-c", SETUP.format(url=stub.url))
        worker = _worker(env, log)
        try:
            _manage(env, "judge", "worker", "--judge", "stub")
            _wait_for(lambda: _statuses(query).get("done", 0) >= CALLS // 4, 60)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            in_flight = _statuses(query).get("running", 0)
            assert 0 < _statuses(query).get("done", 0) < CALLS
            resumed = _manage(
                env, "judge", "worker", "--judge", "stub", "--resume", "1", "--stale-after", "0"
            )
            assert int(resumed.split()[1]) > 0
            worker = _worker(env, log)
            _wait_for(lambda: _statuses(query) == {"done": CALLS}, 90)
        finally:
            worker.kill()
            worker.wait(10)
        paid = stub.stats()
    ratings = query("SELECT COUNT(*) FROM annotate_rating WHERE rater = 'stub'")[0][0]
    distinct = query(
        "SELECT COUNT(*) FROM (SELECT DISTINCT pair_id, criterion_id, shown_first"
        " FROM annotate_rating WHERE rater = 'stub') AS units"
    )[0][0]
    run_status = query("SELECT status FROM judges_judgerun")[0][0]
    assert (ratings, distinct) == (CALLS, CALLS), log.read_text()
    assert run_status == "done"
    assert paid["unique"] == CALLS
    assert paid["total"] - CALLS <= max(in_flight, WORKER_THREADS)
