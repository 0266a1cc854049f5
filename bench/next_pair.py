"""Next-pair benchmark: many labelers claiming and rating pairs over HTTP behind gunicorn.

Builds (or reuses) a generated project in a PostgreSQL benchmark database, starts gunicorn on a free
port, and drives it with N concurrent labelers (asyncio + httpx, token auth):
- realistic: think time around `--think` seconds between seeing a pair and submitting it;
- saturation: think time 0 for `--seconds`.
Prints next-pair latency p50/p95/p99, claims/s, HTTP errors, then checks the database for double
assignments (a labeler twice on a pair) and overlap overruns (a pair past its overlap).

    uv run python bench/next_pair.py --pairs 100000 --labelers 50
    uv run python bench/next_pair.py --pairs 1000000 --phases saturation   # project-size scaling
"""

import argparse
import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
from typing import Any

import httpx
from benchdb import ROOT, ensure_database, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/concord_bench"


def build_project(*, pairs: int, overlap: int, labelers: int) -> tuple[str, list[str]]:
    """A project of `pairs` pairs (one per prompt), fresh assignments, and labeler tokens."""
    from django.contrib.auth.models import User
    from django.core.management import call_command
    from django.db import connection
    from rest_framework.authtoken.models import Token

    from annotate.models import Criterion, Membership, Pair, Project, PromptSet

    call_command("migrate", verbosity=0)
    slug = f"bench-{pairs}"
    project = Project.objects.filter(slug=slug).first()
    if project is None or Pair.objects.filter(project=project).count() != pairs:
        if project is not None:
            project.delete()
        project = Project.objects.create(name=slug, slug=slug, overlap=overlap)
        Criterion.objects.create(project=project, key="helpfulness", question="Which is better?")
        prompt_set = PromptSet.objects.create(
            project=project, name="generated", kind="pairs", sha256="0" * 64
        )
        with connection.cursor() as cur:
            # Set-based inserts: generating a million pairs row by row would dwarf the benchmark.
            cur.execute(
                """INSERT INTO annotate_prompt
                          (project_id, prompt_set_id, external_id, text, category)
                   SELECT %s, %s, 'p' || g, 'Prompt number ' || g || '?', 'c' || (g %% 10)
                   FROM generate_series(1, %s) AS g""",
                [project.pk, prompt_set.pk, pairs],
            )
            cur.execute(
                """INSERT INTO annotate_completion (prompt_id, model, text)
                   SELECT p.id, m.model, 'Answer of ' || m.model || ' to ' || p.external_id
                   FROM annotate_prompt p CROSS JOIN (VALUES ('model-a'), ('model-b')) AS m(model)
                   WHERE p.project_id = %s""",
                [project.pk],
            )
            cur.execute(
                """INSERT INTO annotate_pair
                          (project_id, prompt_id, completion_a_id, completion_b_id,
                          model_a, model_b, claims, a_first_claims, b_first_claims, submitted,
                          priority)
                   SELECT %s, p.id, a.id, b.id, 'model-a', 'model-b', 0, 0, 0, 0, 0
                   FROM annotate_prompt p
                   JOIN annotate_completion a ON a.prompt_id = p.id AND a.model = 'model-a'
                   JOIN annotate_completion b ON b.prompt_id = p.id AND b.model = 'model-b'
                   WHERE p.project_id = %s""",
                [project.pk, project.pk],
            )
            cur.execute("ANALYZE")
    else:
        # Reuse the pairs, forget earlier runs' work so every run starts from the same state.
        project.assignments.all().delete()
        Pair.objects.filter(project=project).update(
            claims=0, a_first_claims=0, b_first_claims=0, expired_lean=0, submitted=0
        )
        from annotate.models import Rating

        Rating.objects.filter(pair__project=project).delete()
    project.overlap = overlap
    project.save(update_fields=["overlap"])
    from annotate.services.assignment import project_open_pairs_refresh

    project_open_pairs_refresh(project=project)
    tokens = []
    for i in range(labelers):
        user, _ = User.objects.get_or_create(username=f"bench-labeler-{i}")
        Membership.objects.get_or_create(project=project, user=user, defaults={"role": "labeler"})
        tokens.append(Token.objects.get_or_create(user=user)[0].key)
    return slug, tokens


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_gunicorn(database_url: str, workers: int) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    env = {
        **os.environ,
        "DATABASE_URL": database_url,
        "DEBUG": "0",
        "SECRET_KEY": "bench-only-secret-key-not-for-production",
        "ALLOWED_HOSTS": "127.0.0.1",
        "DB_CONN_MAX_AGE": "600",
    }
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "gunicorn",
            "concord.wsgi:application",
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(100):
        try:
            httpx.get(base + "/api/schema/", timeout=1)
            return proc, base
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise SystemExit("gunicorn did not start")


