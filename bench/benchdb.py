"""What every benchmark needs: a PostgreSQL database of its own and Django set up against it."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def ensure_database(database_url: str) -> None:
    """Creates the benchmark's database when missing (benchmarks never touch the app's own)."""
    import psycopg

    name = database_url.rsplit("/", 1)[1]
    admin_url = database_url.rsplit("/", 1)[0] + "/postgres"
    with psycopg.connect(admin_url, autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{name}"')


def setup_django(database_url: str) -> None:
    sys.path.insert(0, str(ROOT))
    os.environ["DATABASE_URL"] = database_url
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concord.settings")
    import django

    django.setup()
