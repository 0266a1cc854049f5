"""Every URL of concord.urls, every role: each gets exactly the status its rule says.

The cases are generated from the URL conf, so a new endpoint without a rule in RULES fails. Each
rule gives the status for GET and POST per role. POSTs carry a body that would succeed if the role
were allowed, so a refusal proves access control (not validation) stopped it, and nothing may be
written. Each role's request runs in a savepoint that is rolled back: every role meets the same
world (an allowed role's cancel does not change what the next role sees).
"""

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.test import Client
from django.urls import reverse

from annotate import models
from annotate.services.assignment import assignment_next, rating_submit
from annotate.tests.factories import MembershipFactory, UserFactory, make_pair
from conftest import PASSWORD
from judges.models import Judge, JudgeRun, RunStatus
from tests.conftest import ROLES, post_body, url_endpoints, url_kwargs

METHODS = ("GET", "POST")

# (URL name, method) -> status per role, in the order of ROLES. Anonymous HTML requests are sent
# to the login page (302); the API answers anonymous callers 401 (token auth comes first).
# Outsiders and labelers of another project get 404 (they cannot learn that the project exists);
# members with the wrong role get 403.
RULES: dict[tuple[str, str], tuple[int, int, int, int, int, int]] = {
    #                                    anon outsider other labeler researcher lead
    # Public: the probe, the login page, the API description and the token exchange.
    ("healthz", "GET"):                   (200, 200, 200, 200, 200, 200),
    ("healthz", "POST"):                  (405, 405, 405, 405, 405, 405),
    ("login", "GET"):                     (200, 200, 200, 200, 200, 200),
    ("login", "POST"):                    (302, 302, 302, 302, 302, 302),
    ("logout", "GET"):                    (405, 405, 405, 405, 405, 405),
    ("logout", "POST"):                   (302, 302, 302, 302, 302, 302),
    ("schema", "GET"):                    (200, 200, 200, 200, 200, 200),
    ("schema", "POST"):                   (405, 405, 405, 405, 405, 405),
    ("api_docs", "GET"):                  (200, 200, 200, 200, 200, 200),
    ("api_docs", "POST"):                 (405, 405, 405, 405, 405, 405),
    ("api_token", "GET"):                 (405, 405, 405, 405, 405, 405),
    ("api_token", "POST"):                (200, 200, 200, 200, 200, 200),
    # Labeling API: only the project's labelers, only their own assignments.
    ("api_next", "GET"):                  (401, 404, 404, 200, 403, 403),
    ("api_next", "POST"):                 (401, 405, 405, 405, 405, 405),
    ("api_rating_submit", "GET"):         (401, 405, 405, 405, 405, 405),
    ("api_rating_submit", "POST"):        (401, 404, 404, 200, 404, 404),
    ("api_assignment_skip", "GET"):       (401, 405, 405, 405, 405, 405),
    ("api_assignment_skip", "POST"):      (401, 404, 404, 200, 404, 404),
    ("api_import", "GET"):                (401, 405, 405, 405, 405, 405),
    ("api_import", "POST"):               (401, 404, 404, 403, 403, 201),
    # Judge runs API: leads start (here a dry run) and cancel, researchers read.
    ("api_judge_runs", "GET"):            (401, 405, 405, 405, 405, 405),
    ("api_judge_runs", "POST"):           (401, 404, 404, 403, 403, 200),
    ("api_judge_run", "GET"):             (401, 404, 404, 403, 200, 200),
    ("api_judge_run", "POST"):            (401, 405, 405, 405, 405, 405),
    ("api_judge_run_cancel", "GET"):      (401, 405, 405, 405, 405, 405),
    ("api_judge_run_cancel", "POST"):     (401, 404, 404, 403, 403, 200),
    ("api_judge_run_resume", "GET"):      (401, 405, 405, 405, 405, 405),
    ("api_judge_run_resume", "POST"):     (401, 404, 404, 403, 403, 200),
    # HTML pages. Read-only pages answer a POST as a GET (no write; CSRF still applies).
    ("project_list", "GET"):              (302, 200, 200, 200, 200, 200),
    ("project_list", "POST"):             (302, 200, 200, 200, 200, 200),
    ("project_detail", "GET"):            (302, 404, 404, 200, 200, 200),
    ("project_detail", "POST"):           (302, 404, 404, 200, 200, 200),
    ("label", "GET"):                     (302, 404, 404, 200, 403, 403),
    ("label", "POST"):                    (302, 404, 404, 302, 403, 403),
    ("label_skip", "GET"):                (302, 405, 405, 405, 405, 405),
    ("label_skip", "POST"):               (302, 404, 404, 302, 403, 403),
    ("import_upload", "GET"):             (302, 404, 404, 403, 403, 200),
    ("import_upload", "POST"):            (302, 404, 404, 403, 403, 200),
    ("analysis_report", "GET"):           (302, 404, 404, 403, 200, 200),
    ("analysis_report", "POST"):          (302, 404, 404, 403, 200, 200),
    ("analysis_report_download", "GET"):  (302, 404, 404, 403, 200, 200),
    ("analysis_report_download", "POST"): (302, 404, 404, 403, 200, 200),
    ("api_report", "GET"):                (401, 404, 404, 403, 200, 200),
    ("api_report", "POST"):               (401, 405, 405, 405, 405, 405),
    ("export_page", "GET"):               (302, 404, 404, 403, 200, 200),
    ("export_page", "POST"):              (302, 404, 404, 403, 200, 200),
    ("export_download", "GET"):           (302, 404, 404, 403, 200, 200),
    ("export_download", "POST"):          (302, 404, 404, 403, 200, 200),
    ("api_export", "GET"):                (401, 404, 404, 403, 200, 200),
    ("api_export", "POST"):               (401, 405, 405, 405, 405, 405),
    # Judges are global: staff and leads of any project manage them.
    ("judge_list", "GET"):                (302, 403, 403, 403, 403, 200),
    ("judge_list", "POST"):               (302, 403, 403, 403, 403, 200),
    ("judge_create", "GET"):              (302, 403, 403, 403, 403, 200),
    ("judge_create", "POST"):             (302, 403, 403, 403, 403, 302),
    ("judge_edit", "GET"):                (302, 403, 403, 403, 403, 200),
    ("judge_edit", "POST"):               (302, 403, 403, 403, 403, 302),
    ("project_judge_runs", "GET"):        (302, 404, 404, 403, 200, 200),
    ("project_judge_runs", "POST"):       (302, 404, 404, 403, 403, 200),
    ("judge_run_detail", "GET"):          (302, 404, 404, 403, 200, 200),
    ("judge_run_detail", "POST"):         (302, 404, 404, 403, 200, 200),
    ("judge_run_cancel", "GET"):          (302, 405, 405, 405, 405, 405),
    ("judge_run_cancel", "POST"):         (302, 404, 404, 403, 403, 302),
    ("judge_run_resume", "GET"):          (302, 405, 405, 405, 405, 405),
    ("judge_run_resume", "POST"):         (302, 404, 404, 403, 403, 302),
}  # fmt: skip

