import json
from typing import Any

import numpy as np
import pandas as pd
import pytest

from analysis.metrics.frame import coerce_frame
from analysis.report import build_report
from analysis.tests.frames import rating

MODELS = ["gpt", "llama", "mistral", "qwen"]
COUNTS = {
    "prompts": 0,
    "pairs": 0,
    "human_ratings": 0,
    "llm_ratings": 0,
    "labelers": 0,
    "judges": 0,
}


def synthetic_frame(n_pairs: int, seed: int = 0) -> pd.DataFrame:
    """Humans (overlap 3, counterbalanced order) and one judge in both orders on two criteria."""
    rng = np.random.default_rng(seed)
    skill = {"gpt": 1.0, "llama": 0.0, "mistral": 0.3, "qwen": 0.6}
    rows: list[dict[str, Any]] = []
    for pair_id in range(n_pairs):
        model_a, model_b = sorted(rng.choice(MODELS, size=2, replace=False))
        category = f"cat{pair_id % 5}"
        len_a, len_b = (int(x) for x in rng.integers(50, 500, size=2))
        base = {
            "pair_id": pair_id,
            "prompt_id": f"p{pair_id // 3}",
            "category": category,
            "model_a": model_a,
            "model_b": model_b,
            "len_a": len_a,
            "len_b": len_b,
        }
        for criterion in ("helpfulness", "truthfulness"):
            edge = skill[model_b] - skill[model_a]
            raters = [(f"labeler{(pair_id + i) % 12}", "human", "human") for i in range(3)]
            raters += [("judge-x", "llm", "judge-x")] * 2
            for slot, (rater, kind, group) in enumerate(raters):
                preference = int(np.clip(np.round(rng.normal(edge * 3, 2)), -4, 4))
                shown_first = "ab"[slot % 2] if kind == "human" else "ab"[slot - 3]
                rows.append(
                    rating(
                        **base,
                        criterion=criterion,
                        rater=rater,
                        rater_kind=kind,
                        rater_group=group,
                        shown_first=shown_first,
                        preference=preference,
                        verdict="a" if preference < 0 else "b" if preference > 0 else "tie",
                        value_shown=str(preference + 5) if preference else "tie",
                        time_spent_ms=float(rng.integers(2000, 30000)),
                        with_suggestion=kind == "human" and pair_id % 50 == 0,
                    )
                )
    return coerce_frame(pd.DataFrame(rows))


def nulls_without_notes(node: Any, path: str = "") -> list[str]:
    missing = []
    if isinstance(node, dict):
        for key, value in node.items():
            if value is None and f"{key}_note" not in node:
                missing.append(f"{path}/{key}")
            missing += nulls_without_notes(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, value in enumerate(node):
            missing += nulls_without_notes(value, f"{path}/{index}")
    return missing


@pytest.fixture(scope="module")
def frame() -> pd.DataFrame:
    return synthetic_frame(1000)  # 10,000 ratings


@pytest.fixture(scope="module")
def report(frame) -> dict[str, Any]:
    return build_report(
        frame,
        project="demo",
        bootstrap=200,
        seed=1,
        generated_at="2026-01-01T00:00:00Z",
        counts=COUNTS,
    )


def test_the_report_of_ten_thousand_ratings_is_strict_json_with_every_null_explained(frame, report):
    assert len(frame) == 10_000
    json.dumps(report, allow_nan=False)
    assert nulls_without_notes(report) == []


def test_the_report_has_the_documented_shape(report):
    assert set(report) == {"project", "generated_at", "counts", "criteria"}
    assert set(report["criteria"]) == {"helpfulness", "truthfulness"}
    section = report["criteria"]["helpfulness"]
    assert set(section) == {
        "human_agreement",
        "position_bias",
        "verbosity_bias",
        "human_vs_llm",
        "leaderboard",
        "distribution",
        "labelers",
    }
    human = section["human_agreement"]
    for key in (
        "alpha_nominal",
        "alpha_ordinal",
        "alpha_interval",
        "alpha_nominal_ci95",
        "fleiss_kappa",
        "pairwise_agreement_with_ties",
        "pairwise_agreement_without_ties",
        "n_units",
        "n_ratings",
    ):
        assert key in human
    # Every 50th pair (20 of 1000) was rated with the judge's suggestion shown: kept apart.
    assert human["n_units"] == 980
    assert human["n_ratings"] == 2940
    assert human["alpha_nominal_ci95"][0] < human["alpha_nominal"] < human["alpha_nominal_ci95"][1]
    assert set(section["position_bias"]) == {"human", "human_with_suggestion", "judge-x"}
    assert set(section["position_bias"]["judge-x"]) >= {
        "first_shown_win_rate",
        "ci95",
        "p_value",
        "n_decisive",
        "tie_rate",
        "swap_consistency",
        "n_swapped_pairs",
    }
    assert section["position_bias"]["judge-x"]["n_swapped_pairs"] == 1000
    judge = section["human_vs_llm"]["judge-x"]
    assert set(judge["overall"]) >= {
        "agreement_with_ties",
        "agreement_without_ties",
        "cohen_kappa",
        "pearson",
        "spearman",
        "n",
    }
    assert set(judge["by_category"]) == {f"cat{i}" for i in range(5)}
    board = section["leaderboard"]
    assert [row["model"] for row in board["human"]][0] == "gpt"
    assert all(row["rating"] is not None and row["ci95"] is not None for row in board["human"])
    assert set(board["rank_correlation"]["judge-x"]) >= {"spearman", "kendall", "pearson_of_ranks"}
    assert sum(section["distribution"]["human"].values()) == human["n_ratings"]


def test_the_same_seed_gives_byte_identical_json(frame, report):
    again = build_report(
        frame,
        project="demo",
        bootstrap=200,
        seed=1,
        generated_at="2026-01-01T00:00:00Z",
        counts=COUNTS,
    )
    assert json.dumps(again, sort_keys=True) == json.dumps(report, sort_keys=True)


def test_a_report_of_a_single_rating_explains_every_missing_number():
    report = build_report(
        pd.DataFrame([rating()]),
        project="tiny",
        bootstrap=10,
        seed=0,
        generated_at="2026-01-01T00:00:00Z",
        counts=COUNTS,
    )
    json.dumps(report, allow_nan=False)
    assert nulls_without_notes(report) == []
    assert report["criteria"]["helpfulness"]["human_agreement"]["alpha_nominal"] is None


def test_a_frame_without_a_required_column_is_refused_by_name():
    with pytest.raises(ValueError, match="verdict"):
        build_report(
            pd.DataFrame([rating()]).drop(columns="verdict"),
            project="x",
            generated_at="now",
            counts=COUNTS,
        )
