"""Full-stack tests of the REST API: token auth, next pair, ratings, skip and imports."""

import io

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from annotate import models
from annotate.services import assignment as assignment_service
from annotate.services.imports import import_file
from annotate.tests.factories import CriterionFactory, make_pair

CHOICES_8 = ["1", "2", "3", "4", "5", "6", "7", "8", "tie"]
LABELS = {"low": "Response 1 is much better", "high": "Response 2 is much better"}
GOOD_COMPLETIONS = (
    b"prompt_id,prompt,category,model,completion\n"
    b"p1,Write a haiku.,writing,alpha-7b,Soft rain.\n"
    b"p1,Write a haiku.,writing,beta-13b,Rain falls.\n"
    b"p2,Add 2 and 2.,math,alpha-7b,4\n"
    b"p2,Add 2 and 2.,math,beta-13b,Four.\n"
)
BAD_COMPLETIONS = (
    b"prompt_id,prompt,category,model,completion\n"
    b"p1,Write a haiku.,writing,alpha-7b,Soft rain.\n"
    b",Orphan prompt,writing,alpha-7b,text\n"
)


def api_as(user: object) -> APIClient:
    client = APIClient()
    token, _created = Token.objects.get_or_create(user=user)
    client.credentials(HTTP_AUTHORIZATION=f"Token {token.key}")
    return client


def next_url(project: models.Project) -> str:
    return f"/api/projects/{project.slug}/next/"


def claim(project: models.Project, user: object) -> int:
    response = api_as(user).get(next_url(project))
    assert response.status_code == 200
    return response.json()["assignment_id"]


# --- auth ---------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_user_trades_username_and_password_for_a_working_token(project, alice):
    make_pair(project)
    client = APIClient()
    response = client.post(
        "/api/auth/token/", {"username": "alice", "password": "pw-concord-1"}, format="json"
    )
    assert response.status_code == 200
    token = response.json()["token"]
    assert Token.objects.get(user=alice).key == token
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get(next_url(project)).status_code == 200


@pytest.mark.django_db
def test_a_wrong_password_gets_no_token(alice):
    response = APIClient().post(
        "/api/auth/token/", {"username": "alice", "password": "wrong"}, format="json"
    )
    assert response.status_code == 400
    assert not Token.objects.exists()


ENDPOINTS = [
    ("get", "/api/projects/{slug}/next/"),
    ("post", "/api/assignments/{assignment}/ratings/"),
    ("post", "/api/assignments/{assignment}/skip/"),
    ("post", "/api/projects/{slug}/imports/"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_an_anonymous_caller_gets_401_everywhere(project, alice, method, template):
    make_pair(project)
    url = template.format(slug=project.slug, assignment=claim(project, alice))
    response = getattr(APIClient(), method)(url)
    assert response.status_code == 401


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "template"), ENDPOINTS)
def test_an_outsider_gets_404_everywhere_and_changes_nothing(
    project, alice, mallory, method, template
):
    make_pair(project)
    assignment = claim(project, alice)
    url = template.format(slug=project.slug, assignment=assignment)
    body = {"ratings": {"helpfulness": 1, "truthfulness": 1}} if "ratings" in url else {}
    response = getattr(api_as(mallory), method)(url, body, format="json")
    assert response.status_code == 404
    assert models.Assignment.objects.get().status == models.AssignmentStatus.OPEN
    assert not models.Rating.objects.exists()


@pytest.mark.django_db
def test_members_with_the_wrong_role_get_403(project, lena, alice):
    assert api_as(lena).get(next_url(project)).status_code == 403
    upload = SimpleUploadedFile("c.csv", GOOD_COMPLETIONS)
    response = api_as(alice).post(
        f"/api/projects/{project.slug}/imports/", {"file": upload, "kind": "completions"}
    )
    assert response.status_code == 403
    assert not models.Prompt.objects.exists()


# --- next -----------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_next_answers_the_whole_neutral_labeler_view(project, alice):
    project.instructions = "Be fair."
    project.save()
    CriterionFactory(project=project, key="harmlessness", question="Which is safer?",
                     scale_points=5, tie_option=False, position=2)  # fmt: skip
    pair = make_pair(project, texts=("First answer.", "Second answer."))
    make_pair(project)
    response = api_as(alice).get(next_url(project))
    assert response.status_code == 200
    assignment = models.Assignment.objects.get(labeler=alice)
    assert assignment.pair_id == pair.pk
    shown = ["First answer.", "Second answer."]
    if not assignment.a_shown_first:
        shown.reverse()
    assert response.json() == {
        "assignment_id": assignment.pk,
        "prompt": pair.prompt.text,
        "responses": [{"slot": 1, "text": shown[0]}, {"slot": 2, "text": shown[1]}],
        "criteria": [
            {"key": "helpfulness", "question": "Which response is more helpful?",
             "scale_points": 8, "choices": CHOICES_8, "tie": True, "labels": LABELS},
            {"key": "truthfulness", "question": "Which response is more truthful?",
             "scale_points": 8, "choices": CHOICES_8, "tie": True, "labels": LABELS},
            {"key": "harmlessness", "question": "Which is safer?",
             "scale_points": 5, "choices": ["1", "2", "3", "4", "5"], "tie": True,
             "labels": LABELS},
        ],
        "progress": {"rated": 0, "total": 2},
        "instructions": "Be fair.",
        "suggestion": None,
    }  # fmt: skip


