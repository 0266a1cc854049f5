import math
import re

import krippendorff
import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import cohen_kappa_score

from analysis.metrics import agreement
from analysis.tests.frames import frame_of, pandalm_frame

NAN = math.nan
# Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", 4 coders x 12 units.
KRIPPENDORFF_2011 = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
# Wikipedia's "Krippendorff's alpha" example, 3 coders x 15 units.
WIKIPEDIA = [
    [NAN, NAN, NAN, NAN, NAN, 3, 4, 1, 2, 1, 1, 3, 3, NAN, 3],
    [1, NAN, 2, 1, 3, 3, 4, 3, NAN, NAN, NAN, NAN, NAN, NAN, NAN],
    [NAN, NAN, 2, 1, 3, 4, 4, NAN, 2, 1, 1, 3, 3, NAN, 4],
]


def preference_frame(matrix: list[list[float]]):
    """Reliability data as signed preferences: value v becomes preference v - 3 (K = 2)."""
    rows = []
    for coder, values in enumerate(matrix):
        for unit, value in enumerate(values):
            if not math.isnan(value):
                rows.append(
                    {
                        "pair_id": unit,
                        "rater": f"coder{coder}",
                        "preference": int(value) - 3,
                        "scale_k": 2,
                    }
                )
    return frame_of(rows)


def test_the_published_examples_match_the_krippendorff_package_itself():
    assert krippendorff.alpha(KRIPPENDORFF_2011, level_of_measurement="ordinal") == pytest.approx(
        0.815, abs=5e-4
    )
    assert krippendorff.alpha(KRIPPENDORFF_2011, level_of_measurement="nominal") == pytest.approx(
        0.743, abs=5e-4
    )
    assert krippendorff.alpha(WIKIPEDIA, level_of_measurement="nominal") == pytest.approx(
        0.691, abs=5e-4
    )


def test_alpha_reproduces_krippendorffs_2011_example_at_every_level():
    frame = preference_frame(KRIPPENDORFF_2011)
    assert agreement.krippendorff_alpha(frame, "ordinal")[0] == pytest.approx(0.815, abs=5e-4)
    assert agreement.krippendorff_alpha(frame, "interval")[0] == pytest.approx(0.849, abs=5e-4)


def test_interval_alpha_reproduces_wikipedias_example():
    frame = preference_frame(WIKIPEDIA)
    assert agreement.krippendorff_alpha(frame, "interval")[0] == pytest.approx(0.811, abs=5e-4)


def test_nominal_alpha_on_verdicts_matches_the_package_on_the_same_codes():
    rows = []
    verdicts = [["a", "a", "b"], ["tie", "tie"], ["b", "b", "b"], ["a", "tie", "b"], ["a", "a"]]
    for unit, unit_verdicts in enumerate(verdicts):
        for rater, verdict in enumerate(unit_verdicts):
            rows.append({"pair_id": unit, "rater": f"r{rater}", "verdict": verdict})
    codes = {"a": 0, "tie": 1, "b": 2}
    matrix = np.full((3, len(verdicts)), np.nan)
    for unit, unit_verdicts in enumerate(verdicts):
        for rater, verdict in enumerate(unit_verdicts):
            matrix[rater, unit] = codes[verdict]
    expected = krippendorff.alpha(matrix, level_of_measurement="nominal")
    assert agreement.krippendorff_alpha(frame_of(rows), "nominal")[0] == pytest.approx(expected)


def test_the_vectorised_bootstrap_formula_equals_the_package_on_wikipedias_counts():
    counts = np.array(
        [
            [1, 0, 0, 0],
            [0, 2, 0, 0],
            [2, 0, 0, 0],
            [0, 0, 2, 0],
            [0, 0, 2, 1],
            [0, 0, 0, 3],
            [1, 0, 1, 0],
            [0, 2, 0, 0],
            [2, 0, 0, 0],
            [2, 0, 0, 0],
            [0, 0, 2, 0],
            [0, 0, 2, 0],
            [0, 0, 1, 1],
        ]
    )
    patterns, frequency = np.unique(counts, axis=0, return_counts=True)
    (alpha,) = agreement.nominal_alpha_from_patterns(patterns, frequency[None, :])
    assert alpha == pytest.approx(0.691358, abs=1e-6)


def test_the_alpha_interval_is_seeded_and_brackets_the_estimate():
    rows = []
    rng = np.random.default_rng(1)
    for unit in range(200):
        truth = rng.choice(["a", "b", "tie"])
        for rater in range(3):
            verdict = truth if rng.random() < 0.8 else rng.choice(["a", "b", "tie"])
            rows.append({"pair_id": unit, "rater": f"r{rater}", "verdict": verdict})
    frame = frame_of(rows)
    first = agreement.alpha_nominal_ci95(frame, rounds=300, seed=7)
    second = agreement.alpha_nominal_ci95(frame, rounds=300, seed=7)
    alpha = agreement.krippendorff_alpha(frame, "nominal")[0]
    assert first == second
    low, high = first[0]
    assert low < alpha < high
    assert high - low < 0.2


