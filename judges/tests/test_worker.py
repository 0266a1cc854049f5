"""Judge runs through a real Celery worker: killed mid-run and restarted, and the faults a run
meets (its budget, a cancel, a 429 storm, a judge that never answers, a wrong key).

The workers and the commands run as separate processes, so they cannot see pytest's test
transaction: the tests give them a database of their own through DATABASE_URL (a throwaway
PostgreSQL database when DATABASE_URL points at PostgreSQL, as in CI; else a SQLite file),
migrated once for the module, and a broker through CELERY_BROKER_URL (Redis when the environment
names Redis, as CI does; else the filesystem transport in a temporary folder). Each worker has a
queue of its own. Slow: about a minute for the module.
"""

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import pytest

from conftest import service_missing
from judges.stub import OpenAIStub, StubConfig

ROOT = Path(__file__).resolve().parents[2]
PAIRS = 12  # x 2 criteria x 2 orders = 48 calls
CALLS = PAIRS * 4
WORKER_THREADS = 4
# The judge tunables (judges.conf) of every process here: waits short enough for a test.
TUNABLES = {
    "JUDGE_CLIENT_ATTEMPTS": "3",
    "JUDGE_CLIENT_BACKOFF_S": "0.2",
    "JUDGE_TASK_RETRIES": "2",
    "JUDGE_TASK_BACKOFF_S": "0.5",
    "JUDGE_BUSY_RETRY_S": "0.25",
    "JUDGE_WATCH_INTERVAL_S": "2",
}

Query = Callable[[str], list[tuple]]
MICRO_USD = Decimal("0.000001")

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

# For each scenario: a project with one criterion, a lead, a judge on the scenario's stub, and a
# run started on it. Prints {scenario: run id} as JSON.
SCENARIOS = """
import json
from decimal import Decimal
from django.contrib.auth.models import User
from annotate.models import Criterion, Membership, Project
from annotate.tests.factories import make_pair
from judges.client import call_cost
from judges.services import judge_create, judge_run_start
from judges.work import work_items

def start(slug, url, pairs, key_env="WORKER_TEST_KEY", timeout=10.0, budget_calls=0):
    project = Project.objects.create(name=slug, slug=slug)
    criterion = Criterion.objects.create(project=project, key="helpfulness", question="Helpful?")
    lead = User.objects.create_user(slug + "-lead")
    Membership.objects.create(project=project, user=lead, role="lead")
    for n in range(pairs):
        make_pair(project, texts=("x" * (n + 1), "y" * (50 - n)))
    judge = judge_create(name=slug, model="stub-model", base_url=url, api_key_env=key_env,
                         price_in=Decimal(1), price_out=Decimal(1), max_tokens=50,
                         concurrency=4, timeout_s=timeout)
    budget = None
    if budget_calls:
        (item, *_), _ = work_items(judge, project.pairs.order_by("id")[:1], [criterion],
                                   both_orders=True)
        worst = call_cost(judge, prompt_tokens=item.prompt_tokens_bound,
                          completion_tokens=judge.max_tokens)
        budget = worst * budget_calls
    return judge_run_start(project=project, judge=judge, budget_usd=budget).id

print(json.dumps({{name: start(**options) for name, options in {scenarios!r}.items()}}))
"""