async def labeler(
    client: httpx.AsyncClient,
    *,
    slug: str,
    token: str,
    think: float,
    deadline: float,
    stats: dict[str, Any],
    rng: random.Random,
) -> None:
    headers = {"Authorization": f"Token {token}"}
    if think:
        # Labelers arrive spread over one think time, as people do, not all in the same instant.
        await asyncio.sleep(rng.uniform(0, think))
    while time.monotonic() < deadline:
        started = time.perf_counter()
        response = await client.get(f"/api/projects/{slug}/next/", headers=headers)
        stats["next_ms"].append((time.perf_counter() - started) * 1000)
        if response.status_code == 204:
            return
        if response.status_code != 200:
            stats["errors"].append(response.status_code)
            continue
        body = response.json()
        # A reload of a still-open assignment is not a claim: only a new assignment id is.
        if body["assignment_id"] not in stats["holder"]:
            stats["claims"].append(time.monotonic())
            stats["holder"][body["assignment_id"]] = token
        elif stats["holder"][body["assignment_id"]] != token:
            stats["doubles"].append(body["assignment_id"])
        if think:
            await asyncio.sleep(max(0.0, rng.gauss(think, think / 5)))
        values = {c["key"]: rng.choice(c["choices"]) for c in body["criteria"]}
        started = time.perf_counter()
        submit = await client.post(
            f"/api/assignments/{body['assignment_id']}/ratings/",
            json={"ratings": values},
            headers=headers,
        )
        stats["submit_ms"].append((time.perf_counter() - started) * 1000)
        if submit.status_code != 200 and submit.status_code != 201:
            stats["errors"].append(submit.status_code)


async def run_phase(
    base: str, *, slug: str, tokens: list[str], think: float, seconds: float, seed: int
) -> dict[str, Any]:
    stats: dict[str, Any] = {
        "next_ms": [],
        "submit_ms": [],
        "claims": [],
        "errors": [],
        "doubles": [],
        "holder": {},
    }
    limits = httpx.Limits(max_connections=len(tokens) + 4)
    async with httpx.AsyncClient(base_url=base, timeout=30, limits=limits) as client:
        deadline = time.monotonic() + seconds
        await asyncio.gather(
            *[
                labeler(
                    client,
                    slug=slug,
                    token=token,
                    think=think,
                    deadline=deadline,
                    stats=stats,
                    rng=random.Random(seed + i),
                )
                for i, token in enumerate(tokens)
            ]
        )
    return stats


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


def integrity(slug: str) -> tuple[int, int]:
    """(pairs a labeler held twice, pairs past overlap), from the database after the run.

    A pair is past overlap when more labelers hold or submitted it, or more human raters rated
    it, than the project's overlap.
    """
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """SELECT count(*) FROM (SELECT a.pair_id, a.labeler_id FROM annotate_assignment a
               JOIN annotate_project p ON p.id = a.project_id WHERE p.slug = %s
               GROUP BY a.pair_id, a.labeler_id HAVING count(*) > 1) d""",
            [slug],
        )
        doubles = cur.fetchone()[0]
        cur.execute(
            """SELECT count(*) FROM (
                 SELECT a.pair_id FROM annotate_assignment a
                 JOIN annotate_project p ON p.id = a.project_id
                 WHERE p.slug = %s AND a.status IN ('open', 'submitted')
                 GROUP BY a.pair_id, p.overlap HAVING count(*) > p.overlap
                 UNION
                 SELECT r.pair_id FROM annotate_rating r
                 JOIN annotate_pair pa ON pa.id = r.pair_id
                 JOIN annotate_project p ON p.id = pa.project_id
                 WHERE p.slug = %s AND r.rater_kind = 'human'
                 GROUP BY r.pair_id, p.overlap HAVING count(DISTINCT r.rater) > p.overlap) o""",
            [slug, slug],
        )
        overruns = cur.fetchone()[0]
    return doubles, overruns