# Public endpoints whose own answer to an anonymous POST is a redirect (not "log in first").
PUBLIC_REDIRECTS = {"login", "logout"}


ENDPOINTS = url_endpoints()
QUERIES = {"export_download": "?format=csv", "api_export": "?format=csv"}


def _fingerprint() -> dict[str, object]:
    """What a refused request must leave as it was."""
    return {
        "ratings": models.Rating.objects.count(),
        "assignments": sorted(models.Assignment.objects.values_list("id", "status")),
        "prompt_sets": models.PromptSet.objects.count(),
        "pairs": models.Pair.objects.count(),
        "judges": sorted(Judge.objects.values_list("name", "model")),
        "runs": sorted(JudgeRun.objects.values_list("id", "status")),
    }


def _request(client: Client, method: str, url: str, body: dict[str, Any]) -> Any:
    response = client.get(url) if method == "GET" else client.post(url, **body)
    if getattr(response, "streaming", False):
        b"".join(response.streaming_content)  # let the export finish inside the savepoint
    return response


@pytest.mark.django_db
def test_every_url_has_a_rule_and_every_rule_a_url():
    names = [endpoint.name for endpoint in ENDPOINTS]
    assert len(names) == len(set(names)), "two URL patterns share a name"
    wanted = {(name, method) for name in names for method in METHODS}
    assert sorted(wanted - set(RULES)) == [], "add a rule for each new endpoint and method"
    assert sorted(set(RULES) - wanted) == [], "remove the rules of endpoints that are gone"


