"""A real browser on a run's page: the progress updates live while a worker answers the calls."""

import pytest

from annotate.tests.factories import make_pair
from judges.models import RunStatus
from judges.services import judge_run_start
from judges.tests.conftest import drain, judge_for

pytestmark = [
    pytest.mark.browser,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("memory_broker"),
]

try:
    from playwright.sync_api import expect
except ImportError:  # pragma: no cover - playwright is a dev dependency
    expect = None


def test_the_run_page_follows_the_run_to_its_end_without_a_reload_by_hand(
    page,
    live_server,
    project,
    lena,
    stub,
):
    for _ in range(3):
        make_pair(project)
    judge = judge_for(stub)
    judge.save()
    run = judge_run_start(project=project, judge=judge)
    page.context.add_cookies(_session_cookie(lena, live_server))
    page.goto(f"{live_server.url}/projects/{project.slug}/judges/runs/{run.pk}/")
    expect(page.locator("#run-status")).to_have_text("running")
    expect(page.locator('[data-field="done"]')).to_have_text("0")
    expect(page.locator("#cancel-form")).to_be_visible()
    drain(run)  # what a worker would do meanwhile
    expect(page.locator('[data-field="done"]')).to_have_text("12", timeout=8_000)
    expect(page.locator("#run-status")).to_have_text(RunStatus.DONE)
    expect(page.locator("#cancel-form")).to_be_hidden()
    # Once the run ends the page reloads to show the verdicts the server renders.
    expect(page.locator("#verdicts tbody tr")).to_have_count(6)


def _session_cookie(user, live_server) -> list[dict]:
    from django.test import Client

    client = Client()
    client.force_login(user)
    cookie = client.cookies["sessionid"]
    return [{"name": "sessionid", "value": cookie.value, "url": live_server.url}]
