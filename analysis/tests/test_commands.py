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
from scipy import stats
from scipy.optimize import minimize
from sklearn.metrics import cohen_kappa_score
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
    assert report["counts"]["judges"] == 2
    assert report["counts"]["llm_ratings"] == 2 * 999

    # Both judges saw response1 first; the annotators' order is unknown, so no human figure.
    gpt_answers = [row["gpt_result"] for row in json.loads(
        (PANDALM / "gpt-3.5-turbo-testset-v1.json").read_text())]  # fmt: skip
    pandalm_answers = [
        int(row["pandalm_result"])
        for row in json.loads((PANDALM / "pandalm-7b-testset-v1.json").read_text())
    ]
    first_wins = {
        "gpt-3.5-turbo": (gpt_answers.count("1"), gpt_answers.count("1") + gpt_answers.count("2")),
        "pandalm-7b": (
            pandalm_answers.count(1),
            pandalm_answers.count(1) + pandalm_answers.count(2),
        ),
    }
    assert first_wins == {"gpt-3.5-turbo": (460, 936), "pandalm-7b": (433, 892)}
    for name, (won, decisive) in first_wins.items():
        block = section["position_bias"][name]
        assert block["n_decisive"] == decisive
        assert block["first_shown_win_rate"] == pytest.approx(won / decisive, abs=1e-12)
        assert block["p_value"] == pytest.approx(
            stats.binomtest(won, decisive, 0.5).pvalue, abs=1e-12
        )
    assert section["position_bias"]["human"]["first_shown_win_rate"] is None
    assert "known shown order" in section["position_bias"]["human"]["first_shown_win_rate_note"]
    assert Counter(row["model"] for row in section["leaderboard"]["human"]) == Counter(
        ["llama-7b", "pythia-6.9b", "bloom-7b", "opt-7b", "cerebras-gpt-6.7B"]
    )
    assert section["leaderboard"]["human"][0]["model"] == "llama-7b"


def majority_code(codes: np.ndarray) -> int:
    """The most common verdict code (0 = a, 1 = tie, 2 = b) of one unit; a shared top is a tie."""
    counts = np.bincount(codes, minlength=3)
    top = np.flatnonzero(counts == counts.max())
    return int(top[0]) if len(top) == 1 else 1


