"""Import benchmark: a completions file of P prompts x M models through the upload API.

Generates the CSV in memory (seeded), then POSTs it to /api/projects/{slug}/imports/ in-process
(Django's test client: the same view, parser and service as over HTTP, without a server) against a
PostgreSQL benchmark database, into a fresh project each run. Prints wall time, pairs created and
the peak RSS of this process. Targets: 28,000 pairs (1,000 x 8) <= 2.5 s; 280,000 pairs
(10,000 x 8) <= 25 s and <= 500 MB.

    uv run python bench/import_pairs.py --prompts 1000 --models 8
"""

import argparse
import csv
import io
import os
import random
import resource
import time

from benchdb import ensure_database, setup_django

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/concord_bench_import"


def completions_csv(*, prompts: int, models: int, seed: int) -> bytes:
    rng = random.Random(seed)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["prompt_id", "prompt", "category", "model", "completion"])
    for p in range(prompts):
        text = f"Question {p}: " + " ".join(rng.choice("abcdefgh") * 5 for _ in range(20))
        for m in range(models):
            answer = " ".join(rng.choice("ijklmnop") * 6 for _ in range(rng.randint(20, 120)))
            writer.writerow([f"q{p}", text, f"cat{p % 20}", f"model-{m}", answer])
    return out.getvalue().encode()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--prompts", type=int, default=1000)
    parser.add_argument("--models", type=int, default=8)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    ensure_database(args.database_url)
    setup_django(args.database_url)

    from django.conf import settings
    from django.contrib.auth.models import User
    from django.core.files.uploadedfile import SimpleUploadedFile
    from django.core.management import call_command
    from django.test import Client

    from annotate.models import Pair, Project
    from annotate.services.projects import member_add, project_create

    call_command("migrate", verbosity=0)
    settings.ALLOWED_HOSTS = ["*"]
    data = completions_csv(prompts=args.prompts, models=args.models, seed=args.seed)
    slug = f"bench-import-{int(time.time())}"
    project = project_create(name=slug, slug=slug)
    member_add(project=project, username="bench-lead", role="lead")
    client = Client()
    client.force_login(User.objects.get(username="bench-lead"))
    upload = SimpleUploadedFile("completions.csv", data, content_type="text/csv")
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    started = time.perf_counter()
    response = client.post(
        f"/api/projects/{slug}/imports/", {"file": upload, "kind": "completions"}
    )
    elapsed = time.perf_counter() - started
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    pairs = Pair.objects.filter(project=project).count()
    expected = args.prompts * args.models * (args.models - 1) // 2
    print(
        f"{args.prompts} prompts x {args.models} models, {len(data) / 1e6:.1f} MB CSV: HTTP "
        f"{response.status_code}, {pairs} pairs (expected {expected}) in {elapsed:.2f} s; "
        f"peak RSS {peak:.0f} MB (before the upload {rss_before:.0f} MB)"
    )
    Project.objects.filter(pk=project.pk).delete()
    print("targets: 28,000 pairs <= 2.5 s; 280,000 pairs <= 25 s and <= 500 MB")


if __name__ == "__main__":
    main()
