import json

import pytest

import analysis.report
from analysis import services
from analysis.models import ReportCache, ReportStatus
from analysis.services import ReportParams, report_build, report_get
from analysis.tasks import report_compute_task
from analysis.tests.report_project import add_rating, rate_project
from annotate.models import Rating
from concord.api_errors import ApplicationError
from concord.celery import app as celery_app
from conftest import point_broker_at

pytestmark = pytest.mark.django_db

SECTION_KEYS = {
    "human_agreement",
    "position_bias",
    "verbosity_bias",
    "human_vs_llm",
    "leaderboard",
    "distribution",
    "labelers",
}


@pytest.fixture
def rated(project):
    rate_project(project)
    return project


@pytest.fixture
def build_calls(monkeypatch) -> list[int]:
    """Counts build_report calls (one per criterion computed)."""
    calls: list[int] = []
    real = analysis.report.build_report

    def counting(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)

    monkeypatch.setattr(analysis.report, "build_report", counting)
    return calls


def test_the_report_has_the_documented_keys_and_counts(rated):
    report = report_build(project=rated, bootstrap=50)
    assert set(report) == {"project", "generated_at", "counts", "criteria"}
    assert report["project"] == "chatbot-eval"
    assert report["counts"] == {
        "prompts": 12,
        "pairs": 12,
        "human_ratings": 72,
        "llm_ratings": 48,
        "labelers": 3,
        "judges": 1,
    }
    assert set(report["criteria"]) == {"helpfulness", "truthfulness"}
    for section in report["criteria"].values():
        assert set(section) == SECTION_KEYS
        assert section["human_agreement"]["n_ratings"] == 36
        assert set(section["human_vs_llm"]) == {"judge-x"}
        assert set(section["human_vs_llm"]["judge-x"]["by_category"]) == {"code", "writing"}
    json.dumps(report, allow_nan=False)


def test_a_second_request_is_served_from_the_cache_without_recomputing(rated, build_calls):
    first = report_build(project=rated, bootstrap=20)
    assert len(build_calls) == 2
    again = report_build(project=rated, bootstrap=20)
    assert len(build_calls) == 2
    assert again == first
    assert ReportCache.objects.get().status == ReportStatus.READY


def test_other_filters_or_seeds_are_cached_apart(rated, build_calls):
    report_build(project=rated, bootstrap=20, seed=1)
    report_build(project=rated, bootstrap=20, seed=2)
    only = report_build(project=rated, bootstrap=20, criteria=["truthfulness"])
    assert set(only["criteria"]) == {"truthfulness"}
    assert ReportCache.objects.count() == 3
    assert len(build_calls) == 5


def test_a_new_rating_makes_the_cached_report_stale(rated, build_calls):
    before = report_build(project=rated, bootstrap=20)
    pair = rated.pairs.first()
    add_rating(pair, rated.criteria.get(key="helpfulness"), rater="kim", preference=1)
    after = report_build(project=rated, bootstrap=20)
    assert len(build_calls) == 4
    assert after["counts"]["human_ratings"] == before["counts"]["human_ratings"] + 1
    assert ReportCache.objects.count() == 1


def test_a_deleted_rating_makes_the_cached_report_stale(rated):
    before = report_build(project=rated, bootstrap=20)
    Rating.objects.filter(rater="hana").first().delete()
    after = report_build(project=rated, bootstrap=20)
    assert after["counts"]["human_ratings"] == before["counts"]["human_ratings"] - 1


def test_a_rating_changed_in_place_makes_the_cached_report_stale(rated, build_calls):
    before = report_build(project=rated, bootstrap=0)
    call = Rating.objects.filter(rater="judge-x", shown_first="a").order_by("id").first()
    flipped = -call.preference
    # As judges.services writes a verdict when a call is answered again: the same row, updated.
    Rating.objects.update_or_create(
        pair_id=call.pair_id,
        criterion_id=call.criterion_id,
        rater_kind="llm",
        rater="judge-x",
        shown_first="a",
        defaults={"preference": flipped, "verdict": "a" if flipped < 0 else "b"},
    )
    after = report_build(project=rated, bootstrap=0)
    assert Rating.objects.count() == 120  # nothing added or removed
    assert len(build_calls) == 4
    # Shown first and now on the other side: one decisive call more or less for the first shown.
    was = before["criteria"][call.criterion.key]["position_bias"]["judge-x"]
    now = after["criteria"][call.criterion.key]["position_bias"]["judge-x"]
    step = 1 / was["n_decisive"]
    change = now["first_shown_win_rate"] - was["first_shown_win_rate"]
    assert change == pytest.approx(step if flipped < 0 else -step)


