"""Full-stack tests of the judge-run API: start or estimate, progress, cancel, and who may."""

from decimal import Decimal
from typing import Any

import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate.models import Project
from annotate.tests.factories import make_pair
from conftest import point_broker_at
from judges.models import CallStatus, Judge, JudgeRun, RunStatus
from judges.stub import OpenAIStub
from judges.tests.conftest import API_KEY, API_KEY_ENV, drain, judge_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_broker")]


def api_as(user: Any) -> APIClient:
    client = APIClient()
    token, _ = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def runs_url(project: Project) -> str:
    return f"/api/projects/{project.slug}/judge-runs/"


@pytest.fixture
def judge(stub: OpenAIStub) -> Judge:
    judge = judge_for(stub, max_tokens=100)
    judge.save()
    return judge


@pytest.fixture
def pairs(project: Project) -> None:
    make_pair(project, texts=("Short.", "A longer, fuller answer."))
    make_pair(project, texts=("Tiny.", "Much more detail here."))


def _start(client: APIClient, project: Project, capture: Any, **body: Any) -> Any:
    with capture(execute=True):
        return client.post(runs_url(project), {"judge": "stub-judge", **body}, format="json")


def test_a_dry_run_answers_the_estimate_and_starts_nothing(project, lena, judge, pairs):
    response = api_as(lena).post(
        runs_url(project),
        {"judge": "stub-judge", "orders": "one", "criteria": ["helpfulness"], "dry_run": True},
        format="json",
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["id"], body["status"]) == (None, "dry_run")
    assert body["estimate"]["calls"] == 2 and body["estimate"]["cached_calls"] == 0
    assert Decimal(body["estimate"]["cost_usd"]) > 0
    assert not JudgeRun.objects.exists()


def test_a_lead_starts_a_run_and_reads_its_progress_until_done(
    project, lena, rita, judge, pairs, django_capture_on_commit_callbacks
):
    response = _start(
        api_as(lena), project, django_capture_on_commit_callbacks, budget_usd="1.5", limit=1
    )
    assert response.status_code == 201, response.json()
    run = JudgeRun.objects.get()
    assert response.json()["id"] == run.pk and response.json()["status"] == "running"
    assert response.json()["estimate"]["calls"] == 4
    assert (run.created_by, run.budget_usd, run.calls.count()) == (lena, Decimal("1.5"), 4)
    drain(run)
    for reader in (lena, rita):
        body = api_as(reader).get(f"/api/judge-runs/{run.pk}/").json()
        assert body["status"] == "done" and not body["active"]
        assert body["progress"]["done"] == 4 and body["progress"]["total"] == 4
        assert (body["progress"]["failed"], body["progress"]["unparsed"]) == (0, 0)
        assert Decimal(body["cost_usd"]) > 0 and body["budget_usd"] == "1.5000"
        assert body["calls_per_minute"] == 4.0
        assert body["judge"] == "stub-judge" and body["project"] == project.slug


def test_an_unknown_judge_or_criterion_is_refused_by_name(project, lena, judge, pairs):
    client = api_as(lena)
    response = client.post(runs_url(project), {"judge": "nobody"}, format="json")
    assert (response.status_code, response.json()) == (400, {"detail": "no judge named 'nobody'"})
    response = client.post(
        runs_url(project), {"judge": "stub-judge", "criteria": ["honesty"]}, format="json"
    )
    assert response.status_code == 400 and "unknown criterion honesty" in response.json()["detail"]
    response = client.post(runs_url(project), {"judge": "stub-judge", "limit": 0}, format="json")
    assert response.status_code == 400 and "limit" in response.json()
    assert not JudgeRun.objects.exists()


# Transactional: the enqueue runs on commit inside the request, as it does in production.
@pytest.mark.django_db(transaction=True)
def test_a_broker_that_is_down_answers_400_with_a_clear_message(
    project, lena, judge, pairs, monkeypatch
):
    point_broker_at(monkeypatch, "redis://127.0.0.1:1/0")
    response = api_as(lena).post(runs_url(project), {"judge": "stub-judge"}, format="json")
    assert response.status_code == 400
    assert response.json()["detail"].startswith("the task broker is unreachable")
    run = JudgeRun.objects.get()
    assert run.status == RunStatus.FAILED
    body = api_as(lena).get(f"/api/judge-runs/{run.pk}/").json()
    assert body["status"] == "failed" and "unreachable" in body["error"]


