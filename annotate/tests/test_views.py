"""Full-stack tests of the HTML pages: log in, request, check the page and the database."""

import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.urls import reverse

from annotate import models
from annotate.tests.factories import (
    CompletionFactory,
    MembershipFactory,
    ProjectFactory,
    PromptFactory,
    make_pair,
)

GOOD_COMPLETIONS = (
    b"prompt_id,prompt,category,model,completion\n"
    b"p1,Write a haiku.,writing,alpha-7b,Soft rain.\n"
    b"p1,Write a haiku.,writing,beta-13b,Rain falls.\n"
    b"p1,Write a haiku.,writing,gamma-70b,Drops.\n"
    b"p2,Add 2 and 2.,math,alpha-7b,4\n"
    b"p2,Add 2 and 2.,math,beta-13b,Four.\n"
)
BAD_COMPLETIONS = (
    b"prompt_id,prompt,category,model,completion\n"
    b"p1,Write a haiku.,writing,alpha-7b,Soft rain.\n"
    b",Orphan prompt,writing,alpha-7b,text\n"
    b"p3,Lonely,writing,alpha-7b,\n"
)


def login(client: Client, user: object) -> Client:
    client.force_login(user)
    return client


def secret_pair(project: models.Project) -> models.Pair:
    """A pair whose ids and model names are distinctive enough to search the page for."""
    prompt = PromptFactory(
        project=project, prompt_set__project=project, text="What is the capital of France?"
    )
    first = CompletionFactory(
        id=730001, prompt=prompt, model="secretmodel-alpha", text="Paris is the capital."
    )
    second = CompletionFactory(
        id=730002, prompt=prompt, model="secretmodel-beta", text="It is Lyon, I think."
    )
    return models.Pair.objects.create(
        id=640001, project=project, prompt=prompt, completion_a=first, completion_b=second,
        model_a=first.model, model_b=second.model,
    )  # fmt: skip


# --- access ----------------------------------------------------------------------------------


PAGES = [
    ("get", "project_detail"),
    ("get", "label"),
    ("post", "label"),
    ("post", "label_skip"),
    ("get", "import_upload"),
    ("post", "import_upload"),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "name"), PAGES)
def test_an_outsider_cannot_tell_a_project_exists(client, project, mallory, method, name):
    login(client, mallory)
    response = getattr(client, method)(reverse(name, args=[project.slug]))
    assert response.status_code == 404


@pytest.mark.django_db
@pytest.mark.parametrize(("method", "name"), [*PAGES, ("get", "project_list")])
def test_an_anonymous_visitor_is_sent_to_the_login_page(client, project, method, name):
    url = reverse(name) if name == "project_list" else reverse(name, args=[project.slug])
    response = getattr(client, method)(url)
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


@pytest.mark.django_db
def test_a_labeler_may_not_import_and_a_researcher_may_not_label(client, project, alice, rita):
    login(client, alice)
    assert client.get(reverse("import_upload", args=[project.slug])).status_code == 403
    login(client, rita)
    assert client.get(reverse("label", args=[project.slug])).status_code == 403
    assert not models.Assignment.objects.exists()


@pytest.mark.django_db
def test_the_login_page_logs_a_user_in_and_out(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "pw-concord-1"})
    assert response.status_code == 302
    assert response["Location"] == reverse("project_list")
    assert client.get(reverse("project_list")).status_code == 200
    client.post(reverse("logout"))
    assert client.get(reverse("project_list")).status_code == 302


@pytest.mark.django_db
def test_a_wrong_password_is_refused_on_the_login_page(client, alice):
    response = client.post(reverse("login"), {"username": "alice", "password": "nope"})
    assert response.status_code == 200
    assert "did not match" in response.content.decode()


# --- project list and overview ------------------------------------------------------------------


@pytest.mark.django_db
def test_the_project_list_shows_only_my_projects_with_my_role(
    client, project, alice, bob, lena, django_assert_num_queries
):
    other = ProjectFactory(name="Hidden project")
    MembershipFactory(project=other, user=bob, role=models.Role.LEAD)
    mine = ProjectFactory(name="Another eval")
    MembershipFactory(project=mine, user=alice, role=models.Role.RESEARCHER)
    login(client, alice)
    # session, user, projects with role
    with django_assert_num_queries(3):
        response = client.get(reverse("project_list"))
    assert [(p.name, p.role) for p in response.context["projects"]] == [
        ("Another eval", "researcher"),
        ("Chatbot eval", "labeler"),
    ]
    assert "Hidden project" not in response.content.decode()


