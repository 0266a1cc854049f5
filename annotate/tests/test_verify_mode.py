"""Verify mode: labelers see a judge verdict as a neutral suggestion; blind mode never does."""

import pytest
from django.test import Client

from annotate import models
from annotate.scale import Scale, verdict_of
from annotate.tests.factories import make_pair
from annotate.tests.test_api import api_as, next_url
from judges.models import Judge, JudgeRun

SCALE_8 = Scale(8)


def judge_rating(pair, criterion_key, *, rater, shown_first, preference):
    """An LLM rating as a judge run writes it (canonical preference, value as shown)."""
    shown = preference if shown_first == "a" else -preference
    return models.Rating.objects.create(
        pair=pair,
        criterion=pair.project.criteria.get(key=criterion_key),
        rater_kind=models.RaterKind.LLM,
        rater=rater,
        shown_first=shown_first,
        value_shown=SCALE_8.shown_value(shown),
        preference=preference,
        verdict=verdict_of(preference),
        source="judge",
    )


def judge_run(project, name):
    judge = Judge.objects.create(name=name, model=f"{name}-model")
    return JudgeRun.objects.create(project=project, judge=judge, status="done")


@pytest.fixture
def verify(project):
    project.mode = models.ProjectMode.VERIFY
    project.save()
    return project


@pytest.fixture
def judged_pair(project):
    """A pair the judge 'gpt-judge' finds A better on helpfulness (3 and 2 points in the two
    orders) and contradicts itself on truthfulness."""
    pair = make_pair(project, models_=("secretmodel-alpha", "secretmodel-beta"))
    judge_run(project, "gpt-judge")
    judge_rating(pair, "helpfulness", rater="gpt-judge", shown_first="a", preference=-3)
    judge_rating(pair, "helpfulness", rater="gpt-judge", shown_first="b", preference=-2)
    judge_rating(pair, "truthfulness", rater="gpt-judge", shown_first="a", preference=-1)
    judge_rating(pair, "truthfulness", rater="gpt-judge", shown_first="b", preference=2)
    return pair


def _assignment(labeler):
    return models.Assignment.objects.get(labeler=labeler)


@pytest.mark.django_db
def test_a_verify_mode_labeler_gets_the_judges_verdict_in_the_order_they_see(
    verify, alice, judged_pair
):
    body = api_as(alice).get(next_url(verify)).json()
    assignment = _assignment(alice)
    # A is better by 2 (the weaker of the two orders): slot 1 if A is shown first, else slot 2.
    if assignment.a_shown_first:
        helpfulness = {"prefers": 1, "value": "3"}
    else:
        helpfulness = {"prefers": 2, "value": "6"}
    assert body["suggestion"] == {
        "helpfulness": helpfulness,
        "truthfulness": {"prefers": None, "value": "tie"},
    }
    assert set(body) == {
        "assignment_id", "prompt", "responses", "criteria", "progress", "instructions",
        "suggestion",
    }  # fmt: skip
    assert "gpt-judge" not in str(body) and "secretmodel" not in str(body)
    assert assignment.judge_suggestion_shown


@pytest.mark.django_db
def test_ratings_made_with_a_suggestion_in_view_carry_the_flag(verify, alice, judged_pair):
    client = api_as(alice)
    assignment_id = client.get(next_url(verify)).json()["assignment_id"]
    response = client.post(
        f"/api/assignments/{assignment_id}/ratings/",
        {"ratings": {"helpfulness": 3, "truthfulness": "tie"}},
        format="json",
    )
    assert response.status_code == 200
    human = models.Rating.objects.filter(rater_kind=models.RaterKind.HUMAN)
    assert human.count() == 2
    assert set(human.values_list("with_suggestion", flat=True)) == {True}


@pytest.mark.django_db
def test_with_several_judges_the_judge_of_the_latest_run_is_suggested(verify, alice, judged_pair):
    judge_run(verify, "newer-judge")
    judge_rating(judged_pair, "helpfulness", rater="newer-judge", shown_first="a", preference=4)
    judge_rating(judged_pair, "helpfulness", rater="newer-judge", shown_first="b", preference=4)
    body = api_as(alice).get(next_url(verify)).json()
    shown_b_better = 2 if _assignment(alice).a_shown_first else 1
    # Only the newer judge's criterion appears: its verdicts are never mixed with another's.
    assert body["suggestion"] == {
        "helpfulness": {"prefers": shown_b_better, "value": "8" if shown_b_better == 2 else "1"}
    }


@pytest.mark.django_db
def test_a_pair_no_judge_rated_has_no_suggestion_and_no_flag(verify, alice):
    make_pair(verify)
    client = api_as(alice)
    body = client.get(next_url(verify)).json()
    assert body["suggestion"] is None
    assert not _assignment(alice).judge_suggestion_shown
    client.post(
        f"/api/assignments/{body['assignment_id']}/ratings/",
        {"ratings": {"helpfulness": 3, "truthfulness": 4}},
        format="json",
    )
    assert not models.Rating.objects.filter(with_suggestion=True).exists()


@pytest.mark.django_db
def test_a_blind_mode_labeler_never_sees_a_judge_verdict_in_json_or_html(
    project, alice, judged_pair
):
    body = api_as(alice).get(next_url(project)).json()
    assert body["suggestion"] is None
    assert not _assignment(alice).judge_suggestion_shown
    client = Client()
    client.force_login(alice)
    html = client.get(f"/projects/{project.slug}/label/").content.decode()
    assert 'class="suggestion"' not in html and "Suggestion" not in html
    assert "gpt-judge" not in html and "secretmodel" not in html


@pytest.mark.django_db
def test_the_labeling_page_shows_the_suggestion_without_naming_judge_or_models(
    verify, alice, judged_pair
):
    client = Client()
    client.force_login(alice)
    html = client.get(f"/projects/{verify.slug}/label/").content.decode()
    slot = 1 if _assignment(alice).a_shown_first else 2
    assert 'class="suggestion"' in html
    assert f"Response {slot} is better" in html and "About the same" in html
    assert "gpt-judge" not in html and "secretmodel" not in html


@pytest.mark.django_db
def test_verify_mode_costs_one_more_query_on_a_repeat_next(
    verify, alice, judged_pair, django_assert_num_queries
):
    for _ in range(3):
        make_pair(verify)
    client = api_as(alice)
    client.get(next_url(verify))
    with django_assert_num_queries(7):
        assert client.get(next_url(verify)).status_code == 200
