"""End to end: a judge with a planted position bias, run over real HTTP, measured by the report."""

from typing import Any

import pytest

from analysis.services import report_build
from annotate.models import Project, Prompt, Rating
from annotate.tests.factories import make_pair
from judges.services import OUTCOME_ANSWERED, judge_run_start
from judges.stub import OpenAIStub, StubConfig
from judges.tests.conftest import API_KEY, drain, judge_for

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_broker")]

PLANTED = 0.7
PAIRS = 80  # x 2 orders: 160 decisive verdicts, a Wilson interval about +-0.07 wide


@pytest.fixture
def stub_config() -> StubConfig:
    return StubConfig(api_key=API_KEY, seed=11, position_bias=PLANTED)


def test_the_report_measures_the_position_bias_planted_in_the_judge(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    # Answers of equal length: the stub decides them by position alone, for the first shown in
    # 70% of its calls. Its draws follow from the seed and the request, so with the prompts fixed
    # too the run is the same in every session.
    for n in range(PAIRS):
        pair = make_pair(project, texts=(f"First answer {n:04d}.", f"Other answer {n:04d}."))
        Prompt.objects.filter(id=pair.prompt_id).update(text=f"Question number {n}?")
    judge = judge_for(stub)
    judge.save()
    with django_capture_on_commit_callbacks(execute=True):
        run = judge_run_start(project=project, judge=judge, criteria=["helpfulness"])
    assert set(drain(run)) == {OUTCOME_ANSWERED}

    report = report_build(project=project, bootstrap=0)
    bias = report["criteria"]["helpfulness"]["position_bias"][judge.name]

    ratings = Rating.objects.filter(rater=judge.name, criterion__key="helpfulness")
    first_won = sum(r.verdict == r.shown_first for r in ratings)
    assert bias["n_decisive"] == ratings.count() == 2 * PAIRS
    assert bias["first_shown_win_rate"] == pytest.approx(first_won / (2 * PAIRS))
    low, high = bias["ci95"]
    assert low <= PLANTED <= high
    assert abs(bias["first_shown_win_rate"] - PLANTED) < 0.08
    # Against "no bias" (0.5), 160 calls at about 70% leave little doubt.
    assert bias["p_value"] < 1e-3
    assert bias["tie_rate"] == 0
    # A pair gets the same verdict in both orders when the first shown wins once and loses once:
    # 2 x 0.7 x 0.3 = 0.42 of the pairs (three standard errors either side).
    assert abs(bias["swap_consistency"] - 2 * PLANTED * (1 - PLANTED)) < 0.17