@pytest.mark.django_db
def test_the_overview_shows_counts_and_progress_to_leads_and_researchers(
    client, project, alice, lena, rita
):
    make_pair(project, category="math")
    make_pair(project, category="writing")
    login(client, lena)
    page = client.get(reverse("project_detail", args=[project.slug]))
    assert page.status_code == 200
    overview = page.context["overview"]
    assert overview["pairs"] == 2
    assert [c["category"] for c in overview["categories"]] == ["math", "writing"]
    html = page.content.decode()
    assert f"/projects/{project.slug}/report/" in html
    assert reverse("import_upload", args=[project.slug]) in html
    login(client, rita)
    page = client.get(reverse("project_detail", args=[project.slug]))
    assert page.status_code == 200
    assert reverse("import_upload", args=[project.slug]) not in page.content.decode()


@pytest.mark.django_db
def test_a_labeler_lands_on_start_labeling_with_progress(client, project, alice):
    make_pair(project)
    make_pair(project)
    login(client, alice)
    html = client.get(reverse("project_detail", args=[project.slug])).content.decode()
    assert "Start labeling" in html
    assert "0 of 2 rated" in html
    assert "overview" not in client.get(reverse("project_detail", args=[project.slug])).context


# --- labeling page -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_labeling_page_shows_the_pair_blind(client, project, alice):
    project.instructions = "Prefer **correct** answers."
    project.save()
    pair = secret_pair(project)
    login(client, alice)
    response = client.get(reverse("label", args=[project.slug]))
    assert response.status_code == 200
    html = response.content.decode()
    assignment = models.Assignment.objects.get(labeler=alice)
    assert assignment.pair_id == pair.pk
    for secret in ("secretmodel", "640001", "730001", "730002"):
        assert secret not in html
    assert "What is the capital of France?" in html
    assert "Response 1" in html and "Response 2" in html
    paris_first = html.index("Paris is the capital.") < html.index("It is Lyon")
    assert paris_first == assignment.a_shown_first
    assert "0 of 1 rated" in html
    assert "<strong>correct</strong>" in html
    assert "Which response is more truthful?" in html
    assert f'name="assignment_id" value="{assignment.pk}"' in html
    assert 'value="tie"' in html


@pytest.mark.django_db
def test_a_completion_with_script_or_onerror_is_shown_as_inert_text(client, project, alice):
    make_pair(
        project,
        texts=("<script>alert(1)</script>", "Look: <img src=x onerror=alert(1)> **bold**"),
    )
    login(client, alice)
    html = client.get(reverse("label", args=[project.slug])).content.decode()
    assert "<script>alert(1)" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert "<img" not in html
    assert "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<strong>bold</strong>" in html


@pytest.mark.django_db
def test_submitting_the_form_stores_the_ratings_and_shows_the_next_pair(client, project, alice):
    make_pair(project)
    make_pair(project)
    login(client, alice)
    first = client.get(reverse("label", args=[project.slug])).context["view"]["assignment_id"]
    shown_at = int(time.time() * 1000) - 4000
    response = client.post(
        reverse("label", args=[project.slug]),
        {
            "assignment_id": first,
            "criterion_helpfulness": "2",
            "criterion_truthfulness": "tie",
            "rationale": "The first one is clearer.",
            "shown_at": shown_at,
        },
    )
    assert response.status_code == 302
    assert response["Location"] == reverse("label", args=[project.slug])
    assignment = models.Assignment.objects.get(id=first)
    assert assignment.status == models.AssignmentStatus.SUBMITTED
    assert 4000 <= assignment.time_spent_ms < 60_000
    ratings = {r.criterion.key: r for r in assignment.ratings.select_related("criterion")}
    assert {k: r.value_shown for k, r in ratings.items()} == {
        "helpfulness": "2",
        "truthfulness": "tie",
    }
    assert ratings["helpfulness"].rationale == "The first one is clearer."
    following = client.get(reverse("label", args=[project.slug]))
    assert following.context["view"]["assignment_id"] != first
    assert "1 of 2 rated" in following.content.decode()


@pytest.mark.django_db
def test_a_form_missing_a_criterion_is_shown_again_naming_it(client, project, alice):
    make_pair(project)
    login(client, alice)
    first = client.get(reverse("label", args=[project.slug])).context["view"]["assignment_id"]
    response = client.post(
        reverse("label", args=[project.slug]),
        {"assignment_id": first, "criterion_helpfulness": "8", "rationale": "kept"},
    )
    assert response.status_code == 200
    html = response.content.decode()
    assert "Choose a value for truthfulness." in html
    assert "kept</textarea>" in html
    assert 'name="criterion_helpfulness" value="8" checked' in " ".join(html.split())
    assert not models.Rating.objects.exists()
    assert models.Assignment.objects.get(id=first).status == models.AssignmentStatus.OPEN


