"""PostgreSQL stopped and restarted during labeling: requests fail cleanly, then work again.

A real server (`live_server`, its own thread and connection) and real HTTP; the cluster is stopped
and started with `pg_ctlcluster`, as an operator or a failover would. Runs in CI (root, the local
cluster); elsewhere it skips.
"""

import os
import shutil
import subprocess
import time
from pathlib import Path

import httpx
import pytest
from django.db import connection, connections
from rest_framework.authtoken.models import Token

from annotate.models import Rating
from annotate.tests.factories import make_pair
from conftest import service_missing

pytestmark = [pytest.mark.postgres, pytest.mark.django_db(transaction=True)]


def _cluster(action: str) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[0]
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", action],
        check=True,
        capture_output=True,
        timeout=120,
    )


def _wait_ready() -> None:
    for _ in range(120):
        ready = subprocess.run(["pg_isready", "-h", "127.0.0.1", "-q"], check=False)
        if ready.returncode == 0:
            return
        time.sleep(0.5)
    raise AssertionError("PostgreSQL did not come back within 60 s")


def test_labeling_fails_cleanly_while_postgresql_is_down_and_recovers_when_it_is_back(
    live_server, project, alice
):
    if connection.vendor != "postgresql" or not shutil.which("pg_ctlcluster"):
        service_missing("a local PostgreSQL cluster that pg_ctlcluster can restart")
    if not Path("/etc/postgresql").is_dir() or os.geteuid() != 0:
        service_missing("root, to stop and start the PostgreSQL cluster")
    for _ in range(3):
        make_pair(project)
    token = Token.objects.create(user=alice).key
    headers = {"Authorization": f"Token {token}"}
    next_url = f"/api/projects/{project.slug}/next/"
    with httpx.Client(base_url=live_server.url, headers=headers, timeout=30) as client:
        before = client.get(next_url)
        assert before.status_code == 200
        assignment_id = before.json()["assignment_id"]

        _cluster("stop")
        try:
            started = time.monotonic()
            down = client.get(next_url)
            submit_down = client.post(
                f"/api/assignments/{assignment_id}/ratings/",
                json={"ratings": {"helpfulness": 2, "truthfulness": "tie"}},
            )
            took = time.monotonic() - started
        finally:
            _cluster("start")
            _wait_ready()
        assert down.status_code == 503, down.text
        assert down.json() == {
            "detail": "The database is unavailable for a moment; nothing was saved. "
            "Try again shortly."
        }
        assert down.headers["Retry-After"] == "5"
        assert submit_down.status_code == 503
        assert took < 20, f"the failing requests took {took:.1f} s"

        # The broken connection was dropped after the failed requests: these open a new one.
        again = client.get(next_url)
        assert again.status_code == 200, again.text
        assert again.json()["assignment_id"] == assignment_id
        submitted = client.post(
            f"/api/assignments/{assignment_id}/ratings/",
            json={"ratings": {"helpfulness": 2, "truthfulness": "tie"}},
        )
        assert submitted.status_code == 200, submitted.text
    # This thread's own connection died with the server too.
    connections.close_all()
    assert Rating.objects.filter(assignment_id=assignment_id).count() == 2