@pytest.mark.django_db
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("endpoint", ENDPOINTS, ids=lambda endpoint: endpoint.name)
def test_each_role_gets_exactly_what_its_rule_says(world, endpoint, method):
    rule = RULES.get((endpoint.name, method))
    if rule is None:
        pytest.fail(f"{method} {endpoint.route} ({endpoint.name}) has no rule in RULES: add one")
    url = reverse(endpoint.name, kwargs=url_kwargs(endpoint.kwargs, world))
    url += QUERIES.get(endpoint.name, "")
    login_url = reverse("login")
    expected = dict(zip(ROLES, rule, strict=True))
    actual: dict[str, int] = {}
    for role in ROLES:
        # A savepoint per role, rolled back: every role meets the same world.
        with transaction.atomic():
            client = Client()
            if world.users[role] is not None:
                client.force_login(world.users[role])
            before = _fingerprint()
            response = _request(client, method, url, post_body(endpoint.name, world))
            actual[role] = response.status_code
            sent_to_login = (
                role == "anonymous"
                and response.status_code == 302
                and endpoint.name not in PUBLIC_REDIRECTS
            )
            if sent_to_login:
                assert response["Location"].startswith(login_url), url
            if sent_to_login or response.status_code in (401, 403, 404, 405):
                assert _fingerprint() == before, f"{role} was refused {url} but something changed"
            transaction.set_rollback(True)
    assert actual == expected, f"{method} {url}"


@pytest.mark.django_db
def test_allowed_posts_really_write(world):
    """The success statuses above are real: the labeler's rating and the lead's cancel stick."""
    client = Client()
    client.force_login(world.users["labeler"])
    url = reverse("api_rating_submit", kwargs={"assignment_id": world.assignment.pk})
    assert _request(client, "POST", url, post_body("api_rating_submit", world)).status_code == 200
    assert models.Rating.objects.filter(user=world.users["labeler"]).count() == 2
    client.force_login(world.users["lead"])
    url = reverse("judge_run_cancel", kwargs={"slug": world.project.slug, "run_id": world.run.pk})
    assert client.post(url).status_code == 302
    assert JudgeRun.objects.get(pk=world.run.pk).status == RunStatus.CANCELLED


