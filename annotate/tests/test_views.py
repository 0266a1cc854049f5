"""Full-stack tests of the HTML pages: log in, request, check the page and the database."""

import io
import re
import time

import pytest
from django.contrib.auth import get_user_model
from django.core.files.uploadedfile import SimpleUploadedFile
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from annotate import models
from annotate.services.assignment import assignment_next, assignment_skip, rating_submit
from annotate.services.imports import import_file
from annotate.tests.factories import (
    CompletionFactory,
    MembershipFactory,
    ProjectFactory,
    PromptFactory,
    label_all,
    make_labeler,
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


LABELING_PAGE_MAIN = """
<div class="label-head">
  <p class="progress-text" id="progress">0 of 1 rated</p>
  <progress max="1" value="0"></progress>
</div>
<details class="instructions">
  <summary>Instructions</summary>
  <div class="md"><p>Prefer <strong>correct</strong> answers.</p></div>
  <h3>Keyboard</h3>
  <ul class="keys-help">
    <li><kbd>1</kbd>–<kbd>9</kbd> (<kbd>0</kbd> for 10) pick that point on the focused question's
        scale</li>
    <li><kbd>←</kbd> / <kbd>→</kbd> move the focused question's choice one point towards Response 1
        / Response 2 (from a tie or no choice, start at the middle)</li>
    <li><kbd>T</kbd> picks "about the same"</li>
    <li><kbd>Tab</kbd> or <kbd>↑</kbd> / <kbd>↓</kbd> move between questions</li>
    <li><kbd>Enter</kbd> submits (<kbd>Ctrl</kbd>+<kbd>Enter</kbd> from the rationale box),
        <kbd>S</kbd> skips the pair</li>
  </ul>
</details>
<section class="prompt" aria-labelledby="prompt-title">
  <h2 id="prompt-title">Prompt</h2>
  <div class="md"><p>What is the capital of France?</p></div>
</section>
<div class="responses">
  <article class="response" aria-labelledby="response-1">
    <h2 id="response-1">Response 1</h2>
    <div class="md"><p>{first}</p></div>
  </article>
  <article class="response" aria-labelledby="response-2">
    <h2 id="response-2">Response 2</h2>
    <div class="md"><p>{second}</p></div>
  </article>
</div>
<form method="post" id="rating-form" class="rating-form" novalidate>
  <input type="hidden" name="csrfmiddlewaretoken" value="CSRF">
  <input type="hidden" name="assignment_id" value="{assignment_id}">
  <input type="hidden" name="shown_at" value="SHOWN_AT">
  <p class="missing-note error" id="missing-note" role="alert" hidden></p>
  <fieldset class="criterion" tabindex="0" data-field="criterion_helpfulness"
      data-key="helpfulness" data-middle="">
    <legend>Which response is more helpful?</legend>
    <div class="scale" role="radiogroup" aria-label="Which response is more helpful?">
      <div class="points-block">
       <div class="points">
        <label class="point" title="Response 1 is much better"><input type="radio" tabindex="-1"
            name="criterion_helpfulness" value="1"><span class="point-value">1</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_helpfulness" value="2"><span class="point-value">2</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_helpfulness" value="3"><span class="point-value">3</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_helpfulness" value="4"><span class="point-value">4</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_helpfulness" value="5"><span class="point-value">5</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_helpfulness" value="6"><span class="point-value">6</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_helpfulness" value="7"><span class="point-value">7</span></label>
        <label class="point" title="Response 2 is much better"><input type="radio" tabindex="-1"
            name="criterion_helpfulness" value="8"><span class="point-value">8</span></label>
       </div>
       <div class="scale-ends" aria-hidden="true">
        <span>← Response 1 is much better</span><span>Response 2 is much better →</span>
       </div>
      </div>
      <label class="point tie" title="About the same"><input type="radio" tabindex="-1"
          name="criterion_helpfulness" value="tie"><span class="point-value">Tie</span></label>
    </div>
  </fieldset>
  <fieldset class="criterion" tabindex="0" data-field="criterion_truthfulness"
      data-key="truthfulness" data-middle="">
    <legend>Which response is more truthful?</legend>
    <div class="scale" role="radiogroup" aria-label="Which response is more truthful?">
      <div class="points-block">
       <div class="points">
        <label class="point" title="Response 1 is much better"><input type="radio" tabindex="-1"
            name="criterion_truthfulness" value="1"><span class="point-value">1</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_truthfulness" value="2"><span class="point-value">2</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_truthfulness" value="3"><span class="point-value">3</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_truthfulness" value="4"><span class="point-value">4</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_truthfulness" value="5"><span class="point-value">5</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_truthfulness" value="6"><span class="point-value">6</span></label>
        <label class="point" title=""><input type="radio" tabindex="-1"
            name="criterion_truthfulness" value="7"><span class="point-value">7</span></label>
        <label class="point" title="Response 2 is much better"><input type="radio" tabindex="-1"
            name="criterion_truthfulness" value="8"><span class="point-value">8</span></label>
       </div>
       <div class="scale-ends" aria-hidden="true">
        <span>← Response 1 is much better</span><span>Response 2 is much better →</span>
       </div>
      </div>
      <label class="point tie" title="About the same"><input type="radio" tabindex="-1"
          name="criterion_truthfulness" value="tie"><span class="point-value">Tie</span></label>
    </div>
  </fieldset>
  <div class="rationale">
    <label for="id_rationale">Rationale <span class="muted">(optional)</span></label>
    <textarea name="rationale" id="id_rationale" rows="2" maxlength="5000"></textarea>
  </div>
  <div class="actions">
    <button type="submit" class="primary">Submit <kbd>Enter</kbd></button>
    <button type="submit" form="skip-form" class="secondary">Skip <kbd>S</kbd></button>
    <span class="muted keys">digits pick · ←/→ adjust · T tie · ↑/↓ next question</span>
  </div>
</form>
<form method="post" id="skip-form" action="/projects/chatbot-eval/label/skip/">
  <input type="hidden" name="csrfmiddlewaretoken" value="CSRF">
  <input type="hidden" name="assignment_id" value="{assignment_id}">
</form>
"""


def normalised(html: str) -> str:
    """HTML with whitespace between and inside tags collapsed, for comparing pages whole."""
    html = " ".join(html.split())
    html = re.sub(r">\s+<", "><", html)
    return re.sub(r"\s+>", ">", html).strip()


def labeler_main(html: str) -> str:
    """The page's <main>, normalised, with the per-request token and clock masked."""
    match = re.search(r"<main\b[^>]*>(.*)</main>", html, re.S)
    assert match, "no <main> in the page"
    main = re.sub(r'(name="csrfmiddlewaretoken" value=")[^"]+"', r'\1CSRF"', match.group(1))
    main = re.sub(r'(name="shown_at" value=")\d+"', r'\1SHOWN_AT"', main)
    return normalised(main)


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


# Session, user, project and role (4); categories; criteria and two counts for each of the two
# (5); labelers (2); ratings per pair; pair, prompt and rating counts (4).
OVERVIEW_QUERIES = 17
GOOD_VALUES = {"helpfulness": 2, "truthfulness": "tie"}
OVERVIEW_MAIN = """
<div class="page-head"><h1>Chatbot eval</h1><span class="badge">lead</span></div>
<nav class="actions-bar">
  <a class="button" href="/projects/chatbot-eval/import/">Import data</a>
  <a class="button" href="/projects/chatbot-eval/report/">Report</a>
  <a class="button" href="/projects/chatbot-eval/export/">Export</a>
  <a class="button" href="/projects/chatbot-eval/judges/">Judges</a>
</nav>
<section class="stats">
  <div class="stat"><span class="stat-value">3</span><span class="stat-label">prompts</span></div>
  <div class="stat"><span class="stat-value">3</span><span class="stat-label">pairs</span></div>
  <div class="stat"><span class="stat-value">9</span><span class="stat-label">human
      ratings</span></div>
  <div class="stat"><span class="stat-value">1</span><span class="stat-label">LLM
      ratings</span></div>
  <div class="stat"><span class="stat-value">2</span><span class="stat-label">labelers per
      pair</span></div>
</section>
<section class="card">
  <h2>Progress per criterion</h2>
  <table>
    <thead><tr><th>Criterion</th><th class="num">Human ratings</th><th class="num">Pairs
        complete</th><th>Progress</th></tr></thead>
    <tbody>
      <tr><td>helpfulness</td><td class="num">5</td><td class="num">2 of 3</td><td><progress
          max="3" value="2"></progress></td></tr>
      <tr><td>truthfulness</td><td class="num">4</td><td class="num">1 of 3</td><td><progress
          max="3" value="1"></progress></td></tr>
    </tbody>
  </table>
</section>
<section class="card">
  <h2>Labelers</h2>
  <table>
    <thead><tr><th>Labeler</th><th class="num">Submitted</th><th class="num">Skipped</th><th
        class="num">Open</th><th class="num">Median seconds</th></tr></thead>
    <tbody>
      <tr><td>alice</td><td class="num">2</td><td class="num">0</td><td class="num">1</td><td
          class="num">6.0</td></tr>
      <tr><td>bob</td><td class="num">2</td><td class="num">1</td><td class="num">0</td><td
          class="num">4.0</td></tr>
    </tbody>
  </table>
</section>
<div class="two-col">
  <section class="card">
    <h2>Ratings per pair</h2>
    <table>
      <thead><tr><th class="num">Submitted ratings</th><th class="num">Pairs</th></tr></thead>
      <tbody>
        <tr><td class="num">1</td><td class="num">1</td></tr>
        <tr><td class="num">2</td><td class="num">2</td></tr>
      </tbody>
    </table>
  </section>
  <section class="card">
    <h2>Categories</h2>
    <table>
      <thead><tr><th>Category</th><th class="num">Prompts</th><th
          class="num">Pairs</th></tr></thead>
      <tbody>
        <tr><td>math</td><td class="num">1</td><td class="num">1</td></tr>
        <tr><td>writing</td><td class="num">2</td><td class="num">2</td></tr>
      </tbody>
    </table>
  </section>
</div>
"""


@pytest.mark.django_db
def test_the_overview_shows_progress_per_criterion_and_labeler_and_ratings_per_pair(
    client, project, alice, bob, lena
):
    project.overlap = 2
    project.save()
    p1 = make_pair(project, external_id="p1", category="math")
    p2 = make_pair(project, external_id="p2", category="writing")
    p3 = make_pair(project, external_id="p3", category="writing")
    # alice rates p1 and p2 and holds p3; bob rates p1, skips p2, rates p3.
    steps = [
        (alice, p1, 4000), (alice, p2, 8000), (alice, p3, None),
        (bob, p1, 3000), (bob, p2, "skip"), (bob, p3, 5000),
    ]  # fmt: skip
    for labeler, pair, spent in steps:
        assignment = assignment_next(project=project, labeler=labeler)
        assert assignment is not None and assignment.pair_id == pair.pk
        if spent == "skip":
            assignment_skip(labeler=labeler, assignment_id=assignment.pk)
        elif spent is not None:
            rating_submit(labeler=labeler, assignment_id=assignment.pk, time_spent_ms=spent,
                          values={"helpfulness": 2, "truthfulness": "tie"})  # fmt: skip
    # A vendor's human label completes p2 on helpfulness only; a judge's label is no human's.
    ratings = (
        b"prompt_id,model_a,model_b,criterion,rater,rater_kind,winner,shown_first\n"
        b"p2,alpha-7b,beta-13b,helpfulness,vendor-7,human,a,b\n"
        b"p1,alpha-7b,beta-13b,helpfulness,judge-x,llm,b,a\n"
    )
    import_file(project=project, kind="ratings", file=io.BytesIO(ratings), filename="r.csv")
    login(client, lena)
    page = client.get(reverse("project_detail", args=[project.slug]))
    assert page.status_code == 200
    assert page.context["overview"] == {
        "pairs": 3,
        "prompts": 3,
        "categories": [
            {"category": "math", "prompts": 1, "pairs": 1},
            {"category": "writing", "prompts": 2, "pairs": 2},
        ],
        "human_ratings": 9,
        "llm_ratings": 1,
        "per_criterion": [
            {"criterion": "helpfulness", "ratings": 5, "units_complete": 2},
            {"criterion": "truthfulness", "ratings": 4, "units_complete": 1},
        ],
        "per_labeler": [
            {"username": "alice", "submitted": 2, "skipped": 0, "open": 1, "median_seconds": 6.0},
            {"username": "bob", "submitted": 2, "skipped": 1, "open": 0, "median_seconds": 4.0},
        ],
        "ratings_per_pair": {"1": 1, "2": 2},
    }
    assert labeler_main(page.content.decode()) == normalised(OVERVIEW_MAIN)
    assert sorted(models.Pair.objects.values_list("submitted", flat=True)) == [1, 2, 2]


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
def test_the_labeling_page_shows_the_pair_blind_and_nothing_else(client, project, alice):
    project.instructions = "Prefer **correct** answers."
    project.save()
    pair = secret_pair(project)
    login(client, alice)
    response = client.get(reverse("label", args=[project.slug]))
    assert response.status_code == 200
    assignment = models.Assignment.objects.get(labeler=alice)
    assert assignment.pair_id == pair.pk
    texts = ["Paris is the capital.", "It is Lyon, I think."]
    if not assignment.a_shown_first:
        texts.reverse()
    html = response.content.decode()
    expected = LABELING_PAGE_MAIN.format(
        first=texts[0], second=texts[1], assignment_id=assignment.pk
    )
    assert labeler_main(html) == normalised(expected)
    # Outside <main> too (head, top bar): no model name, pair id or completion id anywhere.
    masked = re.sub(r'(name="(csrfmiddlewaretoken|shown_at)" value=")[^"]+"', r"\1", html)
    for secret in ("secretmodel", "alpha", "beta", "640001", "730001", "730002"):
        assert secret not in masked


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
def test_a_submit_clashing_with_an_imported_rating_says_why_and_moves_on(client, project, alice):
    make_pair(project, external_id="vendor-1")
    fresh = make_pair(project, external_id="fresh-1")
    login(client, alice)
    held = client.get(reverse("label", args=[project.slug])).context["view"]["assignment_id"]
    ratings = (
        b"prompt_id,model_a,model_b,criterion,rater,rater_kind,winner\n"
        b"vendor-1,alpha-7b,beta-13b,helpfulness,alice,human,b\n"
    )
    import_file(project=project, kind="ratings", file=io.BytesIO(ratings), filename="r.csv")
    response = client.post(
        reverse("label", args=[project.slug]),
        {"assignment_id": held, "criterion_helpfulness": "1", "criterion_truthfulness": "1"},
        follow=True,
    )
    assert response.redirect_chain == [(reverse("label", args=[project.slug]), 302)]
    assert "You have already rated this pair" in response.content.decode()
    assert models.Assignment.objects.get(id=held).status == models.AssignmentStatus.EXPIRED
    assert response.context["view"]["assignment_id"] != held
    assert models.Assignment.objects.get(labeler=alice, status="open").pair_id == fresh.pk
    assert list(models.Rating.objects.values_list("rater", "source")) == [("alice", "import")]


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


@pytest.mark.django_db
def test_changing_overlap_in_the_admin_recounts_the_open_pairs(client, project, alice):
    busy = make_pair(project)
    make_pair(project)
    models.Pair.objects.filter(pk=busy.pk).update(claims=2, submitted=2)
    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    login(client, admin_user)
    url = reverse("admin:annotate_project_change", args=[project.pk])
    form = {
        "name": "Chatbot eval", "slug": "chatbot-eval", "instructions": "", "overlap": "2",
        "mode": "blind", "lease_minutes": "20",
    }  # fmt: skip
    for prefix in ("criteria", "memberships"):
        form |= {f"{prefix}-TOTAL_FORMS": "0", f"{prefix}-INITIAL_FORMS": "0"}
    response = client.post(url, form)
    assert response.status_code == 302, response.context and response.context["errors"]
    project.refresh_from_db()
    assert (project.overlap, project.lease_minutes, project.open_pairs) == (2, 20, 1)
    assert project.criteria.count() == 2
    login(client, alice)
    page = client.get(reverse("project_detail", args=[project.slug]))
    assert page.context["progress"] == {"rated": 0, "total": 1}


@pytest.mark.django_db
def test_the_admin_offers_the_configured_lease_for_a_new_project(client, settings):
    settings.ASSIGNMENT_LEASE_MINUTES = 25
    admin_user = get_user_model().objects.create_superuser("root", "root@example.com", "pw")
    login(client, admin_user)
    page = client.get(reverse("admin:annotate_project_add"))
    assert page.context["adminform"].form.initial["lease_minutes"] == "25"


@pytest.mark.django_db
def test_the_overview_costs_the_same_queries_however_many_labelers_and_pairs(
    client, project, alice, lena
):
    make_pair(project, category="math")
    label_all(project, alice, GOOD_VALUES)
    login(client, lena)
    url = reverse("project_detail", args=[project.slug])
    with CaptureQueriesContext(connection) as small:
        assert client.get(url).status_code == 200
    for index in range(4):
        make_pair(project, category=f"category-{index}")
    for _ in range(3):
        label_all(project, make_labeler(project), GOOD_VALUES)
    with CaptureQueriesContext(connection) as large:
        page = client.get(url)
    assert len(page.context["overview"]["per_labeler"]) == 4
    assert len(page.context["overview"]["categories"]) == 5
    assert len(large) == len(small) == OVERVIEW_QUERIES
