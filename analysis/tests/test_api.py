import pytest
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from analysis import services
from analysis.services import report_build
from analysis.tests.report_project import rate_project

pytestmark = pytest.mark.django_db

URL = "/api/projects/chatbot-eval/report/"


@pytest.fixture
def rated(project):
    rate_project(project)
    return project


def api_for(user) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {Token.objects.create(user=user).key}")
    return client


def test_the_api_answers_the_report_json_of_the_command(rated, rita):
    response = api_for(rita).get(URL, {"bootstrap": 40, "seed": 2})
    assert response.status_code == 200
    assert response.json() == report_build(project=rated, bootstrap=40, seed=2)


def test_the_api_takes_the_page_filters(rated, rita):
    response = api_for(rita).get(
        URL + "?criterion=helpfulness&judge=judge-x&category=code&suggested=out&bootstrap=0"
    )
    assert response.status_code == 200
    body = response.json()
    assert set(body["criteria"]) == {"helpfulness"}
    assert set(body["criteria"]["helpfulness"]["human_vs_llm"]["judge-x"]["by_category"]) == {
        "code"
    }


def test_bad_parameters_are_refused_by_name(rated, rita):
    client = api_for(rita)
    response = client.get(URL, {"bootstrap": -1})
    assert response.status_code == 400
    assert "bootstrap" in response.json()
    response = client.get(URL, {"criterion": "honesty"})
    assert response.status_code == 400
    assert "honesty" in str(response.json())


def test_a_labeler_gets_403_and_an_outsider_404(rated, alice, mallory):
    assert api_for(alice).get(URL).status_code == 403
    assert api_for(mallory).get(URL).status_code == 404
    assert APIClient().get(URL).status_code == 401


def test_a_report_computed_by_a_worker_answers_202_with_progress(
    rated,
    rita,
    monkeypatch,
    memory_broker,
):
    monkeypatch.setattr(services, "BACKGROUND_THRESHOLD", 10)
    response = api_for(rita).get(URL)
    assert response.status_code == 202
    assert response.json() == {"status": "computing", "progress": 0}
