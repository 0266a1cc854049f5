"""Export page, download and API: access, streaming, errors and query counts."""

import csv
import io
import json
from typing import Any

import pyarrow.parquet as pq
import pytest
from django.db import connection
from django.http.response import HttpResponseBase
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from rest_framework.authtoken.models import Token

from annotate.models import Criterion, Project, Rating
from annotate.tests.factories import make_pair
from conftest import PASSWORD
from exports.selectors import RATING_COLUMNS
from exports.tests.conftest import rate

ROUTES = ["export_page", "export_download", "api_export"]


def _client(user: Any) -> Client:
    client = Client()
    assert client.login(username=user.username, password=PASSWORD)
    return client


def _body(response: HttpResponseBase) -> bytes:
    return b"".join(response.streaming_content)  # type: ignore[attr-defined]


def _url(name: str, project: Project, **query: str) -> str:
    url = reverse(name, args=[project.slug])
    if query:
        url += "?" + "&".join(f"{k}={v}" for k, v in query.items())
    return url


@pytest.mark.parametrize("route", ROUTES)
def test_an_outsider_cannot_learn_that_the_project_exists(
    project: Project, mallory: Any, route: str
) -> None:
    response = _client(mallory).get(_url(route, project, format="csv"))

    assert response.status_code == 404


@pytest.mark.parametrize("route", ROUTES)
def test_a_labeler_may_not_export(project: Project, alice: Any, route: str) -> None:
    response = _client(alice).get(_url(route, project, format="csv"))

    assert response.status_code == 403


def test_the_api_refuses_a_caller_without_credentials(project: Project) -> None:
    response = Client().get(_url("api_export", project, format="csv"))

    assert response.status_code in {401, 403}


def test_the_page_offers_formats_criteria_and_judges(
    project: Project, rated: dict[str, Any], rita: Any
) -> None:
    response = _client(rita).get(_url("export_page", project))

    assert response.status_code == 200
    page = response.content.decode()
    for value in ["csv", "jsonl", "parquet", "dpo", "helpfulness", "truthfulness", "gpt-judge"]:
        assert f'value="{value}"' in page
    assert f'action="{_url("export_download", project)}"' in page


@pytest.mark.parametrize("user", ["rita", "lena"])
def test_a_researcher_or_lead_downloads_a_streamed_csv(
    project: Project, rated: dict[str, Any], user: str, request: pytest.FixtureRequest
) -> None:
    response = _client(request.getfixturevalue(user)).get(
        _url("export_download", project, format="csv")
    )

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "text/csv; charset=utf-8"
    assert response["Content-Disposition"] == 'attachment; filename="chatbot-eval-ratings.csv"'
    rows = list(csv.DictReader(io.StringIO(_body(response).decode())))
    assert [(r["rater"], r["completion_b"]) for r in rows] == [
        ("alice", "'=SUM(A1:A9)"),
        ("gpt-judge", "'=SUM(A1:A9)"),
    ]


def test_the_page_download_gives_dpo_pairs_with_the_chosen_options(
    project: Project, rated: dict[str, Any], rita: Any
) -> None:
    response = _client(rita).get(
        _url(
            "export_download",
            project,
            format="dpo",
            criterion="helpfulness",
            source="human",
            min_agreement="0.8",
        )
    )

    assert response.streaming
    assert response["Content-Disposition"] == (
        'attachment; filename="chatbot-eval-dpo-helpfulness-human.jsonl"'
    )
    [line] = _body(response).decode().splitlines()
    assert json.loads(line)["chosen"] == "Four."


@pytest.mark.parametrize("route", ["export_download", "api_export"])
def test_suggested_ratings_count_for_dpo_only_when_the_option_is_on(
    project: Project, rated: dict[str, Any], rita: Any, route: str
) -> None:
    pair, helpfulness = rated["pair"], rated["human"].criterion
    for rater in ("verifier1", "verifier2"):
        rate(pair, helpfulness, rater, "b", with_suggestion=True)
    query = {"format": "dpo", "criterion": "helpfulness"}
    client = _client(rita)

    blind = client.get(_url(route, project, **query))
    suggested = client.get(_url(route, project, **query, include_suggested="on"))

    assert json.loads(_body(blind))["chosen"] == "Four."
    assert json.loads(_body(suggested))["chosen"] == "=SUM(A1:A9)"
    assert suggested["Content-Disposition"] == (
        'attachment; filename="chatbot-eval-dpo-helpfulness-human-with-suggested.jsonl"'
    )