@pytest.mark.django_db
def test_next_returns_the_open_assignment_again_until_it_is_rated(project, alice):
    make_pair(project)
    make_pair(project)
    first = claim(project, alice)
    assert claim(project, alice) == first
    assert models.Assignment.objects.filter(labeler=alice).count() == 1


@pytest.mark.django_db
def test_next_answers_204_when_nothing_is_left(project, alice):
    response = api_as(alice).get(next_url(project))
    assert response.status_code == 204
    assert not models.Assignment.objects.exists()


@pytest.mark.django_db
def test_a_fresh_claim_uses_a_fixed_number_of_queries_whatever_the_project_size(
    project, alice, bob, monkeypatch, django_assert_num_queries
):
    # A fresh sweep clock, so the expired-lease probe runs on each claim measured here.
    monkeypatch.setattr(assignment_service, "_last_sweep", {})
    for _ in range(5):
        make_pair(project)
    alices, bobs = api_as(alice), api_as(bob)
    # token + user, membership + project, open assignment, expired-lease probe, savepoint,
    # candidate pair with its texts (locked), pair counters, assignment insert, savepoint
    # release, criteria, progress
    with django_assert_num_queries(11):
        response = alices.get(next_url(project))
    assert response.status_code == 200
    assignment = models.Assignment.objects.get(labeler=alice)
    assert response.json()["assignment_id"] == assignment.pk
    assert response.json()["progress"] == {"rated": 0, "total": 5}
    for _ in range(20):
        make_pair(project)
    assignment_service._last_sweep.clear()
    with django_assert_num_queries(11):
        response = bobs.get(next_url(project))
    assert response.status_code == 200
    assert models.Assignment.objects.get(labeler=bob).pk == response.json()["assignment_id"]
    assert sorted(models.Pair.objects.values_list("claims", flat=True)) == [0] * 23 + [1, 1]


@pytest.mark.django_db
def test_next_again_before_submitting_uses_fewer_queries_than_a_claim(
    project, alice, django_assert_num_queries
):
    for _ in range(5):
        make_pair(project)
    client = api_as(alice)
    first = client.get(next_url(project)).json()
    # token + user, membership + project, open assignment id, that assignment with its pair and
    # texts, criteria, progress
    with django_assert_num_queries(6):
        response = client.get(next_url(project))
    assert response.json() == first
    for _ in range(20):
        make_pair(project)
    with django_assert_num_queries(6):
        assert client.get(next_url(project)).status_code == 200


# --- ratings and skip ---------------------------------------------------------------------------


@pytest.mark.django_db
def test_submitting_ratings_stores_them_once_and_repeats_the_first_answer(project, alice):
    make_pair(project)
    assignment_id = claim(project, alice)
    client = api_as(alice)
    url = f"/api/assignments/{assignment_id}/ratings/"
    body = {"ratings": {"helpfulness": 3, "truthfulness": "tie"}, "rationale": "Clearer."}
    first = client.post(url, body, format="json")
    assert first.status_code == 200
    assert first.json() == {
        "assignment_id": assignment_id,
        "status": "submitted",
        "ratings": {"helpfulness": "3", "truthfulness": "tie"},
    }
    again = client.post(url, {"ratings": {"helpfulness": 8, "truthfulness": 8}}, format="json")
    assert again.status_code == 200
    assert again.json() == first.json()
    ratings = models.Rating.objects.filter(assignment_id=assignment_id).order_by("criterion__key")
    assert [(r.criterion.key, r.value_shown, r.rationale) for r in ratings] == [
        ("helpfulness", "3", "Clearer."),
        ("truthfulness", "tie", "Clearer."),
    ]
    assignment = models.Assignment.objects.get(id=assignment_id)
    assert assignment.status == models.AssignmentStatus.SUBMITTED
    assert assignment.time_spent_ms is not None


@pytest.mark.django_db
def test_a_value_off_the_scale_is_refused_naming_the_criterion(project, alice):
    make_pair(project)
    assignment_id = claim(project, alice)
    response = api_as(alice).post(
        f"/api/assignments/{assignment_id}/ratings/",
        {"ratings": {"helpfulness": 9, "truthfulness": 1}},
        format="json",
    )
    assert response.status_code == 400
    assert "helpfulness" in response.json()["detail"]
    assert not models.Rating.objects.exists()


