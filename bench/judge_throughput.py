"""Judge-run throughput benchmark: N calls through a real Celery worker against a rate-limited stub.

Starts the OpenAI-compatible stub in this process (200 ms latency, 600 requests per minute and a
token-per-minute budget, 429 with Retry-After past either), a real Celery worker in a subprocess
(kombu's filesystem transport in a temporary folder, or Redis with --redis, on a queue of its own),
builds a project in a PostgreSQL benchmark database with enough pairs for N calls (one criterion,
both orders: N / 2 pairs, texts unique to this run so no earlier answer is reused), runs the judge
and prints:

- wall time from the start of the run to its last call,
- the bound the limits allow: N / rpm minutes, or the tokens the stub counts / tpm minutes if
  that is tighter, and their ratio (target <= 1.11),
- 429 answers per call (target < 1%),
- calls made by an immediate rerun of the same work (target 0, from the stub's stats).

It also checks the run: every call done, one verdict per call, each request paid once.

    uv run python bench/judge_throughput.py --calls 1000          # about two minutes
    uv run python bench/judge_throughput.py                       # 10,000 calls: about 17 minutes
    uv run python bench/judge_throughput.py --calls 1000 --redis  # Redis broker
"""

import argparse
import os
import subprocess
import sys
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from benchdb import ROOT, ensure_database, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/concord_bench_judge"
DEFAULT_REDIS = "redis://127.0.0.1:6379/0"
KEY_ENV = "BENCH_JUDGE_KEY"
KEY = "sk-bench-judge"
TARGET_RATIO = 1.11
TARGET_429_SHARE = 0.01
MAX_TOKENS = 64


def build_project(*, calls: int, nonce: str) -> str:
    """A project with calls / 2 pairs of one criterion, texts unique to this run; its slug."""
    from django.core.management import call_command
    from django.db import transaction

    from annotate.models import Completion, Criterion, Pair, Project, Prompt, PromptSet

    call_command("migrate", verbosity=0)
    slug = f"bench-judge-{nonce}"
    pairs = (calls + 1) // 2
    with transaction.atomic():
        project = Project.objects.create(name=slug, slug=slug)
        Criterion.objects.create(project=project, key="helpfulness", question="More helpful?")
        prompt_set = PromptSet.objects.create(
            project=project, name="generated", kind="pairs", sha256="0" * 64
        )
        prompts = Prompt.objects.bulk_create(
            [
                Prompt(
                    project=project,
                    prompt_set=prompt_set,
                    external_id=f"p{n}",
                    text=f"Question {n} of run {nonce}: how do tides work? Explain briefly.",
                    category=f"c{n % 5}",
                )
                for n in range(pairs)
            ],
            batch_size=2000,
        )
        completions = Completion.objects.bulk_create(
            [
                Completion(prompt=prompt, model=model, text=text)
                for n, prompt in enumerate(prompts)
                for model, text in (
                    ("model-a", f"Answer {n}: the moon pulls the sea. " * (1 + n % 3)),
                    ("model-b", f"Answer {n}: gravity of moon and sun makes tides. " * 2),
                )
            ],
            batch_size=4000,
        )
        Pair.objects.bulk_create(
            [
                Pair(
                    project=project,
                    prompt=prompts[i],
                    completion_a=completions[2 * i],
                    completion_b=completions[2 * i + 1],
                    model_a="model-a",
                    model_b="model-b",
                )
                for i in range(pairs)
            ],
            batch_size=4000,
        )
    return slug


def start_worker(env: dict[str, str], queue: str, threads: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "celery", "-A", "concord", "worker", "--pool", "threads"]
    command += ["--concurrency", str(threads), "--loglevel", "warning", "--queues", queue]
    return subprocess.Popen(
        command, cwd=ROOT, env=env, stdout=log.open("ab"), stderr=subprocess.STDOUT
    )


def wait_for_worker(ready_file: Path, worker: subprocess.Popen, timeout: float) -> None:
    """Until the worker consumes: the clock must not count its start."""
    deadline = time.monotonic() + timeout
    while not ready_file.exists():
        if worker.poll() is not None or time.monotonic() > deadline:
            raise SystemExit(f"the worker did not start (log: {ready_file.parent / 'worker.log'})")
        time.sleep(0.1)
    time.sleep(1)  # its own start-up recovery runs right after