def test_bootstrap_rounds_without_an_alpha_are_left_out_and_counted_not_fatal():
    # 10 units where both raters say A and 2 where they split: a resample of only agreeing
    # units (about (10/12)^12 = 11% of rounds) has one value and no alpha.
    rows = [
        {"pair_id": unit, "rater": rater, "verdict": "a" if unit < 10 or rater == "r1" else "b"}
        for unit in range(12)
        for rater in ("r1", "r2")
    ]
    frame = frame_of(rows)
    (low, high), note = agreement.alpha_nominal_ci95(frame, rounds=400, seed=3)
    found = re.fullmatch(
        r"from the (\d+) of 400 bootstrap rounds in which alpha is defined \((\d+) resampled "
        r"every pairable rating to one value\)",
        note,
    )
    assert found is not None, note
    defined, undefined = int(found[1]), int(found[2])
    assert defined + undefined == 400 and 10 < undefined < 100
    assert -1 <= low <= high <= 1
    block = agreement.human_agreement(frame, bootstrap=400, seed=3)
    assert block["alpha_nominal_ci95"] == [low, high]
    assert block["alpha_nominal_ci95_note"] == note


@pytest.mark.parametrize(
    ("rows", "reason"),
    [
        (
            [{"pair_id": 1, "rater": "r1"}, {"pair_id": 1, "rater": "r2", "verdict": "a"}],
            "fewer than two units",
        ),
        (
            [{"pair_id": u, "rater": r, "verdict": "a"} for u in (1, 2) for r in ("r1", "r2")],
            "same value",
        ),
        (
            [{"pair_id": u, "rater": "r1", "verdict": v} for u, v in ((1, "a"), (2, "b"))],
            "fewer than two units",
        ),
    ],
    ids=["one unit", "all values equal", "single rater"],
)
def test_alpha_on_degenerate_data_is_none_with_a_reason(rows, reason):
    frame = frame_of(rows)
    for level in ("nominal", "ordinal", "interval"):
        value, note = agreement.krippendorff_alpha(frame, level)
        assert value is None
        assert reason in note
    assert agreement.alpha_nominal_ci95(frame, rounds=10, seed=0)[0] is None


def test_pairwise_agreement_counts_every_unordered_pair_and_drops_ties_when_asked():
    frame = frame_of(
        [
            {"pair_id": 1, "rater": "r1", "verdict": "a"},
            {"pair_id": 1, "rater": "r2", "verdict": "a"},
            {"pair_id": 1, "rater": "r3", "verdict": "tie"},
            {"pair_id": 2, "rater": "r1", "verdict": "b"},
            {"pair_id": 2, "rater": "r2", "verdict": "a"},
        ]
    )
    result = agreement.pairwise_agreement(frame)
    # Pairs: unit 1 -> (a,a) (a,tie) (a,tie); unit 2 -> (b,a). Equal: 1 of 4; without ties: 1 of 2.
    assert result["pairwise_agreement_with_ties"] == pytest.approx(0.25)
    assert result["pairwise_agreement_without_ties"] == pytest.approx(0.5)


def test_fleiss_kappa_uses_the_most_common_number_of_ratings_and_says_so():
    rows = [
        {"pair_id": u, "rater": f"r{r}", "verdict": v}
        for u, verdicts in enumerate(
            [["a", "a", "a"], ["b", "b", "a"], ["tie", "tie", "tie"], ["a", "b"]]
        )
        for r, v in enumerate(verdicts)
    ]
    kappa, note = agreement.fleiss_kappa(frame_of(rows))
    from statsmodels.stats.inter_rater import fleiss_kappa

    assert kappa == pytest.approx(fleiss_kappa(np.array([[3, 0, 0], [1, 0, 2], [0, 3, 0]])))
    assert "n=3" in note and "3 units" in note


def test_cohen_kappa_between_pandalm_annotators_matches_the_published_figures():
    humans = pandalm_frame().query("rater_kind == 'human'")
    for first, second, expected in ((1, 2, 0.8520), (1, 3, 0.8789), (2, 3, 0.8617)):
        kappa, _ = agreement.rater_cohen_kappa(humans, f"annotator{first}", f"annotator{second}")
        assert round(kappa, 4) == expected


def test_gpt35_against_the_pandalm_majority_matches_the_published_figures():
    frame = pandalm_frame()
    humans = frame.query("rater_kind == 'human'")
    units = agreement._human_units(humans)
    assert units["majority"].value_counts().to_dict() == {"tie": 105, "a": 422, "b": 472}
    result = agreement.judge_vs_majority(humans, frame.query("rater_group == 'gpt-3.5'"))
    assert result["n"] == 999
    assert round(result["accuracy"], 4) == 0.7107
    assert round(result["macro_f1"], 4) == 0.5755


