import pytest

from analysis.metrics.labelers import labeler_quality
from analysis.tests.frames import frame_of


def test_each_labeler_is_compared_with_the_majority_of_the_others():
    truth = ["a", "b", "a", "b", "tie", "a"]
    rows = []
    for unit, verdict in enumerate(truth):
        for rater in ("ann", "ben", "cat"):
            rows.append(
                {"pair_id": unit, "rater": rater, "verdict": verdict, "time_spent_ms": 900.0}
            )
        contrarian = "b" if verdict == "a" else "a"
        rows.append(
            {"pair_id": unit, "rater": "dan", "verdict": contrarian, "time_spent_ms": 100.0}
        )
    rows.append({"pair_id": 99, "rater": "ann", "verdict": "a", "shown_first": "b"})  # alone

    result = labeler_quality(frame_of(rows))
    raters = result["raters"]
    assert raters["ann"]["agreement_with_others"] == 1.0
    assert raters["ann"]["n_compared"] == 6 and raters["ann"]["n_ratings"] == 7
    assert raters["dan"]["agreement_with_others"] == 0.0
    assert raters["dan"]["outlier"] is True
    assert [name for name, q in raters.items() if q["outlier"]] == ["dan"]
    assert raters["dan"]["median_time_ms"] == 100.0
    assert raters["cat"]["tie_rate"] == pytest.approx(1 / 6)
    # ann saw A first on 5 decisive units and picked A on 3; her extra B-first pick of A loses.
    assert raters["ann"]["first_shown_win_rate"] == pytest.approx(3 / 6)
    assert "2 MAD" in result["outlier_rule"]


def test_a_labeler_nobody_overlaps_with_gets_no_agreement_and_a_reason():
    result = labeler_quality(frame_of([{"pair_id": 1, "rater": "solo", "time_spent_ms": None}]))
    solo = result["raters"]["solo"]
    assert solo["agreement_with_others"] is None
    assert "someone else" in solo["agreement_with_others_note"]
    assert solo["median_time_ms"] is None and solo["outlier"] is False
