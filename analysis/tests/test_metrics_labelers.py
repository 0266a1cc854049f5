import pandas as pd
import pytest

from analysis.metrics.labelers import labeler_quality, outliers
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
    assert "3 scaled MADs" in result["outlier_rule"] and "more than 0.1" in result["outlier_rule"]


def test_a_labeler_nobody_overlaps_with_gets_no_agreement_and_a_reason():
    result = labeler_quality(frame_of([{"pair_id": 1, "rater": "solo", "time_spent_ms": None}]))
    solo = result["raters"]["solo"]
    assert solo["agreement_with_others"] is None
    assert "someone else" in solo["agreement_with_others_note"]
    assert solo["median_time_ms"] is None and solo["outlier"] is False


def flagged(agreement: dict[str, float]) -> list[str]:
    result = outliers(pd.Series(agreement))
    return sorted(name for name, is_outlier in result.items() if is_outlier)


def test_a_labeler_a_hair_below_the_median_is_not_an_outlier_when_the_mad_is_zero():
    # The PandaLM demo: annotator1 at 0.888 against a median of 0.896 (MAD 0 with two equal).
    assert flagged({"annotator1": 0.888, "annotator2": 0.896, "annotator3": 0.896}) == []


def test_a_labeler_far_below_labelers_who_all_agree_alike_is_an_outlier():
    assert flagged({"a": 0.9, "b": 0.9, "c": 0.9, "d": 0.75}) == ["d"]


def test_a_gap_above_the_floor_but_within_three_scaled_mads_is_not_an_outlier():
    # Median 0.7, MAD 0.2, so 3 scaled MADs = 3 x 1.4826 x 0.2 = 0.89 > the 0.2 gap.
    assert flagged({"a": 0.5, "b": 0.7, "c": 0.9}) == []
    # Median 0.8, MAD 0.02 (3 scaled MADs = 0.089); 0.6 is 0.2 below, past both thresholds.
    assert flagged({"a": 0.78, "b": 0.8, "c": 0.82, "d": 0.8, "e": 0.6}) == ["e"]


def test_labelers_who_agree_more_than_the_others_are_never_flagged():
    assert flagged({"a": 0.5, "b": 0.5, "c": 0.5, "d": 1.0}) == []


def test_two_labelers_are_too_few_to_call_either_an_outlier():
    assert flagged({"a": 1.0, "b": 0.0}) == []