def test_pandalm_7b_against_the_pandalm_majority_matches_the_published_figures():
    frame = pandalm_frame(with_pandalm_7b=True)
    humans = frame.query("rater_kind == 'human'")
    result = agreement.judge_vs_majority(humans, frame.query("rater_group == 'pandalm-7b'"))
    assert result["n"] == 999
    assert round(result["accuracy"], 4) == 0.6677
    assert round(result["macro_f1"], 4) == 0.5743


def judge_rows(pair_id, first_verdict, second_verdict, **extra):
    return [
        {
            "pair_id": pair_id,
            "rater": "j",
            "rater_kind": "llm",
            "rater_group": "j",
            "shown_first": "a",
            "verdict": first_verdict,
            **extra,
        },
        {
            "pair_id": pair_id,
            "rater": "j",
            "rater_kind": "llm",
            "rater_group": "j",
            "shown_first": "b",
            "verdict": second_verdict,
            **extra,
        },
    ]


def test_a_judge_that_flips_with_the_order_counts_as_a_tie():
    frame = frame_of(judge_rows(1, "a", "a") + judge_rows(2, "a", "b"))
    verdicts = agreement.judge_unit_verdicts(frame).set_index("unit")["verdict"]
    assert verdicts.to_dict() == {"1:helpfulness": "a", "2:helpfulness": "tie"}


def test_human_vs_judge_pairs_every_human_verdict_with_the_judges_unit_verdict():
    humans = frame_of(
        [
            {"pair_id": 1, "rater": "r1", "verdict": "a", "category": "x"},
            {"pair_id": 1, "rater": "r2", "verdict": "tie", "category": "x"},
            {"pair_id": 2, "rater": "r1", "verdict": "b", "category": "y"},
            {"pair_id": 2, "rater": "r2", "verdict": "b", "category": "y"},
            {"pair_id": 3, "rater": "r1", "verdict": "a", "category": "y"},
        ]
    )
    judge = frame_of(
        judge_rows(1, "a", "a", category="x")
        + judge_rows(2, "b", "a", category="y")
        + judge_rows(3, "a", "a", category="y")
    )
    result = agreement.human_vs_judge(humans, judge)
    overall = result["overall"]
    # Judge: unit 1 a, unit 2 tie (flipped), unit 3 a. Pairs: (a,a) (tie,a) (b,tie) (b,tie) (a,a).
    assert overall["agreement_with_ties"] == pytest.approx(2 / 5)
    assert overall["agreement_without_ties"] == pytest.approx(2 / 2)
    assert overall["n"] == 3
    # Majorities: unit 1 tie (a vs tie), unit 2 b, unit 3 a; judge a, tie, a.
    assert overall["cohen_kappa"] is not None
    # Scaled preferences (K=4): judge -0.25, 0, -0.25; humans -0.125, 0.25, -0.25.
    assert overall["pearson"] == pytest.approx(
        np.corrcoef([-0.25, 0, -0.25], [-0.125, 0.25, -0.25])[0, 1]
    )
    assert set(result["by_category"]) == {"x", "y"}
    assert result["by_category"]["x"]["pearson"] is None
    assert "fewer than 3 units" in result["by_category"]["x"]["pearson_note"]


def value_count_patterns(matrix: list[list[float]]) -> tuple[np.ndarray, np.ndarray]:
    """Units x values counts of reliability data, as (patterns, how many units show each)."""
    data = np.array(matrix)
    values = np.unique(data[~np.isnan(data)])
    counts = np.array([[np.sum(unit == value) for value in values] for unit in data.T])
    patterns, frequency = np.unique(counts, axis=0, return_counts=True)
    return patterns, frequency[None, :]


@pytest.mark.parametrize(
    ("matrix", "published"), [(KRIPPENDORFF_2011, 0.743), (WIKIPEDIA, 0.691)], ids=["2011", "wiki"]
)
def test_the_nominal_alpha_of_the_bootstrap_reproduces_both_published_examples(
    matrix, published
) -> None:
    (alpha,) = agreement.nominal_alpha_from_patterns(*value_count_patterns(matrix))
    assert alpha == pytest.approx(published, abs=5e-4)


def test_cohen_kappa_is_zero_for_two_different_constant_verdicts_and_null_for_the_same_one():
    judge, humans = pd.Series(["b"] * 9), pd.Series(["tie"] * 9)
    assert agreement.cohen_kappa(humans, judge) == (0.0, None)
    assert cohen_kappa_score(humans, judge) == 0.0
    kappa, note = agreement.cohen_kappa(judge, judge)
    assert kappa is None and "same single verdict" in note