PAGE = """
from django.contrib.auth.models import User
from django.test import Client
from django.test.utils import setup_test_environment
from judges.models import JudgeRun
setup_test_environment()
run = JudgeRun.objects.select_related("project").get(id={run})
client = Client()
client.force_login(User.objects.get(username=run.project.slug + "-lead"))
print(client.get(f"/projects/{{run.project.slug}}/judges/runs/{{run.id}}/").content.decode())
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


@pytest.fixture(scope="module")
def var_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("worker")
    for folder in ("broker/queue", "broker/processed"):
        (path / folder).mkdir(parents=True)
    return path


@pytest.fixture(scope="module")
def database(var_dir: Path) -> Iterator[tuple[str, Query]]:
    """(DATABASE_URL for the subprocesses, "" for the default SQLite file; a query function)."""
    url = os.environ.get("DATABASE_URL", "")
    if url.startswith("postgres"):
        yield from _postgres(url)
    else:
        yield from _sqlite(var_dir / "db.sqlite3")


@pytest.fixture(scope="module")
def broker_url() -> Iterator[str]:
    """CELERY_BROKER_URL for the subprocesses, "" for the filesystem transport."""
    url = os.environ.get("CELERY_BROKER_URL", "")
    if not url.startswith("redis"):
        yield ""
        return
    import redis

    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.ConnectionError:
        service_missing(f"Redis at {url}")
    client.close()
    yield url


@pytest.fixture(scope="module")
def base_env(
    var_dir: Path, database: tuple[str, Query], broker_url: str
) -> Iterator[dict[str, str]]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "CELERY_BROKER_URL", "DJANGO_SETTINGS_MODULE"}
    }
    env.update(
        CONCORD_VAR_DIR=str(var_dir),
        WORKER_TEST_KEY="sk-worker",
        WORKER_WRONG_KEY="sk-wrong",
        PYTHONUNBUFFERED="1",
        DJANGO_SETTINGS_MODULE="judges.tests.worker_settings",
        **TUNABLES,
    )
    if database[0]:
        env["DATABASE_URL"] = database[0]
    if broker_url:
        env["CELERY_BROKER_URL"] = broker_url
    _manage(env, "migrate", "--verbosity", "0")
    yield env


def _queue_env(base_env: dict[str, str], broker_url: str) -> Iterator[dict[str, str]]:
    """The environment of one worker and the commands that publish to it: a queue of its own."""
    queue = f"judge-worker-test-{uuid.uuid4().hex[:12]}"
    yield {**base_env, "CONCORD_TEST_QUEUE": queue}
    if broker_url:
        import redis

        client = redis.Redis.from_url(broker_url)
        # Messages left behind (duplicates the claims turned away) go with the test's queue.
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)
        client.close()


@pytest.fixture
def env(base_env: dict[str, str], broker_url: str) -> Iterator[dict[str, str]]:
    yield from _queue_env(base_env, broker_url)


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


def _shell(env: dict[str, str], code: str) -> Any:
    """Run `code` in `manage.py shell`; the JSON its last line prints."""
    return json.loads(_manage(env, "shell", "-c", code).strip().splitlines()[-1])


def _worker(env: dict[str, str], log: Path, name: str = "celery") -> subprocess.Popen[bytes]:
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
            "--hostname",
            f"{name}@%h",
            "--queues",
            env["CONCORD_TEST_QUEUE"],
        ],
        cwd=ROOT,
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _statuses(query: Query, run_id: int) -> dict[str, int]:
    return dict(
        query(f"SELECT status, COUNT(*) FROM judges_judgecall WHERE run_id = {run_id} GROUP BY 1")
    )


def _usd(value: object) -> Decimal | None:
    """A money column as the ledger keeps it (SQLite hands back floats)."""
    return None if value is None else Decimal(str(value)).quantize(MICRO_USD)


def _run_row(query: Query, run_id: int) -> dict[str, Any]:
    columns = ("status", "error", "spent_usd", "reserved_usd", "budget_usd")
    (row,) = query(f"SELECT {', '.join(columns)} FROM judges_judgerun WHERE id = {run_id}")
    values = dict(zip(columns, row, strict=True))
    return values | {key: _usd(values[key]) for key in columns[2:]}


def _wait_for(predicate: Callable[[], object], timeout: float, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.2)
    raise AssertionError("timed out waiting for the worker\n" + (log.read_text() if log else ""))


def _ended(query: Query, run_id: int) -> Callable[[], bool]:
    def ended() -> bool:
        status = _run_row(query, run_id)["status"]
        return status not in ("queued", "running") and not _statuses(query, run_id).get("running")

    return ended


def _mid_run(statuses: dict[str, int]) -> bool:
    return statuses.get("done", 0) >= CALLS // 4 and statuses.get("running", 0) == WORKER_THREADS


def test_a_worker_killed_mid_run_is_taken_over_by_its_restart_losing_and_doubling_nothing(
    env: dict[str, str], database: tuple[str, Query], var_dir: Path
) -> None:
    query, log = database[1], var_dir / f"{env['CONCORD_TEST_QUEUE']}.log"
    with OpenAIStub(StubConfig(api_key="sk-worker", latency_ms=300, seed=1)) as stub:
        _manage(env, "shell", "-c", SETUP.format(url=stub.url))
        worker = _worker(env, log)
        try:
            _manage(env, "judge", "worker", "--judge", "stub")
            (run_id,) = query("SELECT id FROM judges_judgerun WHERE judge_id = "
                              "(SELECT id FROM judges_judge WHERE name = 'stub')")[0]  # fmt: skip
            # Kill it a quarter through, with every thread in the middle of a call.
            _wait_for(lambda: _mid_run(_statuses(query, run_id)), 60, log)
            worker.send_signal(signal.SIGKILL)
            worker.wait(10)
            at_kill = _statuses(query, run_id)
            in_flight = at_kill.get("running", 0)
            assert 0 < at_kill.get("done", 0) < CALLS
            assert in_flight > 0, at_kill
            # Nobody resumes: the restarted worker takes over what its predecessor left.
            worker = _worker(env, log)
            _wait_for(lambda: _statuses(query, run_id) == {"done": CALLS}, 90, log)
        finally:
            worker.kill()
            worker.wait(10)
        paid = stub.stats()
    ratings = query("SELECT COUNT(*) FROM annotate_rating WHERE rater = 'stub'")[0][0]
    distinct = query(
        "SELECT COUNT(*) FROM (SELECT DISTINCT pair_id, criterion_id, shown_first"
        " FROM annotate_rating WHERE rater = 'stub') AS units"
    )[0][0]
    run = _run_row(query, run_id)
    assert (ratings, distinct) == (CALLS, CALLS), log.read_text()
    assert run["status"] == "done" and run["reserved_usd"] == 0
    assert paid["unique"] == CALLS
    # Only the requests in flight at the kill were sent twice.
    assert paid["total"] - CALLS <= in_flight
    assert "1 unfinished at worker start" in log.read_text()
    ledger = query(f"SELECT SUM(cost_usd) FROM judges_judgecall WHERE run_id = {run_id}")[0][0]
    assert run["spent_usd"] == _usd(ledger)


# --- faults, through one worker ------------------------------------------------------------------


@pytest.fixture(scope="module")
def fault_env(base_env: dict[str, str], broker_url: str, var_dir: Path) -> Iterator[dict[str, str]]:
    """A worker for the fault scenarios (each with its own project, judge and stub)."""
    for env in _queue_env(base_env, broker_url):
        log = var_dir / "faults.log"
        worker = _worker(env, log, name="faults")
        try:
            yield {**env, "LOG": str(log)}
        finally:
            worker.kill()
            worker.wait(10)


@dataclass(frozen=True)
class Scenario:
    run_id: int
    slug: str
    stub: OpenAIStub


# Stub and run options of each fault scenario. The runs go at once, side by side on the worker.
FAULTS: dict[str, tuple[StubConfig, dict[str, Any]]] = {
    "budget": (
        StubConfig(api_key="sk-worker", latency_ms=50, seed=2), {"pairs": 10, "budget_calls": 5}
    ),
    # 40 calls of 0.6 s, 4 at a time at most: the run outlasts the cancel command's start.
    "cancel": (StubConfig(api_key="sk-worker", latency_ms=600, seed=3), {"pairs": 20}),
    # Two requests a second, and a judge that does not know it: a storm of 429s.
    "storm": (StubConfig(api_key="sk-worker", rpm=2, window_s=1, seed=4), {"pairs": 12}),
    "hang": (StubConfig(api_key="sk-worker", hang=True), {"pairs": 2, "timeout": 0.3}),
    "wrong_key": (StubConfig(api_key="sk-worker"), {"pairs": 10, "key_env": "WORKER_WRONG_KEY"}),
}  # fmt: skip


@pytest.fixture(scope="module")
def faults(fault_env: dict[str, str]) -> Iterator[dict[str, Scenario]]:
    """Every fault scenario's run, started together through the fault worker."""
    stubs = {name: OpenAIStub(config).start() for name, (config, _) in FAULTS.items()}
    try:
        options = {
            name: {"slug": f"fault-{name.replace('_', '-')}", "url": stubs[name].url, **extra}
            for name, (_, extra) in FAULTS.items()
        }
        runs = _shell(fault_env, SCENARIOS.format(scenarios=options))
        yield {
            name: Scenario(int(runs[name]), options[name]["slug"], stubs[name]) for name in FAULTS
        }
    finally:
        for stub in stubs.values():
            stub.stop()


