import pandas as pd

from analysis import selectors
from analysis.metrics.frame import COLUMNS, coerce_frame
from analysis.selectors import criterion_frames, ratings_frame
from analysis.tests.report_project import add_rating, rate_project
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


def reference_frame(project, **filters) -> pd.DataFrame:
    """The frame built the plain way, an ORM object per rating: what the streamed read must give."""
    rows = []
    ratings = Rating.objects.filter(pair__project=project, **filters).select_related(
        "pair__prompt", "pair__completion_a", "pair__completion_b", "criterion", "assignment"
    )
    for rating in ratings.order_by("id"):
        pair = rating.pair
        time_spent = rating.assignment.time_spent_ms if rating.assignment else None
        rows.append(
            {
                "unit": f"{pair.pk}:{rating.criterion.key}",
                "pair_id": pair.pk,
                "prompt_id": pair.prompt.external_id,
                "category": pair.prompt.category,
                "model_a": pair.model_a,
                "model_b": pair.model_b,
                "criterion": rating.criterion.key,
                "rater": rating.rater,
                "rater_kind": rating.rater_kind,
                "rater_group": rating.rater if rating.rater_kind == "llm" else "human",
                "shown_first": rating.shown_first,
                "value_shown": rating.value_shown,
                "preference": rating.preference,
                "scale_k": rating.criterion.scale_points // 2,
                "verdict": rating.verdict,
                "len_a": len(pair.completion_a.text),
                "len_b": len(pair.completion_b.text),
                "with_suggestion": rating.with_suggestion,
                "time_spent_ms": float("nan") if time_spent is None else float(time_spent),
            }
        )
    return coerce_frame(pd.DataFrame(rows, columns=list(COLUMNS)))


def test_ratings_read_in_small_chunks_give_the_frame_of_a_plain_read(
    project, alice, monkeypatch
) -> None:
    rate_project(project)
    pair = make_pair(project, category="code", models_=("omega", "delta"))
    held = assignment_next(project=project, labeler=alice)
    rating_submit(
        labeler=alice,
        assignment_id=held.pk,
        values={"helpfulness": 2, "truthfulness": 7},
        time_spent_ms=2500,
    )
    add_rating(
        pair, project.criteria.get(key="helpfulness"), rater="kim", preference=1,
        with_suggestion=True,
    )  # fmt: skip
    monkeypatch.setattr(selectors, "READ_CHUNK", 7)  # 123 ratings: many chunks, a partial last

    frame = ratings_frame(project=project)
    assert len(frame) == Rating.objects.filter(pair__project=project).count() == 123
    pd.testing.assert_frame_equal(frame, reference_frame(project))
    assert frame["time_spent_ms"].notna().sum() == 2  # alice's two criteria

    code_blind = ratings_frame(
        project=project, criteria=["truthfulness"], categories=["code"], include_suggested=False
    )
    pd.testing.assert_frame_equal(
        code_blind,
        reference_frame(
            project,
            criterion__key="truthfulness",
            pair__prompt__category="code",
            with_suggestion=False,
        ),
    )
    assert set(code_blind["category"]) == {"code"}


def test_criterion_frames_give_each_criterion_alone_as_its_own_ratings_frame(project) -> None:
    rate_project(project, n_prompts=2)
    helpfulness = project.criteria.get(key="helpfulness")
    add_rating(project.pairs.first(), helpfulness, rater="kim", preference=2, with_suggestion=True)

    frames = dict(criterion_frames(project=project, categories=["code"], include_suggested=False))

    assert list(frames) == ["helpfulness", "truthfulness"]
    for key, frame in frames.items():
        expected = ratings_frame(
            project=project, criteria=[key], categories=["code"], include_suggested=False
        )
        pd.testing.assert_frame_equal(frame, expected)
        assert set(frame["criterion"]) == {key} and "kim" not in set(frame["rater"])


def test_a_project_without_ratings_gives_no_criterion_frames(project) -> None:
    make_pair(project)
    assert list(criterion_frames(project=project)) == []
