"""A real browser: script in prompts, completions, model, category and judge names stays inert text.

Every payload sets `window.__xss`; after each page loads (and after clicking the smuggled link) it
must still be undefined, and the payload must be on the page as text.
"""

import pytest

from annotate import models
from annotate.services.assignment import assignment_next, rating_submit
from annotate.tests.factories import MembershipFactory, UserFactory, make_pair
from conftest import PASSWORD
from judges.models import JudgeRun
from judges.services import judge_run_start
from judges.stub import OpenAIStub, StubConfig
from judges.tests.conftest import drain, judge_for

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SCRIPT = "<script>window.__xss=1</script>"
IMG = '<img src=x onerror="window.__xss=1">'
LINK = "[link](javascript:window.__xss=1)"
KEY_ENV = "CONCORD_XSS_JUDGE_KEY"


@pytest.fixture
def hostile_project(project, lena, alice, monkeypatch, memory_broker) -> models.Project:
    """Two pairs whose every user- or model-written string is a payload, rated and judged."""
    project.name = f"Eval {SCRIPT}"
    project.save()
    for n in range(2):
        pair = make_pair(
            project,
            category=f"cat {IMG}",
            models_=(f"model-a {SCRIPT}", f"model-b {IMG}"),
            texts=(f"Answer {n}: {SCRIPT} then {IMG} and a {LINK}.", f"Other {n} {IMG} {LINK}"),
        )
        models.Prompt.objects.filter(id=pair.prompt_id).update(
            text=f"Prompt: {SCRIPT} {IMG} {LINK}"
        )
    for username in ("bob", "carol"):
        user = UserFactory(username=username)
        MembershipFactory(project=project, user=user, role=models.Role.LABELER)
        while (assignment := assignment_next(project=project, labeler=user)) is not None:
            values = {"helpfulness": 2, "truthfulness": 7}
            rating_submit(labeler=user, assignment_id=assignment.pk, values=values, rationale=IMG)
    monkeypatch.setenv(KEY_ENV, "sk-xss")
    with OpenAIStub(StubConfig(api_key="sk-xss", seed=1)) as stub:
        judge = judge_for(stub, name=f"judge {IMG}", api_key_env=KEY_ENV, max_tokens=50)
        judge.save()
        drain(judge_run_start(project=project, judge=judge, created_by=lena))
    return project


def _log_in(page, live_server, username: str) -> None:
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", username)
    page.fill("#id_password", PASSWORD)
    page.press("#id_password", "Enter")
    page.wait_for_url(f"{live_server.url}/")


def _assert_inert(page, *texts: str) -> None:
    assert page.evaluate("() => typeof window.__xss") == "undefined", page.url
    assert page.locator("script", has_text="__xss").count() == 0, page.url
    assert page.locator("img[onerror]").count() == 0, page.url
    assert page.locator('a[href^="javascript:"]').count() == 0, page.url
    body = page.locator("body").inner_text()
    for text in texts:
        assert text in body, (page.url, text)


def test_payloads_on_the_labeling_page_are_shown_as_text_and_never_run(
    page, live_server, hostile_project
):
    _log_in(page, live_server, "alice")
    page.goto(f"{live_server.url}/projects/{hostile_project.slug}/label/")
    page.wait_for_selector("article.response")
    _assert_inert(page, SCRIPT, IMG)
    prompt = page.locator("section.prompt").inner_text()
    assert SCRIPT in prompt and IMG in prompt
    # The markdown link keeps its text but loses its javascript: target; clicking does nothing.
    links = page.locator("article.response a", has_text="link")
    assert links.count() >= 1
    for i in range(links.count()):
        assert not (links.nth(i).get_attribute("href") or "").startswith("javascript")
        links.nth(i).click()
    page.locator("section.prompt a", has_text="link").click()
    _assert_inert(page, SCRIPT, IMG)


def test_payloads_on_the_leads_overview_report_and_judge_pages_are_text(
    page, live_server, hostile_project
):
    slug = hostile_project.slug
    run = JudgeRun.objects.get(project=hostile_project)
    _log_in(page, live_server, "lena")
    page.goto(f"{live_server.url}/projects/{slug}/")
    _assert_inert(page, f"Eval {SCRIPT}", f"cat {IMG}")
    # The first report of a process loads the statistics and plotting libraries.
    page.goto(f"{live_server.url}/projects/{slug}/report/", timeout=60_000)
    page.wait_for_selector("#criterion-helpfulness")
    _assert_inert(page, f"model-a {SCRIPT}", f"model-b {IMG}", f"judge {IMG}")
    page.goto(f"{live_server.url}/projects/{slug}/judges/")
    _assert_inert(page, f"judge {IMG}")
    page.goto(f"{live_server.url}/projects/{slug}/judges/runs/{run.pk}/")
    _assert_inert(page, f"Prompt: {SCRIPT} {IMG}", f"model-a {SCRIPT}", f"model-b {IMG}")
    page.goto(f"{live_server.url}/projects/{slug}/export/")
    _assert_inert(page, f"judge {IMG}")