def test_the_judge_filter_keeps_the_humans_and_only_the_chosen_judges(rated):
    helpfulness = rated.criteria.get(key="helpfulness")
    add_rating(rated.pairs.first(), helpfulness, rater="judge-y", kind="llm", preference=1)
    both = report_build(project=rated, bootstrap=0)
    only_x = report_build(project=rated, bootstrap=0, judges=["judge-x"])
    assert set(both["criteria"]["helpfulness"]["human_vs_llm"]) == {"judge-x", "judge-y"}
    assert set(only_x["criteria"]["helpfulness"]["human_vs_llm"]) == {"judge-x"}
    assert only_x["counts"]["human_ratings"] == both["counts"]["human_ratings"]
    assert only_x["counts"]["judges"] == 1


def test_verify_mode_ratings_can_be_left_out(rated):
    add_rating(
        rated.pairs.first(),
        rated.criteria.get(key="helpfulness"),
        rater="kim",
        preference=2,
        with_suggestion=True,
    )
    included = report_build(project=rated, bootstrap=0)
    excluded = report_build(project=rated, bootstrap=0, include_suggested=False)
    assert "human_with_suggestion" in included["criteria"]["helpfulness"]["position_bias"]
    assert "human_with_suggestion" not in excluded["criteria"]["helpfulness"]["position_bias"]
    assert excluded["counts"]["human_ratings"] == included["counts"]["human_ratings"] - 1


def test_a_filter_naming_something_the_project_lacks_is_refused_by_name(rated):
    with pytest.raises(ApplicationError, match="unknown criterion 'honesty'"):
        report_build(project=rated, criteria=["honesty"])
    with pytest.raises(ApplicationError, match="unknown judge 'gpt-9'"):
        report_build(project=rated, judges=["gpt-9"])
    with pytest.raises(ApplicationError, match="bootstrap"):
        report_build(project=rated, bootstrap=-1)


def test_an_empty_project_has_a_report_without_criteria(project):
    report = report_build(project=project, bootstrap=10)
    assert report["criteria"] == {}
    assert report["counts"]["pairs"] == 0


def test_a_large_project_is_computed_by_a_worker_with_progress(
    rated, monkeypatch, memory_broker, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "BACKGROUND_THRESHOLD", 10)
    params = ReportParams(bootstrap=20)
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        started = report_get(project=rated, params=params)
    assert len(callbacks) == 1
    assert (started.status, started.progress, started.report) == ("computing", 0, None)
    # A second request while it runs does not enqueue again.
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        assert report_get(project=rated, params=params).status == "computing"
    assert callbacks == []

    row = ReportCache.objects.get()
    with celery_app.connection_for_write() as connection:
        message = connection.SimpleQueue("celery").get(timeout=1)
        assert message.headers["task"] == "analysis.tasks.report_compute_task"
        assert json.loads(message.body)[0] == [row.id]
        message.ack()
    assert report_compute_task(row.id) == "done"  # what the worker runs
    done = report_get(project=rated, params=params)
    assert done.status == "ready"
    assert done.progress == 100
    assert done.report == report_build(project=rated, bootstrap=20)
    assert report_compute_task(row.id) == "skipped"  # a redelivered message changes nothing


def test_with_the_broker_down_a_large_report_fails_loudly_and_is_not_computed_inline(
    rated, monkeypatch, build_calls, django_capture_on_commit_callbacks
):
    monkeypatch.setattr(services, "BACKGROUND_THRESHOLD", 10)
    point_broker_at(monkeypatch, "redis://127.0.0.1:1/0")
    with (
        pytest.raises(ApplicationError, match="broker is unreachable"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        report_get(project=rated, params=ReportParams())
    assert build_calls == []
    row = ReportCache.objects.get()
    assert row.status == ReportStatus.FAILED
    assert "broker is unreachable" in row.error


def test_progress_moves_after_every_section_of_every_criterion(rated) -> None:
    seen: list[int] = []
    report, _extras = services.report_compute(
        project=rated, params=ReportParams(bootstrap=20), on_progress=seen.append
    )
    steps = len(report["criteria"]) * len(analysis.report.SECTIONS)
    assert len(report["criteria"]) == 2
    assert seen[0] == services.STARTED_PERCENT and seen[-1] == 100
    assert seen == sorted(seen)
    # One step per section, each a distinct figure, then the end of each criterion again.
    assert len(set(seen)) == steps + 1