@pytest.mark.django_db
def test_the_admin_site_is_staff_only(world):
    anonymous = Client()
    for path in ("/admin/", "/admin/judges/judge/", "/admin/auth/user/"):
        response = anonymous.get(path)
        assert response.status_code == 302
        assert response["Location"].startswith("/admin/login/")
    for role, user in world.users.items():
        if user is None:
            continue
        client = Client()
        client.force_login(user)
        for path in ("/admin/", "/admin/judges/judge/", "/admin/auth/user/"):
            response = client.get(path)
            assert response.status_code == 302, (role, path)
            assert response["Location"].startswith("/admin/login/"), (role, path)
        # Logging in to the admin with a non-staff account's right password gets nowhere either.
        login = Client().post(
            "/admin/login/", {"username": user.username, "password": PASSWORD, "next": "/admin/"}
        )
        assert login.status_code == 200, role
        assert "staff account" in login.content.decode(), role
    staff = UserFactory(username="sam", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(staff)
    assert client.get("/admin/judges/judge/").status_code == 200


# --- what a labeler sees -------------------------------------------------------------------------

MODEL_A, MODEL_B = "zqx-orion-secret-model", "zqx-vega-secret-model"
JUDGE_NAME = "zqx-hidden-judge"
OTHER_LABELER = "zqx-other-labeler"
OTHER_RATIONALE = "zqx other labeler's private rationale"
JUDGE_RATIONALE = "zqx judge explanation nobody may see"
SECRETS = (MODEL_A, MODEL_B, JUDGE_NAME, OTHER_LABELER, OTHER_RATIONALE, JUDGE_RATIONALE)


@pytest.fixture
def rated_pair(project, alice) -> models.Pair:
    """One pair another labeler and a judge already rated; alice is to rate it next."""
    pair = make_pair(project, models_=(MODEL_A, MODEL_B), texts=("Paris.", "Lyon."))
    other = UserFactory(username=OTHER_LABELER)
    MembershipFactory(project=project, user=other, role=models.Role.LABELER)
    assignment = assignment_next(project=project, labeler=other)
    assert assignment is not None and assignment.pair_id == pair.pk
    rating_submit(
        labeler=other,
        assignment_id=assignment.pk,
        values={"helpfulness": 1, "truthfulness": 8},
        rationale=OTHER_RATIONALE,
    )
    judge = Judge.objects.create(name=JUDGE_NAME, model=MODEL_A)
    JudgeRun.objects.create(project=project, judge=judge, status=RunStatus.DONE)
    for criterion in project.criteria.all():
        for shown_first in ("a", "b"):
            models.Rating.objects.create(
                pair=pair,
                criterion=criterion,
                rater_kind=models.RaterKind.LLM,
                rater=JUDGE_NAME,
                shown_first=shown_first,
                value_shown="2",
                preference=-3,
                verdict="a",
                rationale=JUDGE_RATIONALE,
            )
    return pair


def _labeler_pages(project: models.Project, user: User) -> tuple[dict[str, Any], list[str]]:
    client = Client()
    client.force_login(user)
    api = client.get(reverse("api_next", args=[project.slug]))
    assert api.status_code == 200
    pages = [api.content.decode()]
    for name, args in (("label", [project.slug]), ("project_detail", [project.slug])):
        response = client.get(reverse(name, args=args))
        assert response.status_code == 200, name
        pages.append(response.content.decode())
    pages.append(client.get(reverse("project_list")).content.decode())
    return api.json(), pages


@pytest.mark.django_db
def test_a_blind_labeler_sees_no_model_name_judge_verdict_or_other_rating(
    project, alice, rated_pair
):
    body, pages = _labeler_pages(project, alice)
    assert sorted(body) == [
        "assignment_id", "criteria", "instructions", "progress", "prompt", "responses",
        "suggestion",
    ]  # fmt: skip
    assert body["suggestion"] is None
    assert sorted(body["responses"], key=lambda r: r["slot"]) in (
        [{"slot": 1, "text": "Paris."}, {"slot": 2, "text": "Lyon."}],
        [{"slot": 1, "text": "Lyon."}, {"slot": 2, "text": "Paris."}],
    )
    assert body["progress"] == {"rated": 0, "total": 1}
    for page in pages:
        for secret in SECRETS:
            assert secret not in page
    assert 'class="suggestion"' not in pages[1]


@pytest.mark.django_db
def test_in_verify_mode_the_labeler_sees_the_verdict_but_still_no_names_or_other_ratings(
    project, alice, rated_pair
):
    project.mode = models.ProjectMode.VERIFY
    project.save()
    body, pages = _labeler_pages(project, alice)
    # The judge preferred A (value 2 of 8): slot 1 when A was shown first, else slot 2.
    assignment = models.Assignment.objects.get(labeler=alice)
    prefers = 1 if assignment.a_shown_first else 2
    assert body["suggestion"]["helpfulness"]["prefers"] == prefers
    assert 'class="suggestion"' in pages[1]
    for page in pages:
        for secret in SECRETS:
            assert secret not in page
