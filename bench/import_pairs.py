"""Import benchmark: a completions file of P prompts x M models through the lead's upload page.

Writes the CSV (seeded) and a multipart form around it to temporary files, then hands the POST
to Django's WSGI handler in this process with the body read from disk, as a server streams it:
the same middleware, form, view and service as over HTTP, without a server and without a copy of
the file in the benchmark's own memory. While the request runs, a second thread polls the
upload's progress twice a second as the page does (the `?progress=` GET of the same view) and
prints each new stage. Runs against a PostgreSQL benchmark database, into a fresh project each
run (deleted after). Prints wall time, pairs created, and the peak RSS of this process during the
request (the peak is reset just before it; Linux only) next to the RSS before it.
Targets: 28,000 pairs (1,000 x 8) <= 2.5 s; 280,000 pairs (10,000 x 8) <= 25 s and <= 500 MB,
with progress.

    uv run python bench/import_pairs.py --prompts 1000 --models 8
    uv run python bench/import_pairs.py --prompts 10000 --database-url postgres://...
"""

import argparse
import csv
import io
import json
import os
import random
import re
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import IO, Any

from benchdb import ensure_database, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/concord_bench_import"
BOUNDARY = "concord-bench-boundary"


def write_completions_csv(out: IO[str], *, prompts: int, models: int, seed: int) -> None:
    rng = random.Random(seed)
    writer = csv.writer(out)
    writer.writerow(["prompt_id", "prompt", "category", "model", "completion"])
    for p in range(prompts):
        text = f"Question {p}: " + " ".join(rng.choice("abcdefgh") * 5 for _ in range(20))
        for m in range(models):
            answer = " ".join(rng.choice("ijklmnop") * 6 for _ in range(rng.randint(20, 120)))
            writer.writerow([f"q{p}", text, f"cat{p % 20}", f"model-{m}", answer])


def write_multipart(body: IO[bytes], csv_path: Path, fields: dict[str, str]) -> None:
    for name, value in fields.items():
        body.write(
            f"--{BOUNDARY}\r\nContent-Disposition: form-data; "
            f'name="{name}"\r\n\r\n{value}\r\n'.encode()
        )
    body.write(
        f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; '
        f'filename="completions.csv"\r\nContent-Type: text/csv\r\n\r\n'.encode()
    )
    with csv_path.open("rb") as source:
        while chunk := source.read(1 << 20):
            body.write(chunk)
    body.write(f"\r\n--{BOUNDARY}--\r\n".encode())


def rss_mb(field: str) -> float:
    status = Path("/proc/self/status").read_text()
    match = re.search(rf"{field}:\s+(\d+) kB", status)
    return int(match.group(1)) / 1024 if match else float("nan")


def reset_peak_rss() -> bool:
    try:
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to the current RSS
    except OSError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)

    from django.conf import settings
    from django.core.handlers.wsgi import WSGIHandler
    from django.core.management import call_command
    from django.test import Client

    from annotate.models import Pair, Project
    from annotate.services.projects import member_add, project_create

    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = ["*"]
    slug = f"bench-import-{int(time.time())}"
    project = project_create(name=slug, slug=slug)
    lead = member_add(project=project, username="bench-lead", role="lead")
    client = Client()
    client.force_login(lead.user)
    csrf = secrets.token_hex(16)  # a 32-character CSRF secret, sent as cookie and header
    cookies = f"{settings.SESSION_COOKIE_NAME}={client.cookies[settings.SESSION_COOKIE_NAME].value}"
    cookies += f"; {settings.CSRF_COOKIE_NAME}={csrf}"
    upload_id = secrets.token_hex(16)
    page = f"/projects/{slug}/import/"

    def environ(method: str, query: str = "", **extra: Any) -> dict[str, Any]:
        return {
            "REQUEST_METHOD": method,
            "PATH_INFO": page,
            "QUERY_STRING": query,
            "SERVER_NAME": "bench",
            "SERVER_PORT": "80",
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(),
            "wsgi.errors": sys.stderr,
            "HTTP_COOKIE": cookies,
            "HTTP_X_CSRFTOKEN": csrf,
            **extra,
        }

    handler = WSGIHandler()
    statuses: list[str] = []

    def start_response(status: str, headers: list[tuple[str, str]]) -> None:
        statuses.append(status)

    def get(query: str = "") -> bytes:
        return b"".join(handler(environ("GET", query), start_response))

    with tempfile.TemporaryDirectory() as tmp:
        csv_path = Path(tmp) / "completions.csv"
        with csv_path.open("w", newline="", encoding="utf-8") as out:
            write_completions_csv(out, prompts=args.prompts, models=args.models, seed=args.seed)
        body_path = Path(tmp) / "body"
        form = {"kind": "completions", "pairs": "all", "seed": "0", "upload_id": upload_id}
        with body_path.open("wb") as body:
            write_multipart(body, csv_path, form)
        size_mb = csv_path.stat().st_size / 1e6

        get()  # a server answers many requests: load the URL conf, views and templates first
        done = threading.Event()
        shown: list[str] = []

        def poll() -> None:
            last = None
            while not done.wait(0.5):
                label = json.loads(get(f"progress={upload_id}"))["label"]
                if label.split(":")[0] != last:  # one line per stage
                    last = label.split(":")[0]
                    shown.append(f"  {time.perf_counter() - started:6.2f} s  {label}")
                    print(shown[-1], flush=True)

        peak_reset = reset_peak_rss()
        rss_before = rss_mb("VmRSS")
        poller = threading.Thread(target=poll, daemon=True)
        with body_path.open("rb") as wsgi_input:
            post = environ(
                "POST",
                **{
                    "wsgi.input": wsgi_input,
                    "CONTENT_TYPE": f"multipart/form-data; boundary={BOUNDARY}",
                    "CONTENT_LENGTH": str(body_path.stat().st_size),
                },
            )
            started = time.perf_counter()
            poller.start()
            html = b"".join(handler(post, start_response)).decode()
            elapsed = time.perf_counter() - started
        peak = rss_mb("VmHWM")
        done.set()
        poller.join()

    pairs = Pair.objects.filter(project=project).count()
    expected = args.prompts * args.models * (args.models - 1) // 2
    status = statuses[1] if len(statuses) > 1 else "?"
    print(
        f"{args.prompts} prompts x {args.models} models, {size_mb:.1f} MB CSV: HTTP {status}, "
        f"{pairs} pairs (expected {expected}) in {elapsed:.2f} s; peak RSS during the request "
        f"{peak:.0f} MB{'' if peak_reset else ' (process lifetime: no clear_refs)'} "
        f"(before it {rss_before:.0f} MB); {len(shown)} progress stages shown"
    )
    if "Imported" not in html:
        print(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html))[:2000])
    Project.objects.filter(pk=project.pk).delete()
    print("targets: 28,000 pairs <= 2.5 s; 280,000 pairs <= 25 s and <= 500 MB, with progress")
    sys.exit(0 if pairs == expected else 1)


if __name__ == "__main__":
    main()
