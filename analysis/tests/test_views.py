import io
import json
import zipfile

import pytest
from django.urls import reverse

from analysis import services
from analysis.services import report_build
from analysis.tests.report_project import rate_project
from conftest import point_broker_at

pytestmark = pytest.mark.django_db

PAGE = "/projects/chatbot-eval/report/"


@pytest.fixture
def rated(project):
    rate_project(project)
    return project


def test_the_researcher_page_shows_every_section_with_the_numbers_of_the_json(rated, rita, client):
    client.force_login(rita)
    response = client.get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    report = report_build(project=rated)  # the cached report the page showed
    for criterion, section in report["criteria"].items():
        for key in ("human_agreement", "distribution", "position_bias", "verbosity_bias"):
            assert f'id="{key}-{criterion}"' in html
        for key in ("human_vs_llm", "leaderboard", "rank_correlation", "labelers"):
            assert f'id="{key}-{criterion}"' in html
        agreement = section["human_agreement"]
        assert f"{agreement['alpha_nominal']:.3f}" in html
        assert f"{agreement['fleiss_kappa']:.3f}" in html
        judge = section["human_vs_llm"]["judge-x"]["overall"]
        assert f"{judge['agreement_with_ties']:.3f}" in html
        for row in section["leaderboard"]["human"]:
            assert f"{row['rating']:.3f}" in html
    assert html.count("<svg") >= 10
    assert "judge-x" in html
    # A number that cannot be computed is a dash with its reason.
    assert '<span title="no decisive' in html or "—" in html


def test_filters_come_from_the_query_string(rated, rita, client):
    client.force_login(rita)
    html = client.get(PAGE, {"criterion": "truthfulness", "category": "code"}).content.decode()
    assert 'id="criterion-truthfulness"' in html
    assert 'id="criterion-helpfulness"' not in html
    assert "writing" not in html.split('id="report-counts"')[1]


def test_a_labeler_is_refused_and_an_outsider_does_not_learn_the_project_exists(
    rated, alice, mallory, client
):
    client.force_login(alice)
    assert client.get(PAGE).status_code == 403
    assert client.get(PAGE + "download/json/").status_code == 403
    client.force_login(mallory)
    assert client.get(PAGE).status_code == 404
    assert client.get(PAGE + "download/json/").status_code == 404


def test_the_lead_sees_the_report_too(rated, lena, client):
    client.force_login(lena)
    assert client.get(PAGE).status_code == 200


def test_anonymous_visitors_are_sent_to_log_in(rated, client):
    response = client.get(PAGE)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_the_downloads_carry_the_same_report(rated, rita, client):
    client.force_login(rita)
    report = json.loads(client.get(PAGE + "download/json/").content)
    assert report == report_build(project=rated)
    html = client.get(PAGE + "download/html/").content.decode()
    assert f"{report['criteria']['helpfulness']['human_agreement']['alpha_nominal']:.3f}" in html
    archive = zipfile.ZipFile(io.BytesIO(client.get(PAGE + "download/csv/").content))
    assert len(archive.namelist()) == 8
    assert client.get(PAGE + "download/pdf/").status_code == 404


def test_a_large_project_shows_progress_and_refreshes(
    rated,
    rita,
    client,
    monkeypatch,
    memory_broker,
):
    monkeypatch.setattr(services, "BACKGROUND_THRESHOLD", 10)
    client.force_login(rita)
    html = client.get(PAGE).content.decode()
    assert "Computing the report in the background, 0% done" in html
    assert 'http-equiv="refresh"' in html


# A real commit, so the enqueue runs inside the request as it does in production.
@pytest.mark.django_db(transaction=True)
def test_with_the_broker_down_the_page_says_so_instead_of_computing(
    rated, rita, client, monkeypatch
):
    monkeypatch.setattr(services, "BACKGROUND_THRESHOLD", 10)
    point_broker_at(monkeypatch, "redis://127.0.0.1:1/0")
    client.force_login(rita)
    response = client.get(PAGE)
    assert response.status_code == 503
    assert "broker is unreachable" in response.content.decode()