def test_the_api_refuses_an_include_suggested_that_is_not_yes_or_no(
    project: Project, rita: Any
) -> None:
    response = _client(rita).get(
        _url("api_export", project, format="dpo", include_suggested="maybe")
    )

    assert response.status_code == 400
    assert response.json()["field"] == "include_suggested"


def test_the_page_download_shows_a_bad_option_on_the_form(
    project: Project, rated: dict[str, Any], rita: Any
) -> None:
    response = _client(rita).get(_url("export_download", project, format="dpo", source="nobody"))

    assert response.status_code == 400
    assert "Select a valid choice" in response.content.decode()


def test_the_api_streams_jsonl_to_a_token_holder(
    project: Project, rated: dict[str, Any], rita: Any
) -> None:
    token = Token.objects.create(user=rita)

    response = Client().get(
        _url("api_export", project, format="jsonl"), HTTP_AUTHORIZATION=f"Token {token.key}"
    )

    assert response.status_code == 200
    assert response.streaming
    assert response["Content-Type"] == "application/x-ndjson; charset=utf-8"
    records = [json.loads(line) for line in _body(response).decode().splitlines()]
    assert [r["rating_id"] for r in records] == [rated["human"].id, rated["judge"].id]
    assert list(records[0]) == list(RATING_COLUMNS)


def test_the_api_streams_parquet(project: Project, rated: dict[str, Any], rita: Any) -> None:
    response = _client(rita).get(_url("api_export", project, format="parquet"))

    assert response.status_code == 200
    assert response.streaming
    assert 'filename="chatbot-eval-ratings.parquet"' in response["Content-Disposition"]
    table = pq.read_table(io.BytesIO(_body(response)))
    assert table.column("rater").to_pylist() == ["alice", "gpt-judge"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ({"format": "xlsx"}, "format"),
        ({}, "format"),
        ({"format": "csv", "criterion": "beauty"}, "criterion"),
        ({"format": "dpo", "source": "nobody"}, "source"),
        ({"format": "dpo", "min_agreement": "2"}, "min_agreement"),
    ],
)
def test_the_api_answers_a_bad_option_with_400_naming_the_field(
    project: Project, rita: Any, query: dict[str, str], field: str
) -> None:
    response = _client(rita).get(_url("api_export", project, **query))

    assert response.status_code == 400
    assert response.json()["field"] == field
    assert response.json()["detail"].startswith(f"{field}: ")


def _add_ratings(project: Project, criterion: Criterion, pairs: list, count: int) -> None:
    start = Rating.objects.count()
    Rating.objects.bulk_create(
        Rating(
            pair=pairs[i % len(pairs)],
            criterion=criterion,
            rater=f"rater{i}",
            rater_kind="human",
            preference=1,
            verdict="b",
        )
        for i in range(start, start + count)
    )


def _queries(client: Client, url: str) -> int:
    with CaptureQueriesContext(connection) as queries:
        response = client.get(url)
        _body(response)
    assert response.status_code == 200
    return len(queries)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "parquet", "dpo"])
def test_an_export_runs_as_many_queries_for_500_ratings_as_for_50(
    project: Project, helpfulness: Criterion, rita: Any, fmt: str
) -> None:
    pairs = [make_pair(project) for _ in range(5)]
    client = _client(rita)
    url = _url("api_export", project, format=fmt)
    _add_ratings(project, helpfulness, pairs, 50)

    small = _queries(client, url)
    _add_ratings(project, helpfulness, pairs, 450)
    large = _queries(client, url)

    assert small == large
    assert large <= 8
