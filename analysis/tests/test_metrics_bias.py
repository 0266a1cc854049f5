import pytest
from scipy.stats import binomtest
from statsmodels.stats.proportion import proportion_confint

from analysis.metrics import bias
from analysis.tests.frames import frame_of


def judge_call(pair_id, shown_first, verdict, **extra):
    return {
        "pair_id": pair_id,
        "rater": "j",
        "rater_kind": "llm",
        "rater_group": "j",
        "shown_first": shown_first,
        "verdict": verdict,
        **extra,
    }


def test_position_bias_counts_each_call_and_wins_of_the_first_shown_completion():
    frame = frame_of(
        [
            judge_call(1, "a", "a"),  # first shown won
            judge_call(1, "b", "a"),  # second shown won (consistent across orders)
            judge_call(2, "a", "a"),  # first shown won
            judge_call(2, "b", "b"),  # first shown won (flipped with the order)
            judge_call(3, "a", "tie"),
            judge_call(4, "", "b"),  # unknown order: ignored
        ]
    )
    result = bias.position_bias(frame)
    assert result["n_decisive"] == 4
    assert result["first_shown_win_rate"] == pytest.approx(3 / 4)
    assert result["ci95"] == pytest.approx(list(proportion_confint(3, 4, method="wilson")))
    assert result["p_value"] == pytest.approx(binomtest(3, 4, 0.5).pvalue)
    assert result["tie_rate"] == pytest.approx(1 / 5)
    assert result["swap_consistency"] == pytest.approx(1 / 2)
    assert result["n_swapped_pairs"] == 2


def test_humans_seen_in_one_order_each_have_no_swap_consistency_and_say_why():
    frame = frame_of([{"pair_id": 1, "rater": "alice", "shown_first": "b", "verdict": "a"}])
    result = bias.position_bias(frame)
    assert result["swap_consistency"] is None
    assert "both orders" in result["swap_consistency_note"]
    assert result["n_swapped_pairs"] == 0
    assert result["first_shown_win_rate"] == 0.0


def test_ratings_without_a_known_order_give_no_position_bias_but_a_reason():
    result = bias.position_bias(frame_of([{"shown_first": "", "verdict": "a"}]))
    assert result["first_shown_win_rate"] is None
    assert result["ci95"] is None and result["p_value"] is None
    assert "known shown order" in result["first_shown_win_rate_note"]


def test_longer_win_rate_skips_ties_and_equal_lengths():
    frame = frame_of(
        [
            {"pair_id": 1, "len_a": 10, "len_b": 20, "verdict": "b"},  # longer won
            {"pair_id": 2, "len_a": 30, "len_b": 20, "verdict": "b"},  # shorter won
            {"pair_id": 3, "len_a": 30, "len_b": 20, "verdict": "a"},  # longer won
            {"pair_id": 4, "len_a": 30, "len_b": 20, "verdict": "tie"},
            {"pair_id": 5, "len_a": 20, "len_b": 20, "verdict": "a"},
        ]
    )
    result = bias.verbosity_bias(frame)
    assert result["n_decisive"] == 3
    assert result["longer_win_rate"] == pytest.approx(2 / 3)
    assert result["ci95"] == pytest.approx(list(proportion_confint(2, 3, method="wilson")))


def test_the_distribution_counts_shown_values_and_imported_verdicts_apart():
    frame = frame_of(
        [
            {"pair_id": 1, "value_shown": "2", "preference": -3, "shown_first": "a"},
            {"pair_id": 2, "value_shown": "10", "preference": 2, "shown_first": "a"},
            {"pair_id": 3, "value_shown": "2", "preference": 3, "shown_first": "b"},
            {"pair_id": 4, "value_shown": "tie", "preference": 0},
            {"pair_id": 5, "value_shown": "", "verdict": "a", "shown_first": ""},
            {"pair_id": 6, "value_shown": "", "verdict": "tie", "shown_first": ""},
        ]
    )
    assert bias.distribution(frame) == {"2": 2, "10": 1, "tie": 2, "a": 1}
    assert list(bias.distribution(frame)) == ["2", "10", "tie", "a"]
