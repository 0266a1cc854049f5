"""Export benchmark: 300,000 ratings with their texts to CSV and JSONL (and Parquet with
`--formats csv,jsonl,parquet`), timed, with peak memory.

Builds (or reuses) a generated project in a PostgreSQL benchmark database with set-based SQL
inserts: `--pairs` pairs (one per prompt, completions of about `--text-chars` characters, one in
ten starting with "- " so CSV escaping is exercised), two criteria and three human raters per pair
and criterion. Each export then runs `manage.py export` in a fresh subprocess, which reports its own
wall time and peak RSS (ru_maxrss), and the file is read back and checked: every rating once, the
right texts. Targets: <= 15 s and <= 250 MB per export.

    uv run python bench/export.py                 # 50,000 pairs x 2 criteria x 3 raters = 300,000
"""

import argparse
import csv
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from benchdb import ensure_database, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/concord_bench_export"
TARGET_SECONDS = 15.0
TARGET_MB = 250.0
RATERS = 3
CRITERIA = ("helpfulness", "truthfulness")


def build_project(*, pairs: int, text_chars: int) -> tuple[str, int]:
    """The project's slug and its number of ratings (pairs x criteria x raters)."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from annotate.models import Criterion, Project, PromptSet, Rating

    call_command("migrate", verbosity=0)
    slug = f"bench-export-{pairs}-{text_chars}"
    expected = pairs * len(CRITERIA) * RATERS
    project = Project.objects.filter(slug=slug).first()
    if project is not None and Rating.objects.filter(pair__project=project).count() == expected:
        return slug, expected
    with transaction.atomic():
        if project is not None:
            project.delete()
        project = Project.objects.create(name=slug, slug=slug)
        for position, key in enumerate(CRITERIA):
            Criterion.objects.create(
                project=project, key=key, question=f"Which is {key}?", position=position
            )
        prompt_set = PromptSet.objects.create(
            project=project, name="generated", kind="pairs", sha256="0" * 64
        )
        filler = "The quick brown fox jumps over the lazy dog, then explains why. "
        repeats = max(1, text_chars // len(filler))
        with connection.cursor() as cur:
            # Set-based inserts: building 300,000 ratings through the ORM would dwarf the export.
            cur.execute(
                """INSERT INTO annotate_prompt
                          (project_id, prompt_set_id, external_id, text, category)
                   SELECT %s, %s, 'p' || g,
                          'Prompt number ' || g || ': ' || repeat('please explain this, ', 8),
                          'c' || (g %% 10)
                   FROM generate_series(1, %s) AS g""",
                [project.pk, prompt_set.pk, pairs],
            )
            cur.execute(
                """INSERT INTO annotate_completion (prompt_id, model, text)
                   SELECT p.id, m.model,
                          CASE WHEN p.id %% 10 = 0 THEN '- ' ELSE '' END
                          || m.model || ' answers ' || p.external_id || '. ' || repeat(%s, %s)
                   FROM annotate_prompt p
                   CROSS JOIN (VALUES ('model-a'), ('model-b')) AS m(model)
                   WHERE p.project_id = %s""",
                [filler, repeats, project.pk],
            )
            cur.execute(
                """INSERT INTO annotate_pair
                          (project_id, prompt_id, completion_a_id, completion_b_id,
                          model_a, model_b, claims, a_first_claims, b_first_claims, submitted,
                          priority)
                   SELECT %s, p.id, a.id, b.id, 'model-a', 'model-b', 3, 2, 1, 3, 0
                   FROM annotate_prompt p
                   JOIN annotate_completion a ON a.prompt_id = p.id AND a.model = 'model-a'
                   JOIN annotate_completion b ON b.prompt_id = p.id AND b.model = 'model-b'
                   WHERE p.project_id = %s""",
                [project.pk, project.pk],
            )
            # Preference in -4..4 on the 8-point scale (K = 4); value_shown follows the order.
            cur.execute(
                """INSERT INTO annotate_rating
                          (pair_id, criterion_id, rater_kind, rater, user_id, assignment_id,
                          shown_first, value_shown, preference, verdict, with_suggestion,
                          rationale, source, created_at, updated_at)
                   SELECT pair_id, criterion_id, 'human', 'labeler-' || r, NULL, NULL,
                          CASE WHEN a_first THEN 'a' ELSE 'b' END,
                          CASE WHEN shown = 0 THEN 'tie'
                               WHEN shown < 0 THEN (5 + shown)::text
                               ELSE (4 + shown)::text END,
                          pref,
                          CASE WHEN pref < 0 THEN 'a' WHEN pref > 0 THEN 'b' ELSE 'tie' END,
                          false,
                          CASE WHEN r = 1 THEN '=because it is shorter' ELSE '' END,
                          'labeling', now(), now()
                   FROM (
                       SELECT pr.id AS pair_id, c.id AS criterion_id, r,
                              (pr.id + r) %% 2 = 0 AS a_first,
                              ((pr.id * 7 + r * 3 + c.position) %% 9) - 4 AS pref,
                              CASE WHEN (pr.id + r) %% 2 = 0
                                   THEN ((pr.id * 7 + r * 3 + c.position) %% 9) - 4
                                   ELSE 4 - ((pr.id * 7 + r * 3 + c.position) %% 9) END AS shown
                       FROM annotate_pair pr
                       CROSS JOIN generate_series(1, %s) AS r
                       CROSS JOIN annotate_criterion c
                       WHERE pr.project_id = %s AND c.project_id = %s
                   ) AS g""",
                [RATERS, project.pk, project.pk],
            )
            cur.execute("ANALYZE")
    return slug, expected


def child(slug: str, fmt: str, out: str) -> None:
    """Run the export command in this process and print its time, rows and peak RSS as JSON."""
    from io import StringIO

    from django.core.management import call_command

    started = time.perf_counter()
    stdout = StringIO()
    call_command("export", slug, "--format", fmt, "--out", out, stdout=stdout)
    seconds = time.perf_counter() - started
    maxrss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps({"seconds": seconds, "maxrss_mb": maxrss_mb, "output": stdout.getvalue()}))


def check_file(fmt: str, path: Path, expected: int) -> str:
    """Read the export back: every rating exactly once, texts whole, formula cells escaped."""
    ids: set[int] = set()
    rows = 0
    escaped = 0
    if fmt == "csv":
        csv.field_size_limit(sys.maxsize)
        with path.open(newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                rows += 1
                ids.add(int(row["rating_id"]))
                escaped += row["completion_a"].startswith("'- ")
                if row["completion_a"].startswith("- ") or row["rationale"].startswith("="):
                    return f"FAIL: unescaped formula cell in rating {row['rating_id']}"
                if not row["completion_b"].lstrip("'-").lstrip().startswith("model-b answers"):
                    return f"FAIL: wrong text in rating {row['rating_id']}"
    elif fmt == "parquet":
        import pyarrow.parquet as pq

        # Row group by row group, so the check holds no more of the file than the export did.
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(columns=["rating_id", "completion_b"]):
            for rating_id, text in zip(
                batch.column(0).to_pylist(), batch.column(1).to_pylist(), strict=True
            ):
                rows += 1
                ids.add(rating_id)
                if not text.lstrip("- ").startswith("model-b answers"):
                    return f"FAIL: wrong text in rating {rating_id}"
    else:
        with path.open(encoding="utf-8") as handle:
            for line in handle:
                record = json.loads(line)
                rows += 1
                ids.add(record["rating_id"])
                if not record["completion_b"].lstrip("- ").startswith("model-b answers"):
                    return f"FAIL: wrong text in rating {record['rating_id']}"
    if rows != expected or len(ids) != expected:
        return f"FAIL: {rows} rows, {len(ids)} distinct ratings, expected {expected}"
    note = f", {escaped} escaped cells" if fmt == "csv" else ""
    return f"ok: {rows} rows, every rating once{note}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--pairs", type=int, default=50_000)
    parser.add_argument("--text-chars", type=int, default=1000, help="characters per completion")
    parser.add_argument("--formats", default="csv,jsonl")
    parser.add_argument(
        "--child", nargs=3, metavar=("SLUG", "FORMAT", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args()

    if args.child:
        setup_django(args.database_url)
        child(*args.child)
        return

    ensure_database(args.database_url)
    setup_django(args.database_url)
    started = time.perf_counter()
    slug, expected = build_project(pairs=args.pairs, text_chars=args.text_chars)
    print(
        f"project {slug}: {expected} ratings on {args.pairs} pairs, completions of "
        f"~{args.text_chars} chars (ready in {time.perf_counter() - started:.1f} s); "
        f"{os.cpu_count()} cores"
    )
    failed = False
    with tempfile.TemporaryDirectory() as tmp:
        for fmt in args.formats.split(","):
            out = Path(tmp) / f"export.{fmt}"
            result = subprocess.run(
                [
                    sys.executable,
                    __file__,
                    "--database-url",
                    args.database_url,
                    "--child",
                    slug,
                    fmt,
                    str(out),
                ],
                capture_output=True,
                text=True,
                check=True,
            )
            figures = json.loads(result.stdout.strip().splitlines()[-1])
            size_mb = out.stat().st_size / 1e6
            check = check_file(fmt, out, expected)
            within = figures["seconds"] <= TARGET_SECONDS and figures["maxrss_mb"] <= TARGET_MB
            failed |= not within or check.startswith("FAIL")
            print(
                f"{fmt:5}: {figures['seconds']:.2f} s (target <= {TARGET_SECONDS:.0f}), "
                f"peak RSS {figures['maxrss_mb']:.0f} MB (target <= {TARGET_MB:.0f}), "
                f"{size_mb:.0f} MB written, {expected / figures['seconds']:,.0f} ratings/s "
                f"[{'within target' if within else 'OVER TARGET'}]; check {check}"
            )
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