@pytest.mark.django_db
def test_a_labeler_cannot_submit_someone_elses_assignment(client, project, alice, bob):
    make_pair(project)
    login(client, bob)
    bobs = client.get(reverse("label", args=[project.slug])).context["view"]["assignment_id"]
    login(client, alice)
    response = client.post(
        reverse("label", args=[project.slug]),
        {"assignment_id": bobs, "criterion_helpfulness": "1", "criterion_truthfulness": "1"},
    )
    assert response.status_code == 404
    assert not models.Rating.objects.exists()


@pytest.mark.django_db
def test_skipping_gives_the_pair_back_and_moves_on(client, project, alice):
    make_pair(project)
    make_pair(project)
    login(client, alice)
    first = client.get(reverse("label", args=[project.slug])).context["view"]["assignment_id"]
    response = client.post(reverse("label_skip", args=[project.slug]), {"assignment_id": first})
    assert response.status_code == 302
    assert models.Assignment.objects.get(id=first).status == models.AssignmentStatus.SKIPPED
    following = client.get(reverse("label", args=[project.slug])).context["view"]
    assert following["assignment_id"] != first


@pytest.mark.django_db
def test_a_labeler_with_nothing_left_sees_the_all_done_page(client, project, alice):
    login(client, alice)
    response = client.get(reverse("label", args=[project.slug]))
    assert response.status_code == 200
    assert "All done" in response.content.decode()
    assert not models.Assignment.objects.exists()


# --- import page ----------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_lead_imports_completions_and_sees_counts_by_category(client, project, lena):
    login(client, lena)
    upload = SimpleUploadedFile("completions.csv", GOOD_COMPLETIONS, content_type="text/csv")
    response = client.post(
        reverse("import_upload", args=[project.slug]),
        {"file": upload, "kind": "completions", "pairs": "all", "seed": "0"},
    )
    assert response.status_code == 200
    result = response.context["result"]
    assert (result.prompts_created, result.completions_created, result.pairs_created) == (2, 5, 4)
    html = response.content.decode()
    assert "Imported 5 rows" in html
    assert "writing" in html and "math" in html
    assert models.Pair.objects.filter(project=project).count() == 4


@pytest.mark.django_db
def test_a_lead_can_ask_for_a_sample_of_pairs_per_prompt(client, project, lena):
    login(client, lena)
    upload = SimpleUploadedFile("completions.csv", GOOD_COMPLETIONS, content_type="text/csv")
    response = client.post(
        reverse("import_upload", args=[project.slug]),
        {"file": upload, "kind": "completions", "pairs": "per_prompt", "pairs_per_prompt": "1",
         "seed": "7"},
    )  # fmt: skip
    assert response.status_code == 200
    assert models.Pair.objects.filter(project=project).count() == 2


@pytest.mark.django_db
def test_a_bad_file_imports_nothing_and_lists_every_bad_row(client, project, lena):
    login(client, lena)
    upload = SimpleUploadedFile("completions.csv", BAD_COMPLETIONS, content_type="text/csv")
    response = client.post(
        reverse("import_upload", args=[project.slug]),
        {"file": upload, "kind": "completions", "pairs": "all", "seed": "0"},
    )
    assert response.status_code == 400
    rows = {error["row"] for error in response.context["row_errors"]}
    assert {2, 3} <= rows
    html = response.content.decode()
    assert "Nothing was imported" in html
    assert not models.Prompt.objects.exists()


@pytest.mark.django_db
def test_asking_for_n_pairs_without_n_is_refused_by_the_form(client, project, lena):
    login(client, lena)
    upload = SimpleUploadedFile("completions.csv", GOOD_COMPLETIONS, content_type="text/csv")
    response = client.post(
        reverse("import_upload", args=[project.slug]),
        {"file": upload, "kind": "completions", "pairs": "per_prompt", "seed": "0"},
    )
    assert response.status_code == 400
    assert "Give the number of pairs per prompt." in response.content.decode()
    assert not models.Prompt.objects.exists()


# --- admin ------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_admin_lists_and_searches_every_annotate_model(client, project, alice):
    pair = make_pair(project)
    login(client, alice)
    client.get(reverse("label", args=[project.slug]))
    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    login(client, admin_user)
    for model in ("project", "criterion", "membership", "promptset", "prompt", "completion",
                  "pair", "assignment", "rating"):  # fmt: skip
        url = reverse(f"admin:annotate_{model}_changelist")
        assert client.get(url).status_code == 200, model
        assert client.get(url, {"q": "alpha"}).status_code == 200, model
    change = client.get(reverse("admin:annotate_pair_change", args=[pair.pk]))
    assert change.status_code == 200
    # Raw id inputs, not select boxes listing every completion.
    widget = change.context["adminform"].form.fields["completion_a"].widget
    assert type(widget).__name__ == "ForeignKeyRawIdWidget"
