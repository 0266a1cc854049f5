import csv
import io
import json
import re
from collections import Counter
from pathlib import Path

import krippendorff
import numpy as np
import pytest
from django.conf import settings
from django.core.management import CommandError, call_command
from statsmodels.stats.inter_rater import fleiss_kappa

from analysis.tests.report_project import rate_project
from analysis.tests.test_services import SECTION_KEYS
from annotate.tests.factories import make_pair

pytestmark = pytest.mark.django_db

PANDALM = Path(settings.BASE_DIR) / "fixtures" / "pandalm"


def run_report(*args: str) -> str:
    out = io.StringIO()
    call_command("report", *args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def read_csv(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def number(text: str) -> float | None:
    return None if text == "" else float(text)


@pytest.fixture
def rated(project):
    rate_project(project)
    return project


def test_with_no_output_option_the_json_goes_to_stdout_with_the_documented_keys(rated):
    report = json.loads(run_report("chatbot-eval", "--bootstrap", "30", "--seed", "3"))
    assert set(report) == {"project", "generated_at", "counts", "criteria"}
    assert set(report["counts"]) == {
        "prompts",
        "pairs",
        "human_ratings",
        "llm_ratings",
        "labelers",
        "judges",
    }
    section = report["criteria"]["helpfulness"]
    assert set(section) == SECTION_KEYS
    assert set(section["human_agreement"]) >= {
        "alpha_nominal",
        "alpha_ordinal",
        "alpha_interval",
        "alpha_nominal_ci95",
        "fleiss_kappa",
        "pairwise_agreement_with_ties",
        "pairwise_agreement_without_ties",
        "n_units",
        "n_ratings",
    }
    assert set(section["leaderboard"]) == {"human", "judge-x", "rank_correlation"}
    assert set(section["leaderboard"]["human"][0]) >= {
        "model",
        "rating",
        "ci95",
        "wins",
        "losses",
        "ties",
    }


def test_the_json_file_html_file_and_csv_files_show_the_same_numbers(rated, tmp_path):
    run_report(
        "chatbot-eval",
        "--bootstrap",
        "30",
        "--json",
        str(tmp_path / "r.json"),
        "--html",
        str(tmp_path / "r.html"),
        "--csv-dir",
        str(tmp_path / "csv"),
    )
    report = json.loads((tmp_path / "r.json").read_text())
    names = sorted(p.name for p in (tmp_path / "csv").iterdir())
    assert names == sorted(
        f"{name}.csv"
        for name in (
            "human_agreement",
            "position_bias",
            "verbosity_bias",
            "human_vs_llm",
            "leaderboard",
            "rank_correlation",
            "distribution",
            "labelers",
        )
    )
    csv_dir = tmp_path / "csv"
    for row in read_csv(csv_dir / "human_agreement.csv"):
        block = report["criteria"][row["criterion"]]["human_agreement"]
        for key in ("alpha_nominal", "alpha_interval", "fleiss_kappa", "n_units"):
            assert number(row[key]) == block[key]
        assert [number(row["alpha_nominal_ci95_low"]), number(row["alpha_nominal_ci95_high"])] == (
            block["alpha_nominal_ci95"]
        )
        assert "fleiss_kappa: over" in row["notes"]
    rows = read_csv(csv_dir / "leaderboard.csv")
    assert len(rows) == 2 * 2 * 3  # criteria x (human, judge-x) x models
    for row in rows:
        board = report["criteria"][row["criterion"]]["leaderboard"][row["rater_group"]]
        entry = board[int(row["rank"]) - 1]
        assert entry["model"] == row["model"]
        assert number(row["rating"]) == entry["rating"]
        interval = entry["ci95"] or [None, None]  # null when a bootstrap round had no MLE
        assert [number(row["ci95_low"]), number(row["ci95_high"])] == interval
        assert int(row["wins"]) == entry["wins"]
    for row in read_csv(csv_dir / "human_vs_llm.csv"):
        block = report["criteria"][row["criterion"]]["human_vs_llm"][row["judge"]]
        part = (
            block["overall"] if row["scope"] == "overall" else block["by_category"][row["category"]]
        )
        assert number(row["agreement_with_ties"]) == part["agreement_with_ties"]
        assert number(row["cohen_kappa"]) == part["cohen_kappa"]
    for row in read_csv(csv_dir / "position_bias.csv"):
        block = report["criteria"][row["criterion"]]["position_bias"][row["rater_group"]]
        assert number(row["first_shown_win_rate"]) == block["first_shown_win_rate"]
        assert number(row["swap_consistency"]) == block["swap_consistency"]
    for row in read_csv(csv_dir / "distribution.csv"):
        counts = report["criteria"][row["criterion"]]["distribution"][row["rater_group"]]
        assert counts[row["value"]] == int(row["count"])
    labelers = read_csv(csv_dir / "labelers.csv")
    assert {row["rater"] for row in labelers} == {"hana", "ivan", "jules"}

    html = (tmp_path / "r.html").read_text()
    assert html.count("<svg") >= 10  # five kinds per criterion
    assert re.findall(r'(?:href|src)="(?!#)([^"]*)"', html) == []  # self-contained
    assert "<style>" in html and "--accent" in html
    agreement = report["criteria"]["truthfulness"]["human_agreement"]
    assert f"{agreement['alpha_nominal']:.3f}" in html
    assert f"{agreement['pairwise_agreement_with_ties']:.3f}" in html


def test_a_missing_project_or_unknown_criterion_is_a_clear_error(rated):
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        run_report("nope")
    with pytest.raises(CommandError, match="unknown criterion 'honesty'"):
        run_report("chatbot-eval", "--criterion", "helpfulness,honesty")


def test_the_criterion_option_limits_the_report(rated):
    report = json.loads(
        run_report("chatbot-eval", "--bootstrap", "0", "--criterion", "truthfulness")
    )
    assert set(report["criteria"]) == {"truthfulness"}


def _verdict_codes() -> tuple[np.ndarray, list[str]]:
    """Raw PandaLM labels as codes (0 = a, 1 = tie, 2 = b): items x annotators, and GPT-3.5."""
    items = json.loads((PANDALM / "testset-v1.json").read_text())
    gpt = json.loads((PANDALM / "gpt-3.5-turbo-testset-v1.json").read_text())
    code = {1: 0, 0: 1, 2: 2}
    humans = np.array([[code[item[f"annotator{n}"]] for n in (1, 2, 3)] for item in items])
    # PandaLM's GPT-3.5 answers "1", "2", "Tie" or something unparseable (counted as a tie).
    gpt_codes = [{"1": 0, "2": 2}.get(row["gpt_result"], 1) for row in gpt]
    return humans, gpt_codes


def test_the_demo_report_matches_numbers_computed_independently_from_the_raw_files(tmp_path):
    call_command("demo", stdout=io.StringIO())
    target = tmp_path / "demo.json"
    run_report("pandalm-demo", "--bootstrap", "100", "--json", str(target))
    report = json.loads(target.read_text())
    section = report["criteria"]["helpfulness"]
    humans, gpt = _verdict_codes()

    table = np.stack([(humans == value).sum(axis=1) for value in range(3)], axis=1)
    agreement = section["human_agreement"]
    assert agreement["fleiss_kappa"] == pytest.approx(fleiss_kappa(table), abs=1e-12)
    alpha = krippendorff.alpha(reliability_data=humans.T, level_of_measurement="nominal")
    assert agreement["alpha_nominal"] == pytest.approx(alpha, abs=1e-12)
    same = sum(
        a == b for row in humans for a, b in ((row[0], row[1]), (row[0], row[2]), (row[1], row[2]))
    )
    assert agreement["pairwise_agreement_with_ties"] == pytest.approx(same / (3 * len(humans)))

    judge = section["human_vs_llm"]["gpt-3.5-turbo"]["overall"]
    matches = sum(int((row == code).sum()) for row, code in zip(humans, gpt, strict=True))
    assert judge["agreement_with_ties"] == pytest.approx(matches / humans.size, abs=1e-12)
    assert judge["n"] == 999
    assert report["counts"]["labelers"] == 3
    assert report["counts"]["judges"] == 1
    assert Counter(row["model"] for row in section["leaderboard"]["human"]) == Counter(
        ["llama-7b", "pythia-6.9b", "bloom-7b", "opt-7b", "cerebras-gpt-6.7B"]
    )
    assert section["leaderboard"]["human"][0]["model"] == "llama-7b"


def test_ratings_imported_from_another_tool_give_numbers_an_independent_computation_reproduces(
    project, tmp_path
):
    rng = np.random.default_rng(7)
    winners = ("a", "tie", "b")
    humans = rng.choice(3, size=(30, 3), p=[0.45, 0.15, 0.4])  # 30 pairs x 3 vendor raters
    judge = rng.choice(3, size=(30, 2), p=[0.45, 0.1, 0.45])  # one judge, both orders
    lines = ["prompt_id,model_a,model_b,criterion,rater,rater_kind,winner,shown_first"]
    for index in range(30):
        make_pair(project, external_id=f"q{index}", models_=("m-one", "m-two"))
        for rater in range(3):
            shown = "ab"[(index + rater) % 2]
            winner = winners[humans[index, rater]]
            if index % 2:  # the other tool wrote some pairs in the other order
                flipped = {"a": "b", "b": "a", "tie": "tie"}[winner]
                row = f"q{index},m-two,m-one,helpfulness,vendor-{rater},human,{flipped},{shown}"
            else:
                row = f"q{index},m-one,m-two,helpfulness,vendor-{rater},human,{winner},{shown}"
            lines.append(row)
        for order, shown in enumerate("ab"):
            winner = winners[judge[index, order]]
            lines.append(f"q{index},m-one,m-two,helpfulness,judge-z,llm,{winner},{shown}")
    path = tmp_path / "vendor.csv"
    path.write_text("\n".join(lines) + "\n")
    call_command("import_ratings", "chatbot-eval", str(path), stdout=io.StringIO())

    report = json.loads(run_report("chatbot-eval", "--bootstrap", "0"))
    section = report["criteria"]["helpfulness"]
    alpha = krippendorff.alpha(reliability_data=humans.T, level_of_measurement="nominal")
    assert section["human_agreement"]["alpha_nominal"] == pytest.approx(alpha, abs=1e-12)
    table = np.stack([(humans == value).sum(axis=1) for value in range(3)], axis=1)
    assert section["human_agreement"]["fleiss_kappa"] == pytest.approx(
        fleiss_kappa(table), abs=1e-12
    )
    # The judge's unit verdict: its two orders if they agree, else a tie (MT-bench).
    unit = np.where(judge[:, 0] == judge[:, 1], judge[:, 0], 1)
    matches = (humans == unit[:, None]).sum()
    overall = section["human_vs_llm"]["judge-z"]["overall"]
    assert overall["agreement_with_ties"] == pytest.approx(matches / humans.size, abs=1e-12)
    decisive = (unit[:, None] != 1) & (humans != 1)
    assert overall["agreement_without_ties"] == pytest.approx(
        ((humans == unit[:, None]) & decisive).sum() / decisive.sum(), abs=1e-12
    )
