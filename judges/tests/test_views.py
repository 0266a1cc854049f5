"""Full-stack tests of the judges pages: judge form, a project's runs, a run's progress page."""

from decimal import Decimal
from typing import Any

import pytest
from django.test import Client

from annotate.models import Project, RaterKind, Rating
from annotate.tests.factories import UserFactory, make_pair
from conftest import point_broker_at
from judges.models import CallStatus, Judge, JudgeRun, RunStatus
from judges.services import judge_run_start
from judges.stub import OpenAIStub
from judges.tests.conftest import API_KEY_ENV, drain, judge_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_broker")]

JUDGE_POST = {
    "name": "gpt-4o-judge",
    "model": "gpt-4o",
    "base_url": "https://api.openai.com/v1",
    "api_key_env": "OPENAI_API_KEY",
    "template": "h4-score-1-8",
    "template_text": "",
    "contract": "score-1-8",
    "temperature": "0",
    "max_tokens": "256",
    "price_in": "2.5",
    "price_out": "10",
    "rpm": "600",
    "tpm": "0",
    "concurrency": "8",
    "timeout_s": "30",
}


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def judge(stub: OpenAIStub) -> Judge:
    judge = judge_for(stub, max_tokens=100)
    judge.save()
    return judge


@pytest.fixture
def pairs(project: Project) -> list:
    return [
        make_pair(project, texts=("Short.", "A longer, fuller answer.")),
        make_pair(project, texts=("Tiny.", "Much more detail here.")),
    ]


def _run(project, judge, capture, **kw) -> JudgeRun:
    with capture(execute=True):
        return judge_run_start(project=project, judge=judge, **kw)


# --- judges --------------------------------------------------------------------------------------


def test_a_lead_creates_a_judge_and_only_the_key_variable_name_is_stored(lena):
    client = as_user(lena)
    page = client.get("/judges/new/").content.decode()
    assert "never stored" in page
    response = client.post("/judges/new/", JUDGE_POST)
    assert response.status_code == 302
    judge = Judge.objects.get(name="gpt-4o-judge")
    assert (judge.api_key_env, judge.rpm, judge.price_in) == ("OPENAI_API_KEY", 600, Decimal("2.5"))
    assert "gpt-4o-judge" in client.get("/judges/").content.decode()


def test_a_key_pasted_instead_of_a_variable_name_is_refused_and_not_stored(lena):
    response = as_user(lena).post("/judges/new/", {**JUDGE_POST, "api_key_env": "sk-live-12345"})
    assert response.status_code == 200
    assert "not the key itself" in response.content.decode()
    assert not Judge.objects.exists()


def test_a_judge_of_a_local_server_is_saved_without_a_key_variable(lena):
    body = {**JUDGE_POST, "base_url": "http://127.0.0.1:8000/v1", "api_key_env": ""}
    assert as_user(lena).post("/judges/new/", body).status_code == 302
    assert Judge.objects.get(name="gpt-4o-judge").api_key_env == ""


def test_the_template_help_says_every_placeholder_is_needed(lena):
    page = as_user(lena).get("/judges/new/").content.decode()
    assert "use each of {question}, {answer_1}, {answer_2} and {criterion}" in page
    assert "optionally" not in page


def test_a_custom_template_is_validated_on_save(lena):
    body = {**JUDGE_POST, "template": "custom", "template_text": "Compare {answer_1}."}
    response = as_user(lena).post("/judges/new/", body)
    assert response.status_code == 200
    assert "question" in response.content.decode()  # names the missing placeholder
    assert not Judge.objects.exists()
    text = "Q: {question}\n1: {answer_1}\n2: {answer_2}\nOn {criterion}, score 1-8."
    response = as_user(lena).post("/judges/new/", {**body, "template_text": text})
    assert response.status_code == 302
    assert Judge.objects.get().template == "custom"


def test_a_lead_edits_a_judge_but_cannot_rename_one_that_has_runs(
    project, lena, judge, pairs, django_capture_on_commit_callbacks
):
    client = as_user(lena)
    body = {**JUDGE_POST, "name": judge.name, "base_url": judge.base_url, "rpm": "120"}
    assert client.post(f"/judges/{judge.pk}/edit/", body).status_code == 302
    judge.refresh_from_db()
    assert judge.rpm == 120 and judge.model == "gpt-4o"
    _run(project, judge, django_capture_on_commit_callbacks)
    response = client.post(f"/judges/{judge.pk}/edit/", {**body, "name": "renamed"})
    assert response.status_code == 200
    assert "keeps its name" in response.content.decode()
    assert Judge.objects.get(pk=judge.pk).name == judge.name