def wait_for_run(run, timeout: float) -> None:
    from judges.models import RunStatus

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        run.refresh_from_db(fields=["status", "finished_at"])
        if run.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
            return
        time.sleep(0.5)
    raise SystemExit(f"run {run.pk} did not finish within {timeout:.0f} s (status {run.status})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=10_000)
    parser.add_argument("--rpm", type=int, default=600)
    parser.add_argument(
        "--tpm", type=int, default=300_000, help="the stub's and the judge's token budget"
    )
    parser.add_argument("--latency-ms", type=int, default=200)
    parser.add_argument("--threads", type=int, default=8, help="worker threads")
    parser.add_argument("--concurrency", type=int, default=8, help="the judge's calls in flight")
    parser.add_argument("--redis", action="store_true", help=f"broker {DEFAULT_REDIS}")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    options = parser.parse_args()
    if options.calls < 2:
        parser.error("--calls must be at least 2")

    nonce = uuid.uuid4().hex[:10]
    queue = f"bench-judge-{nonce}"
    var_dir = Path(tempfile.mkdtemp(prefix="concord-bench-judge-"))
    # The worker and this process must agree on database, broker and queue before Django starts.
    ready_file = var_dir / "worker-ready"
    os.environ.update(
        {
            "CONCORD_WORKER_READY_FILE": str(ready_file),
            "CONCORD_VAR_DIR": str(var_dir),
            "CONCORD_TEST_QUEUE": queue,
            "DJANGO_SETTINGS_MODULE": "judges.tests.worker_settings",
            KEY_ENV: KEY,
        }
    )
    os.environ.pop("CELERY_BROKER_URL", None)
    if options.redis:
        os.environ["CELERY_BROKER_URL"] = DEFAULT_REDIS
    ensure_database(options.database_url)
    setup_django(options.database_url)

    from django.db.models import Count, Sum

    from annotate.models import Project, Rating
    from judges.models import CallStatus, JudgeCall, JudgeRun, RunStatus
    from judges.services import judge_create, judge_run_cancel, judge_run_start
    from judges.stub import OpenAIStub, StubConfig

    # Runs an interrupted benchmark left unfinished would be picked up by this run's worker.
    for leftover in JudgeRun.objects.filter(status__in=[RunStatus.QUEUED, RunStatus.RUNNING]):
        judge_run_cancel(run=leftover)
        print(f"cancelled run {leftover.pk}, left unfinished by an earlier benchmark")
    started = time.perf_counter()
    slug = build_project(calls=options.calls, nonce=nonce)
    project = Project.objects.get(slug=slug)
    print(f"project {slug}: {project.pairs.count()} pairs in {time.perf_counter() - started:.1f} s")
    config = StubConfig(
        latency_ms=options.latency_ms, rpm=options.rpm, tpm=options.tpm, api_key=KEY, seed=1
    )
    log = var_dir / "worker.log"
    with OpenAIStub(config) as stub:
        judge = judge_create(
            name=f"bench-{nonce}",
            model="stub-model",
            base_url=stub.url,
            api_key_env=KEY_ENV,
            max_tokens=MAX_TOKENS,
            price_in=Decimal("2.5"),
            price_out=Decimal("10"),
            rpm=options.rpm,
            tpm=options.tpm,
            concurrency=options.concurrency,
            timeout_s=30,
        )
        worker = start_worker(dict(os.environ), queue, options.threads, log)
        try:
            wait_for_worker(ready_file, worker, timeout=60)
            limit = (options.calls + 1) // 2
            t0 = time.time()
            run = judge_run_start(project=project, judge=judge, limit=limit)
            expected_calls = run.calls.count()
            bound_s = expected_calls * 60 / options.rpm
            wait_for_run(run, timeout=max(600.0, bound_s * 3))
            wall_s = run.finished_at.timestamp() - t0
            first = stub.stats()

            rerun = judge_run_start(project=project, judge=judge, limit=limit)
            wait_for_run(rerun, timeout=600)
            second = stub.stats()
        finally:
            worker.kill()
            worker.wait(10)
    if options.redis:
        import redis

        client = redis.Redis.from_url(DEFAULT_REDIS)
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)

    statuses = {
        row["status"]: row["n"]
        for row in JudgeCall.objects.filter(run=run).values("status").annotate(n=Count("id"))
    }
    rerun_statuses = {
        row["status"]: row["n"]
        for row in JudgeCall.objects.filter(run=rerun).values("status").annotate(n=Count("id"))
    }
    # What the stub counted against its token budget: prompt tokens + max_tokens per request.
    tokens = JudgeCall.objects.filter(run=run).aggregate(p=Sum("prompt_tokens"))["p"] or 0
    stub_tokens = tokens + MAX_TOKENS * expected_calls
    token_bound_s = stub_tokens * 60 / options.tpm if options.tpm else 0.0
    limit_bound_s = max(bound_s, token_bound_s)
    too_many = first["statuses"].get("429", 0)
    verdicts = Rating.objects.filter(rater=judge.name).count()

    print(f"calls: {expected_calls} (broker: {'redis' if options.redis else 'filesystem'})")
    print(f"wall time: {wall_s:.1f} s")
    print(
        f"bound: {limit_bound_s:.1f} s (requests {bound_s:.1f} s at {options.rpm} rpm, "
        f"tokens {token_bound_s:.1f} s for {stub_tokens} tokens at {options.tpm} tpm)"
    )
    ratio = wall_s / limit_bound_s
    print(f"ratio: {ratio:.3f} (target <= {TARGET_RATIO})")
    print(f"429s: {too_many} = {too_many / expected_calls:.2%} of calls (target < 1%)")
    print(f"rerun calls: {second['total'] - first['total']} (target 0)")
    print(f"statuses: run {statuses}, rerun {rerun_statuses}")
    problems = []
    if statuses != {CallStatus.DONE: expected_calls}:
        problems.append(f"not every call is done: {statuses}")
    if verdicts != expected_calls:
        problems.append(f"{verdicts} verdicts for {expected_calls} calls")
    if first["unique"] != expected_calls:
        problems.append(f"the stub answered {first['unique']} distinct requests")
    if rerun_statuses != {CallStatus.DONE: expected_calls}:
        problems.append(f"the rerun did not finish cleanly: {rerun_statuses}")
    if second["total"] != first["total"]:
        problems.append("the rerun paid for calls again")
    if ratio > TARGET_RATIO:
        problems.append(f"wall time is {ratio:.3f} x the bound")
    if too_many / expected_calls >= TARGET_429_SHARE:
        problems.append("too many 429s")
    print("OK" if not problems else "PROBLEMS: " + "; ".join(problems))
    if problems:
        print(f"(worker log: {log})")
        raise SystemExit(1)


if __name__ == "__main__":
    main()