def report(name: str, stats: dict[str, Any], seconds: float) -> None:
    nexts = stats["next_ms"]
    print(
        f"{name:<12} next p50 {percentile(nexts, 50):7.1f} ms  p95 {percentile(nexts, 95):7.1f} ms"
        f"  p99 {percentile(nexts, 99):7.1f} ms  claims/s {len(stats['claims']) / seconds:7.1f}"
        f"  submits p95 {percentile(stats['submit_ms'], 95):7.1f} ms"
        f"  errors {len(stats['errors'])} {sorted(set(stats['errors']))}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--overlap", type=int, default=3)
    parser.add_argument("--labelers", type=int, default=50)
    parser.add_argument("--think", type=float, default=5.0, help="mean think time, seconds")
    parser.add_argument("--seconds", type=float, default=60.0, help="length of each phase")
    parser.add_argument(
        "--workers", type=int, default=os.cpu_count() or 2, help="gunicorn workers (default: cores)"
    )
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument(
        "--phases", default="realistic,saturation", help="which phases to run, comma-separated"
    )
    args = parser.parse_args()
    phases = set(args.phases.split(","))
    if not phases <= {"realistic", "saturation"}:
        parser.error(f"unknown phase in --phases {args.phases}")

    ensure_database(args.database_url)
    setup_django(args.database_url)
    started = time.perf_counter()
    slug, tokens = build_project(pairs=args.pairs, overlap=args.overlap, labelers=args.labelers)
    print(
        f"project {slug}: {args.pairs} pairs, overlap {args.overlap}, {len(tokens)} labelers "
        f"(ready in {time.perf_counter() - started:.1f} s); gunicorn {args.workers} workers; "
        f"{os.cpu_count()} cores"
    )
    proc, base = start_gunicorn(args.database_url, args.workers)
    phase_stats: list[dict[str, Any]] = []
    try:
        if "realistic" in phases:
            realistic = asyncio.run(
                run_phase(
                    base,
                    slug=slug,
                    tokens=tokens,
                    think=args.think,
                    seconds=args.seconds,
                    seed=args.seed,
                )
            )
            report("realistic", realistic, args.seconds)
            phase_stats.append(realistic)
        if "saturation" in phases:
            saturation = asyncio.run(
                run_phase(
                    base,
                    slug=slug,
                    tokens=tokens,
                    think=0.0,
                    seconds=args.seconds,
                    seed=args.seed + 1000,
                )
            )
            report("saturation", saturation, args.seconds)
            phase_stats.append(saturation)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    held_twice, overruns = integrity(slug)
    # An assignment handed to two labelers is seen by the clients; a pair held twice by one
    # labeler, in the database.
    doubles = held_twice + sum(len(stats["doubles"]) for stats in phase_stats)
    server_errors = sum(code >= 500 for stats in phase_stats for code in stats["errors"])
    print(
        f"double assignments {doubles}  overlap overruns {overruns}  server errors {server_errors}"
    )
    print(
        "targets: realistic p95 <= 50 ms; saturation >= 150 claims/s, p99 <= 500 ms, no 5xx; "
        "0 double assignments; 0 overruns"
    )
    if doubles or overruns or server_errors:
        raise SystemExit("FAILED: double assignments, overlap overruns or server errors")


if __name__ == "__main__":
    main()