def test_a_lead_cancels_a_run_and_a_second_cancel_is_refused(
    project, lena, judge, pairs, django_capture_on_commit_callbacks
):
    client = api_as(lena)
    run_id = _start(client, project, django_capture_on_commit_callbacks).json()["id"]
    response = client.post(f"/api/judge-runs/{run_id}/cancel/")
    assert response.status_code == 200 and response.json()["status"] == "cancelled"
    run = JudgeRun.objects.get(id=run_id)
    assert set(run.calls.values_list("status", flat=True)) == {CallStatus.CANCELLED}
    again = client.post(f"/api/judge-runs/{run_id}/cancel/")
    assert again.status_code == 400 and "already cancelled" in again.json()["detail"]


def test_researchers_and_labelers_cannot_start_or_cancel_and_labelers_cannot_read(
    project, lena, rita, alice, judge, pairs, django_capture_on_commit_callbacks
):
    run_id = _start(api_as(lena), project, django_capture_on_commit_callbacks).json()["id"]
    for user in (rita, alice):
        client = api_as(user)
        assert client.post(runs_url(project), {"judge": "stub-judge"}).status_code == 403
        assert client.post(f"/api/judge-runs/{run_id}/cancel/").status_code == 403
    assert api_as(alice).get(f"/api/judge-runs/{run_id}/").status_code == 403
    assert JudgeRun.objects.get().status == RunStatus.RUNNING


def test_an_outsider_gets_404_on_every_judge_endpoint_and_changes_nothing(
    project, lena, mallory, judge, pairs, django_capture_on_commit_callbacks
):
    run_id = _start(api_as(lena), project, django_capture_on_commit_callbacks).json()["id"]
    client = api_as(mallory)
    body = {"judge": "stub-judge", "dry_run": True}
    assert client.post(runs_url(project), body, format="json").status_code == 404
    assert client.get(f"/api/judge-runs/{run_id}/").status_code == 404
    assert client.post(f"/api/judge-runs/{run_id}/cancel/").status_code == 404
    assert client.get("/api/judge-runs/999999/").status_code == 404
    assert JudgeRun.objects.count() == 1
    assert JudgeRun.objects.get().status == RunStatus.RUNNING


def test_an_anonymous_caller_gets_401(project, lena, judge, pairs):
    client = APIClient()
    assert client.post(runs_url(project), {"judge": "stub-judge"}).status_code == 401
    assert client.get("/api/judge-runs/1/").status_code == 401


def test_a_started_run_answers_the_estimate_it_was_started_with(
    project, lena, judge, pairs, django_capture_on_commit_callbacks
):
    body = _start(
        api_as(lena), project, django_capture_on_commit_callbacks, criteria_mode="together"
    ).json()
    run = JudgeRun.objects.get()
    # Together: one request per pair and order, for both criteria.
    assert body["estimate"]["calls"] == run.estimated_calls == 4
    assert Decimal(body["estimate"]["cost_usd"]) == run.estimated_cost_usd > 0
    status = api_as(lena).get(f"/api/judge-runs/{run.pk}/").json()
    assert (status["criteria_mode"], status["route_disagreements"]) == ("together", False)


def test_routing_follows_the_project_unless_the_request_says_otherwise(
    project, lena, judge, pairs, django_capture_on_commit_callbacks
):
    project.route_by_judge = True
    project.save(update_fields=["route_by_judge"])
    client = api_as(lena)
    first = _start(client, project, django_capture_on_commit_callbacks).json()["id"]
    second = _start(
        client, project, django_capture_on_commit_callbacks, route_disagreements=False
    ).json()["id"]
    assert JudgeRun.objects.get(id=first).route_disagreements is True
    assert JudgeRun.objects.get(id=second).route_disagreements is False


def test_a_lead_resumes_a_failed_run_and_others_may_not(
    project, lena, rita, mallory, judge, pairs, django_capture_on_commit_callbacks, monkeypatch
):
    monkeypatch.setenv(API_KEY_ENV, "sk-wrong")
    run_id = _start(api_as(lena), project, django_capture_on_commit_callbacks).json()["id"]
    run = JudgeRun.objects.get(id=run_id)
    drain(run)
    body = api_as(lena).get(f"/api/judge-runs/{run_id}/").json()
    assert (body["status"], body["resumable"]) == ("failed", True)
    assert "authentication failed" in body["error"]
    url = f"/api/judge-runs/{run_id}/resume/"
    assert api_as(rita).post(url).status_code == 403
    assert api_as(mallory).post(url).status_code == 404
    monkeypatch.setenv(API_KEY_ENV, API_KEY)
    with django_capture_on_commit_callbacks(execute=True):
        response = api_as(lena).post(url)
    assert response.status_code == 200
    assert response.json()["requeued"] == 8
    assert response.json()["run"]["status"] == "running" and response.json()["run"]["error"] == ""
    drain(run)
    assert JudgeRun.objects.get(id=run_id).status == RunStatus.DONE
    again = api_as(lena).post(url)
    assert (
        again.status_code == 400 and "only running or failed runs resume" in again.json()["detail"]
    )