@pytest.mark.django_db
def test_a_rating_that_is_neither_a_number_nor_text_is_refused(project, alice):
    make_pair(project)
    assignment_id = claim(project, alice)
    response = api_as(alice).post(
        f"/api/assignments/{assignment_id}/ratings/",
        {"ratings": {"helpfulness": True, "truthfulness": [1]}},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["ratings"]) == {"helpfulness", "truthfulness"}
    assert not models.Rating.objects.exists()


@pytest.mark.django_db
def test_a_submit_clashing_with_an_imported_rating_answers_400_and_moves_the_labeler_on(
    project, alice
):
    make_pair(project, external_id="vendor-1")
    assignment_id = claim(project, alice)
    ratings = (
        b"prompt_id,model_a,model_b,criterion,rater,rater_kind,winner\n"
        b"vendor-1,alpha-7b,beta-13b,truthfulness,alice,human,tie\n"
    )
    import_file(project=project, kind="ratings", file=io.BytesIO(ratings), filename="r.csv")
    client = api_as(alice)
    response = client.post(
        f"/api/assignments/{assignment_id}/ratings/",
        {"ratings": {"helpfulness": 3, "truthfulness": "tie"}},
        format="json",
    )
    assert response.status_code == 400
    assert response.json() == {
        "detail": "You have already rated this pair (a rating under your name was imported), "
        "so it was taken off your list. Ask for the next pair.",
        "withdrawn": True,
    }
    assert list(models.Rating.objects.values_list("rater", "source")) == [("alice", "import")]
    assignment = models.Assignment.objects.get(id=assignment_id)
    assert assignment.status == models.AssignmentStatus.EXPIRED
    assert client.get(next_url(project)).status_code == 204


@pytest.mark.django_db
def test_another_labeler_cannot_rate_or_skip_my_assignment(project, alice, bob):
    make_pair(project)
    assignment_id = claim(project, alice)
    bobs = api_as(bob)
    rated = bobs.post(
        f"/api/assignments/{assignment_id}/ratings/",
        {"ratings": {"helpfulness": 1, "truthfulness": 1}},
        format="json",
    )
    skipped = bobs.post(f"/api/assignments/{assignment_id}/skip/")
    assert (rated.status_code, skipped.status_code) == (404, 404)
    assert models.Assignment.objects.get(id=assignment_id).status == models.AssignmentStatus.OPEN


@pytest.mark.django_db
def test_skipping_releases_the_pair_and_next_moves_on(project, alice):
    make_pair(project)
    make_pair(project)
    client = api_as(alice)
    first = claim(project, alice)
    response = client.post(f"/api/assignments/{first}/skip/")
    assert response.status_code == 200
    assert response.json() == {"assignment_id": first, "status": "skipped"}
    assignment = models.Assignment.objects.select_related("pair").get(id=first)
    assert assignment.status == models.AssignmentStatus.SKIPPED
    assert assignment.pair.claims == 0
    assert claim(project, alice) != first


# --- imports ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_lead_imports_a_file_and_gets_the_counts(project, lena):
    upload = SimpleUploadedFile("completions.csv", GOOD_COMPLETIONS)
    response = api_as(lena).post(
        f"/api/projects/{project.slug}/imports/",
        {"file": upload, "kind": "completions", "seed": 3},
    )
    assert response.status_code == 201
    body = response.json()
    assert {k: body[k] for k in ("kind", "rows", "prompts_created", "pairs_created")} == {
        "kind": "completions",
        "rows": 4,
        "prompts_created": 2,
        "pairs_created": 2,
    }
    assert set(body["by_category"]) == {"writing", "math"}
    assert models.Pair.objects.filter(project=project).count() == 2


@pytest.mark.django_db
def test_a_bad_import_answers_400_with_the_row_errors_and_writes_nothing(project, lena):
    upload = SimpleUploadedFile("completions.csv", BAD_COMPLETIONS)
    response = api_as(lena).post(
        f"/api/projects/{project.slug}/imports/", {"file": upload, "kind": "completions"}
    )
    assert response.status_code == 400
    errors = response.json()["errors"]
    assert errors and all({"row", "field", "message"} <= set(e) for e in errors)
    assert 2 in {e["row"] for e in errors}
    assert not models.Prompt.objects.exists()


@pytest.mark.django_db
def test_an_import_without_a_kind_is_refused_naming_the_field(project, lena):
    upload = SimpleUploadedFile("completions.csv", GOOD_COMPLETIONS)
    response = api_as(lena).post(f"/api/projects/{project.slug}/imports/", {"file": upload})
    assert response.status_code == 400
    assert "kind" in response.json()
    assert not models.Prompt.objects.exists()


@pytest.mark.django_db
def test_the_openapi_schema_lists_the_labeling_endpoints(client):
    response = client.get("/api/schema/")
    assert response.status_code == 200
    schema = response.content.decode()
    for path in (
        "/api/projects/{slug}/next/",
        "/api/assignments/{assignment_id}/ratings/",
        "/api/projects/{slug}/imports/",
        "/api/auth/token/",
    ):
        assert path in schema  # fmt: skip
