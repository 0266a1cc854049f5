import pytest

from annotate.models import Criterion, Project, RaterKind
from annotate.tests.factories import make_pair
from exports.selectors import (
    DpoRecord,
    dpo_records,
    human_majority,
    judge_verdict,
    rating_rows,
)
from exports.tests.conftest import rate


@pytest.mark.parametrize(
    ("verdicts", "majority"),
    [
        (["a", "a", "b"], ("a", 2 / 3)),
        (["b"], ("b", 1.0)),
        (["tie", "tie", "a"], ("tie", 2 / 3)),
        (["a", "b"], None),
        (["a", "b", "tie"], None),
        (["a", "a", "b", "b", "tie"], None),
        ([], None),
    ],
)
def test_the_human_majority_is_the_single_most_common_verdict_with_its_share(
    verdicts: list[str], majority: tuple[str, float] | None
) -> None:
    assert human_majority(verdicts) == majority


@pytest.mark.parametrize(
    ("verdicts", "result"),
    [
        (["a", "a"], ("a", 1.0)),
        (["b"], ("b", 1.0)),
        (["a", "b"], ("tie", 0.0)),
        (["a", "tie"], ("tie", 0.5)),
    ],
)
def test_a_judge_that_disagrees_with_itself_across_orders_gives_a_tie(
    verdicts: list[str], result: tuple[str, float]
) -> None:
    assert judge_verdict(verdicts) == result


def test_rating_rows_come_pair_by_pair_in_chunks_that_may_split_a_pair(
    project: Project, helpfulness: Criterion
) -> None:
    first, second = make_pair(project), make_pair(project)
    # Rated alternately, as labelers do; exported grouped by pair.
    ids = {first.id: [], second.id: []}
    for i in range(5):
        for pair in (second, first):
            ids[pair.id].append(rate(pair, helpfulness, f"r{i}", "a").id)

    chunks = list(rating_rows(project=project, chunk_size=3))

    assert [len(chunk) for chunk in chunks] == [3, 3, 3, 1]
    assert [row[0] for chunk in chunks for row in chunk] == ids[first.id] + ids[second.id]
    assert {row[6] for chunk in chunks for row in chunk} == {"First answer."}


def _dpo(project: Project, **options: object) -> list[DpoRecord]:
    options = {"criterion": "helpfulness", "source": "human", "min_agreement": 0.5} | options
    return [r for chunk in dpo_records(project=project, **options) for r in chunk]  # type: ignore[arg-type]


@pytest.fixture
def dpo_project(project: Project, helpfulness: Criterion, truthfulness: Criterion) -> dict:
    """Four pairs: a 2-1 majority for A, a 1-1 split, a majority of ties, a lone vote for B."""
    pairs = [make_pair(project, external_id=f"q{i}", texts=(f"A{i}", f"B{i}")) for i in range(1, 5)]
    for pair, verdicts in zip(
        pairs, [["a", "a", "b"], ["a", "b"], ["tie", "tie", "a"], ["b"]], strict=True
    ):
        for i, verdict in enumerate(verdicts):
            rate(pair, helpfulness, f"human{i}", verdict)
    # The judge: consistent for A on q1, inconsistent on q2, one order only (B) on q4.
    for pair, order, verdict in [
        (pairs[0], "a", "a"),
        (pairs[0], "b", "a"),
        (pairs[1], "a", "a"),
        (pairs[1], "b", "b"),
        (pairs[3], "b", "b"),
    ]:
        rate(pair, helpfulness, "gpt-judge", verdict, kind=RaterKind.LLM, shown_first=order)
    rate(pairs[0], truthfulness, "human0", "b")
    return {"pairs": pairs}


def test_dpo_takes_the_human_majority_and_drops_splits_and_ties(
    project: Project, dpo_project: dict
) -> None:
    q1, _, _, q4 = dpo_project["pairs"]

    assert _dpo(project) == [
        DpoRecord(
            prompt=q1.prompt.text,
            chosen="A1",
            rejected="B1",
            pair_id=q1.id,
            prompt_id="q1",
            criterion="helpfulness",
            source="human",
            agreement=0.666667,
        ),
        DpoRecord(
            prompt=q4.prompt.text,
            chosen="B4",
            rejected="A4",
            pair_id=q4.id,
            prompt_id="q4",
            criterion="helpfulness",
            source="human",
            agreement=1.0,
        ),
    ]


def test_dpo_keeps_only_units_whose_majority_share_reaches_min_agreement(
    project: Project, dpo_project: dict
) -> None:
    assert [r.prompt_id for r in _dpo(project, min_agreement=0.7)] == ["q4"]
    assert [r.prompt_id for r in _dpo(project, min_agreement=2 / 3)] == ["q1", "q4"]
    assert [r.prompt_id for r in _dpo(project, min_agreement=0.0)] == ["q1", "q4"]


def test_dpo_from_a_judge_uses_its_orders_and_drops_inconsistent_units(
    project: Project, dpo_project: dict
) -> None:
    records = _dpo(project, source="gpt-judge")

    assert [(r.prompt_id, r.chosen, r.rejected, r.source, r.agreement) for r in records] == [
        ("q1", "A1", "B1", "gpt-judge", 1.0),
        ("q4", "B4", "A4", "gpt-judge", 1.0),
    ]


def test_dpo_without_a_criterion_gives_one_line_per_pair_and_criterion(
    project: Project, dpo_project: dict
) -> None:
    records = _dpo(project, criterion=None)

    assert [(r.prompt_id, r.criterion, r.chosen) for r in records] == [
        ("q1", "helpfulness", "A1"),
        ("q1", "truthfulness", "B1"),
        ("q4", "helpfulness", "B4"),
    ]


def test_dpo_gives_the_same_records_whatever_the_chunk_size(
    project: Project, dpo_project: dict
) -> None:
    assert _dpo(project, criterion=None, chunk_size=1) == _dpo(project, criterion=None)


def test_dpo_leaves_out_ratings_made_with_a_judge_suggestion_unless_asked(
    project: Project, dpo_project: dict, helpfulness: Criterion
) -> None:
    q2 = dpo_project["pairs"][1]
    # Two verify-mode labelers side with B on the 1-1 split: a 3-1 majority, if they count.
    for rater in ("verifier1", "verifier2"):
        rate(q2, helpfulness, rater, "b", with_suggestion=True)

    assert [r.prompt_id for r in _dpo(project)] == ["q1", "q4"]
    with_suggested = _dpo(project, include_suggested=True)
    assert [(r.prompt_id, r.agreement) for r in with_suggested] == [
        ("q1", 0.666667),
        ("q2", 0.75),
        ("q4", 1.0),
    ]
