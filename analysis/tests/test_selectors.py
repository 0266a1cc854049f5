from analysis.selectors import ratings_frame
from annotate.models import Rating
from annotate.services.assignment import assignment_next, rating_submit
from annotate.tests.factories import make_pair


def test_the_frame_has_one_canonical_row_per_rating_with_lengths(project, alice) -> None:
    pair = make_pair(
        project,
        category="code",
        models_=("zeta", "alpha"),
        texts=("Zeta's longer answer.", "Alpha."),
    )
    held = assignment_next(project=project, labeler=alice)
    rating_submit(
        labeler=alice,
        assignment_id=held.pk,
        values={"helpfulness": 1, "truthfulness": "tie"},
        time_spent_ms=1500,
    )
    helpfulness = project.criteria.get(key="helpfulness")
    for shown_first, preference in (("a", 2), ("b", -1)):
        Rating.objects.create(
            pair=pair,
            criterion=helpfulness,
            rater_kind="llm",
            rater="judge-x",
            shown_first=shown_first,
            value_shown="",
            preference=preference,
            verdict="b" if preference > 0 else "a",
            source="judge",
        )
    frame = ratings_frame(project=project, criteria=["helpfulness"])
    assert len(frame) == 3
    human = frame[frame["rater_kind"] == "human"].iloc[0]
    first = "a" if held.a_shown_first else "b"
    assert (human["unit"], human["model_a"], human["model_b"], human["category"]) == (
        f"{pair.pk}:helpfulness",
        "alpha",
        "zeta",
        "code",
    )
    assert (human["rater_group"], human["shown_first"], human["value_shown"]) == (
        "human",
        first,
        "1",
    )
    assert human["preference"] == (-4 if first == "a" else 4)
    assert (human["len_a"], human["len_b"], human["scale_k"]) == (6, 21, 4)
    assert human["time_spent_ms"] == 1500.0
    judge = frame[frame["rater_kind"] == "llm"]
    assert list(judge["rater_group"]) == ["judge-x", "judge-x"]
    assert list(judge["verdict"]) == ["b", "a"]


def test_an_empty_project_gives_an_empty_frame(project) -> None:
    frame = ratings_frame(project=project)
    assert frame.empty
    assert "rater_group" in frame.columns