def test_a_run_through_a_worker_stops_at_its_budget_without_exceeding_it(
    faults: dict[str, Scenario], database: tuple[str, Query], fault_env: dict[str, str]
) -> None:
    query, scenario = database[1], faults["budget"]
    _wait_for(_ended(query, scenario.run_id), 60, Path(fault_env["LOG"]))
    run, statuses = _run_row(query, scenario.run_id), _statuses(query, scenario.run_id)
    assert run["status"] == "budget_stopped", (run, statuses)
    assert run["spent_usd"] <= run["budget_usd"] and run["reserved_usd"] == 0
    assert set(statuses) == {"done", "skipped_budget"} and statuses["done"] >= 5
    assert scenario.stub.stats()["total"] == statuses["done"]


def test_a_run_cancelled_through_a_worker_keeps_what_it_answered_and_asks_nothing_more(
    faults: dict[str, Scenario], database: tuple[str, Query], fault_env: dict[str, str]
) -> None:
    query, scenario, log = database[1], faults["cancel"], Path(fault_env["LOG"])
    run_id = scenario.run_id
    _wait_for(lambda: _statuses(query, run_id).get("done", 0) >= 4, 60, log)
    out = _manage(
        fault_env, "judge", scenario.slug, "--judge", scenario.slug, "--cancel", str(run_id)
    )
    assert out == f"Cancelled judge run {run_id}.\n"
    _wait_for(_ended(query, run_id), 30, log)
    time.sleep(1)  # any call still to come would come now
    statuses = _statuses(query, run_id)
    assert _run_row(query, run_id)["status"] == "cancelled"
    assert set(statuses) == {"done", "cancelled"} and statuses["cancelled"] > 0
    # The calls in flight at the cancel finished and were kept; nothing started after it.
    assert scenario.stub.stats()["total"] == statuses["done"]
    ratings = query(f"SELECT COUNT(*) FROM annotate_rating WHERE rater = '{scenario.slug}'")
    assert ratings[0][0] == statuses["done"]