def test_only_staff_and_project_leads_manage_judges(project, alice, rita, mallory, lena):
    for user in (alice, rita, mallory):
        assert as_user(user).get("/judges/").status_code == 403
        assert as_user(user).post("/judges/new/", JUDGE_POST).status_code == 403
    staff = UserFactory(username="sam", is_staff=True)
    assert as_user(staff).get("/judges/").status_code == 200
    assert as_user(lena).get("/judges/").status_code == 200
    assert not Judge.objects.exists()


# --- a project's runs ----------------------------------------------------------------------------


def test_the_overview_links_to_the_judges_page(project, lena):
    page = as_user(lena).get(f"/projects/{project.slug}/").content.decode()
    assert f'href="/projects/{project.slug}/judges/"' in page


def test_a_dry_run_shows_calls_and_cost_and_starts_nothing(project, lena, judge, pairs):
    body = {"judge": judge.pk, "orders": "both", "criteria": ["helpfulness"], "action": "dry_run"}
    response = as_user(lena).post(f"/projects/{project.slug}/judges/", body)
    assert response.status_code == 200
    page = response.content.decode()
    assert "4 calls (0 answered from the cache)" in page and "estimated cost" in page
    assert not JudgeRun.objects.exists()


def test_a_lead_starts_a_run_from_the_page_and_lands_on_its_progress(
    project, lena, judge, pairs, django_capture_on_commit_callbacks
):
    body = {"judge": judge.pk, "orders": "one", "limit": "1", "budget_usd": "2", "action": "start"}
    with django_capture_on_commit_callbacks(execute=True):
        response = as_user(lena).post(f"/projects/{project.slug}/judges/", body)
    run = JudgeRun.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/projects/{project.slug}/judges/runs/{run.pk}/"
    assert (run.orders, run.budget_usd, run.calls.count(), run.created_by) == (
        "one",
        Decimal(2),
        2,
        lena,
    )


# Transactional: the enqueue runs on commit inside the request, as in production.
@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_is_shown_as_a_clear_message(
    project, lena, judge, pairs, monkeypatch
):
    point_broker_at(monkeypatch, "redis://127.0.0.1:1/0")
    body = {"judge": judge.pk, "orders": "both", "action": "start"}
    response = as_user(lena).post(f"/projects/{project.slug}/judges/", body)
    page = response.content.decode()
    assert response.status_code == 200
    assert "the task broker is unreachable" in page and "Traceback" not in page
    run = JudgeRun.objects.get()
    detail = as_user(lena).get(f"/projects/{project.slug}/judges/runs/{run.pk}/")
    assert "the task broker is unreachable" in detail.content.decode()


def test_researchers_read_runs_but_cannot_start_them_and_labelers_see_nothing(
    project, lena, rita, alice, mallory, judge, pairs, django_capture_on_commit_callbacks
):
    run = _run(project, judge, django_capture_on_commit_callbacks)
    url = f"/projects/{project.slug}/judges/"
    page = as_user(rita).get(url).content.decode()
    assert f"/judges/runs/{run.pk}/" in page and "Start a run" not in page
    assert as_user(rita).post(url, {"judge": judge.pk, "action": "start"}).status_code == 403
    run_url = f"{url}runs/{run.pk}/"
    assert as_user(rita).get(run_url).status_code == 200
    assert as_user(rita).post(f"{run_url}cancel/").status_code == 403
    for user, code in ((alice, 403), (mallory, 404)):
        assert as_user(user).get(url).status_code == code
        assert as_user(user).get(run_url).status_code == code
        assert as_user(user).post(f"{run_url}cancel/").status_code == code
    assert JudgeRun.objects.count() == 1 and JudgeRun.objects.get().status == RunStatus.RUNNING


# --- one run -------------------------------------------------------------------------------------


def test_the_run_page_shows_progress_and_verdicts_in_both_orders_next_to_human_ones(
    project, lena, alice, judge, pairs, django_capture_on_commit_callbacks
):
    run = _run(project, judge, django_capture_on_commit_callbacks, criteria=["helpfulness"])
    drain(run)
    Rating.objects.create(
        pair=pairs[0], criterion=project.criteria.get(key="helpfulness"),
        rater_kind=RaterKind.HUMAN, rater="alice", user=alice, shown_first="a",
        value_shown="2", preference=-3, verdict="a",
    )  # fmt: skip
    page = as_user(lena).get(f"/projects/{project.slug}/judges/runs/{run.pk}/").content.decode()
    assert 'data-field="done">4<' in page and 'data-field="failed">0<' in page
    assert 'data-active="false"' in page and 'id="cancel-form" hidden' in page
    assert pairs[0].model_a in page and pairs[0].prompt.text[:40] in page
    # The stub prefers the longer answer (B) in both orders.
    verdicts = [
        (call.a_first, call.rating.verdict, call.rating.preference)
        for call in run.calls.filter(pair=pairs[0]).select_related("rating")
    ]
    for _a_first, verdict, preference in verdicts:
        assert f"{verdict} ({preference:+d})" in page
    assert "<td>a</td>" in page  # alice's human verdict