def bradley_terry_elo(games: list[tuple[str, str, int]]) -> dict[str, float]:
    """Elo ratings (mean 1000) by maximising the Bradley-Terry log-likelihood with scipy.

    games: (model_a, model_b, verdict code); a tie is half a win for each side.
    """
    models = sorted({m for a, b, _ in games for m in (a, b)})
    index = {m: i for i, m in enumerate(models)}
    wins = np.zeros((len(models), len(models)))
    for a, b, code in games:
        share = {0: 1.0, 1: 0.5, 2: 0.0}[code]
        wins[index[a], index[b]] += share
        wins[index[b], index[a]] += 1 - share

    def negative_log_likelihood(free: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.append(free, -free.sum())  # log strengths summing to 0
        diff = theta[:, None] - theta[None, :]
        p_win = 1 / (1 + np.exp(-diff))
        value = -(wins * np.log(p_win)).sum()
        grad_theta = -(wins * (1 - p_win)).sum(axis=1) + (wins * (1 - p_win)).sum(axis=0)
        return value, grad_theta[:-1] - grad_theta[-1]

    fitted = minimize(
        negative_log_likelihood,
        np.zeros(len(models) - 1),
        jac=True,
        method="BFGS",
        options={"gtol": 1e-12},
    ).x
    theta = np.append(fitted, -fitted.sum())
    return {m: 1000 + 400 * theta[i] / np.log(10) for m, i in index.items()}


def vendor_line(
    index: int,
    models: tuple[str, str],
    rater: str,
    kind: str,
    code: int,
    strength: int,
    a_first: bool,
) -> str:
    """One line of the other tool's ratings file, from a canonical verdict code and order.

    Odd pairs are written the other way round (B's model first), as another tool may.
    """
    winner, shown = ("a", "tie", "b")[code], "a" if a_first else "b"
    size = "" if code == 1 else str(strength)
    model_a, model_b = models
    if index % 2:
        flip = {"a": "b", "b": "a", "tie": "tie"}
        model_a, model_b, winner, shown = model_b, model_a, flip[winner], flip[shown]
    return f"q{index},{model_a},{model_b},helpfulness,{rater},{kind},{winner},{size},{shown}"


def test_ratings_imported_from_another_tool_give_numbers_an_independent_computation_reproduces(
    project, tmp_path
):
    rng = np.random.default_rng(7)
    n_pairs, k = 60, 4  # the project's criteria are on the 8-point scale: strengths 1..4
    model_pairs = (("m-one", "m-two"), ("m-one", "m-three"), ("m-three", "m-two"))  # canonical
    # Verdict codes 0 = A, 1 = tie, 2 = B in canonical orientation, with strengths and orders.
    # 3 vendor raters; m-one beats m-two, m-three beats m-one, more often than not.
    skill = ([0.6, 0.15, 0.25], [0.25, 0.15, 0.6], [0.45, 0.15, 0.4])
    humans = np.array([rng.choice(3, size=3, p=skill[index % 3]) for index in range(n_pairs)])
    human_strength = rng.integers(1, k + 1, size=(n_pairs, 3))
    human_a_first = (np.arange(n_pairs)[:, None] + np.arange(3)[None, :]) % 2 == 0
    judge = rng.choice(3, size=(n_pairs, 2), p=[0.45, 0.1, 0.45])  # orders: A first, B first
    judge_strength = rng.integers(1, k + 1, size=(n_pairs, 2))

    lines = ["prompt_id,model_a,model_b,criterion,rater,rater_kind,winner,strength,shown_first"]
    for index in range(n_pairs):
        model_a, model_b = model_pairs[index % 3]
        make_pair(project, external_id=f"q{index}", models_=(model_a, model_b))

        for rater in range(3):
            lines.append(
                vendor_line(
                    index, (model_a, model_b), f"vendor-{rater}", "human", humans[index, rater],
                    human_strength[index, rater], human_a_first[index, rater],
                )
            )  # fmt: skip
        for order in range(2):
            lines.append(
                vendor_line(
                    index, (model_a, model_b), "judge-z", "llm", judge[index, order],
                    judge_strength[index, order], order == 0,
                )
            )  # fmt: skip
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

    # Cohen's kappa: the judge's unit verdict against the human majority (scikit-learn).
    majority = np.array([majority_code(row) for row in humans])
    assert overall["cohen_kappa"] == pytest.approx(
        cohen_kappa_score(unit, majority, labels=[0, 1, 2]), abs=1e-12
    )
    # Pearson and Spearman on signed preferences scaled to [-1, 1] (scipy).
    sign = np.array([-1, 0, 1])
    human_preference = (sign[humans] * human_strength / k).mean(axis=1)
    judge_preference = (sign[judge] * judge_strength / k).mean(axis=1)
    assert overall["pearson"] == pytest.approx(
        stats.pearsonr(judge_preference, human_preference).statistic, abs=1e-12
    )
    assert overall["spearman"] == pytest.approx(
        stats.spearmanr(judge_preference, human_preference).statistic, abs=1e-12
    )
    assert overall["n"] == n_pairs

    # Position bias from the shown order: first-shown wins counted by hand, exact binomial test.
    for group, codes, a_first in (
        ("human", humans, human_a_first),
        ("judge-z", judge, np.tile([True, False], (n_pairs, 1))),
    ):
        block = section["position_bias"][group]
        first_code = np.where(a_first, 0, 2)
        is_decisive = codes != 1
        first_won = int(((codes == first_code) & is_decisive).sum())
        n_decisive = int(is_decisive.sum())
        test = stats.binomtest(first_won, n_decisive, 0.5)
        assert block["n_decisive"] == n_decisive
        assert block["first_shown_win_rate"] == pytest.approx(first_won / n_decisive, abs=1e-12)
        assert block["p_value"] == pytest.approx(test.pvalue, abs=1e-12)
        wilson = test.proportion_ci(confidence_level=0.95, method="wilson")
        assert block["ci95"] == pytest.approx([wilson.low, wilson.high], abs=1e-9)
        assert block["tie_rate"] == pytest.approx((codes == 1).mean(), abs=1e-12)
    judge_bias = section["position_bias"]["judge-z"]
    assert judge_bias["swap_consistency"] == pytest.approx((judge[:, 0] == judge[:, 1]).mean())
    assert judge_bias["n_swapped_pairs"] == n_pairs

    # Leaderboards against a direct maximisation of the Bradley-Terry likelihood (scipy).
    pair_models = [model_pairs[index % 3] for index in range(n_pairs)]
    human_games = [(*pair_models[i], int(code)) for i in range(n_pairs) for code in humans[i]]
    judge_games = [(*pair_models[i], int(unit[i])) for i in range(n_pairs)]
    for group, games in (("human", human_games), ("judge-z", judge_games)):
        expected = bradley_terry_elo(games)
        board = {row["model"]: row for row in section["leaderboard"][group]}
        assert set(board) == set(expected)
        for model, rating in expected.items():
            assert board[model]["rating"] == pytest.approx(rating, abs=1e-3), (group, model)
        wins = sum(1 for a, b, code in games if (code == 0 and a == "m-one") or
                   (code == 2 and b == "m-one"))  # fmt: skip
        assert board["m-one"]["wins"] == wins