def test_a_429_storm_through_a_worker_is_waited_out_as_retry_after_says(
    faults: dict[str, Scenario], database: tuple[str, Query], fault_env: dict[str, str]
) -> None:
    query, scenario = database[1], faults["storm"]
    _wait_for(_ended(query, scenario.run_id), 60, Path(fault_env["LOG"]))
    paid = scenario.stub.stats()
    assert _run_row(query, scenario.run_id)["status"] == "done"
    assert _statuses(query, scenario.run_id) == {"done": 24}
    assert paid["statuses"].get("429", 0) >= 3, paid["statuses"]
    # No request came back before its Retry-After, and none was paid twice.
    assert paid["early_retries"] == 0
    assert (paid["unique"], paid["total"]) == (24, 24)


def test_a_judge_that_never_answers_fails_its_calls_cleanly_and_the_run_ends(
    faults: dict[str, Scenario], database: tuple[str, Query], fault_env: dict[str, str]
) -> None:
    query, scenario = database[1], faults["hang"]
    _wait_for(_ended(query, scenario.run_id), 60, Path(fault_env["LOG"]))
    assert _run_row(query, scenario.run_id)["status"] == "done"
    rows = query(
        f"SELECT status, error, attempts FROM judges_judgecall WHERE run_id = {scenario.run_id}"
    )
    assert len(rows) == 4
    for status, error, attempts in rows:
        assert status == "failed"
        assert error == (
            f"judge {scenario.slug} gave no answer after 3 attempts: timed out after 0.3 s"
        )
        # Three attempts per try: the first try and its two retries.
        assert attempts == 9


def test_a_wrong_key_stops_the_run_at_once_and_its_page_says_why(
    faults: dict[str, Scenario], database: tuple[str, Query], fault_env: dict[str, str]
) -> None:
    query, scenario = database[1], faults["wrong_key"]
    _wait_for(_ended(query, scenario.run_id), 30, Path(fault_env["LOG"]))
    time.sleep(1)  # any call still to come would come now
    refused = scenario.stub.stats()["statuses"].get("401", 0)
    run = _run_row(query, scenario.run_id)
    message = "check the environment variable WORKER_WRONG_KEY. Fix it, then resume the run."
    assert run["status"] == "failed" and run["error"].endswith(message)
    # Not one refusal per call: only the calls already in flight when the first came back.
    assert 1 <= refused <= WORKER_THREADS
    assert _statuses(query, scenario.run_id) == {"queued": 20}
    page = _manage(fault_env, "shell", "-c", PAGE.format(run=scenario.run_id))
    assert message in page and "Traceback" not in page
    assert '<span class="badge" id="run-status">failed</span>' in page