def test_the_run_page_asks_the_same_number_of_queries_for_more_pairs(
    project, lena, judge, django_capture_on_commit_callbacks, django_assert_max_num_queries
):
    for _ in range(3):
        make_pair(project)
    run = _run(project, judge, django_capture_on_commit_callbacks)
    client = as_user(lena)
    url = f"/projects/{project.slug}/judges/runs/{run.pk}/"
    with django_assert_max_num_queries(20) as small:
        client.get(url)
    for _ in range(20):
        make_pair(project)
    bigger = _run(project, judge, django_capture_on_commit_callbacks)
    with django_assert_max_num_queries(len(small.captured_queries)):
        client.get(f"/projects/{project.slug}/judges/runs/{bigger.pk}/")


def test_a_wrong_key_is_shown_on_the_run_as_a_clear_message(
    project, lena, judge, pairs, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setenv(API_KEY_ENV, "sk-wrong")
    run = _run(project, judge, django_capture_on_commit_callbacks, limit=1)
    drain(run)
    page = as_user(lena).get(f"/projects/{project.slug}/judges/runs/{run.pk}/").content.decode()
    assert f"check the environment variable {API_KEY_ENV}. Fix it, then resume the run." in page
    assert '<span class="badge" id="run-status">failed</span>' in page
    assert "Traceback" not in page and 'id="resume-form" hidden' not in page


def test_a_lead_resumes_a_failed_run_from_its_page_once_the_key_is_fixed(
    project, lena, judge, pairs, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setenv(API_KEY_ENV, "sk-wrong")
    run = _run(project, judge, django_capture_on_commit_callbacks, limit=1)
    drain(run)
    monkeypatch.setenv(API_KEY_ENV, "sk-test-concord")
    url = f"/projects/{project.slug}/judges/runs/{run.pk}/"
    client = as_user(lena)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(f"{url}resume/")
    assert response.status_code == 302 and response["Location"] == url
    run.refresh_from_db()
    assert (run.status, run.error) == (RunStatus.RUNNING, "")
    drain(run)
    run.refresh_from_db()
    assert run.status == RunStatus.DONE
    page = client.get(url).content.decode()
    assert f"Resumed judge run {run.pk}: 4 requests sent again." in page
    assert 'id="resume-form" hidden' in page


def test_resuming_a_run_that_ended_is_refused_with_a_message(
    project, lena, judge, pairs, django_capture_on_commit_callbacks
):
    run = _run(project, judge, django_capture_on_commit_callbacks, limit=1)
    drain(run)
    url = f"/projects/{project.slug}/judges/runs/{run.pk}/"
    page = as_user(lena).post(f"{url}resume/", follow=True).content.decode()
    assert "only running or failed runs resume" in page


def test_researchers_and_outsiders_cannot_resume_a_run(
    project, rita, mallory, judge, pairs, django_capture_on_commit_callbacks
):
    run = _run(project, judge, django_capture_on_commit_callbacks)
    url = f"/projects/{project.slug}/judges/runs/{run.pk}/resume/"
    assert as_user(rita).post(url).status_code == 403
    assert as_user(mallory).post(url).status_code == 404


def test_the_run_form_starts_a_joint_run_and_takes_routing_from_the_project(
    project, lena, judge, pairs, django_capture_on_commit_callbacks
):
    project.route_by_judge = True
    project.save(update_fields=["route_by_judge"])
    page = as_user(lena).get(f"/projects/{project.slug}/judges/").content.decode()
    assert 'id="id_route_disagreements" checked' in page
    body = {
        "judge": judge.pk,
        "orders": "both",
        "criteria_mode": "together",
        "route_disagreements": "on",
        "action": "start",
    }
    with django_capture_on_commit_callbacks(execute=True):
        as_user(lena).post(f"/projects/{project.slug}/judges/", body)
    run = JudgeRun.objects.get()
    assert (run.criteria_mode, run.route_disagreements) == ("together", True)
    # 2 pairs x 2 orders requests, each answering both criteria: 8 calls for 4 requests.
    assert (run.estimated_calls, run.calls.count()) == (4, 8)


def test_a_lead_cancels_a_run_from_its_page(
    project, lena, judge, pairs, django_capture_on_commit_callbacks
):
    run = _run(project, judge, django_capture_on_commit_callbacks)
    url = f"/projects/{project.slug}/judges/runs/{run.pk}/"
    assert 'data-active="true"' in as_user(lena).get(url).content.decode()
    response = as_user(lena).post(f"{url}cancel/")
    assert response.status_code == 302 and response["Location"] == url
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert set(run.calls.values_list("status", flat=True)) == {CallStatus.CANCELLED}
    page = as_user(lena).get(url).content.decode()
    assert "cancelled" in page and 'id="cancel-form" hidden' in page
