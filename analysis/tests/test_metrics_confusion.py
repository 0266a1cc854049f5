from analysis.metrics.confusion import human_judge_confusion
from analysis.tests.frames import frame_of


def test_the_confusion_matrix_counts_units_by_human_majority_and_judge_verdict():
    frame = frame_of(
        [
            # unit 1: humans a, a, b -> a; judge a in both orders -> a
            {"pair_id": 1, "rater": "h1", "verdict": "a"},
            {"pair_id": 1, "rater": "h2", "verdict": "a"},
            {"pair_id": 1, "rater": "h3", "verdict": "b"},
            {"pair_id": 1, "rater": "j", "rater_kind": "llm", "rater_group": "j", "verdict": "a"},
            {"pair_id": 1, "rater": "j", "rater_kind": "llm", "rater_group": "j", "verdict": "a",
             "shown_first": "b"},
            # unit 2: humans a, b -> tie; judge b then a -> inconsistent, a tie
            {"pair_id": 2, "rater": "h1", "verdict": "a"},
            {"pair_id": 2, "rater": "h2", "verdict": "b"},
            {"pair_id": 2, "rater": "j", "rater_kind": "llm", "rater_group": "j", "verdict": "b"},
            {"pair_id": 2, "rater": "j", "rater_kind": "llm", "rater_group": "j", "verdict": "a",
             "shown_first": "b"},
            # unit 3: humans b; judge b
            {"pair_id": 3, "rater": "h1", "verdict": "b"},
            {"pair_id": 3, "rater": "j", "rater_kind": "llm", "rater_group": "j", "verdict": "b"},
            # unit 4: only humans, not counted
            {"pair_id": 4, "rater": "h1", "verdict": "b"},
        ]
    )  # fmt: skip
    humans = frame[frame["rater_kind"] == "human"]
    judge = frame[frame["rater_kind"] == "llm"]
    result = human_judge_confusion(humans, judge)
    assert result == {
        "labels": ["a", "tie", "b"],
        "counts": [[1, 0, 0], [0, 1, 0], [0, 0, 1]],
        "n": 3,
    }


def test_no_shared_units_give_an_all_zero_matrix():
    frame = frame_of([{"pair_id": 1, "rater": "h1", "verdict": "a"}])
    result = human_judge_confusion(frame, frame.iloc[0:0])
    assert result["counts"] == [[0, 0, 0]] * 3
    assert result["n"] == 0
