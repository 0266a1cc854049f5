import re

import pytest

from analysis import plots
from analysis.report import build_report
from analysis.services import _confusion
from analysis.tests.frames import frame_of, pandalm_frame


@pytest.fixture(scope="module")
def pandalm():
    frame = pandalm_frame()
    report = build_report(frame, project="x", bootstrap=50, seed=0, generated_at="now", counts={})
    return report["criteria"]["helpfulness"], _confusion(frame)


def test_every_plot_kind_is_drawn_as_inline_svg_with_text_kept_as_text(pandalm):
    section, confusion = pandalm
    drawn = plots.criterion_plots("helpfulness", section, confusion)
    svgs = [drawn["distribution"], drawn["position"], drawn["category"], drawn["leaderboard"]]
    svgs += drawn["confusion"]
    assert len(svgs) == 5
    for svg in svgs:
        assert svg.startswith("<svg ")
        assert svg.rstrip().endswith("</svg>")
        assert "<text" in svg  # svg.fonttype "none": labels are text, not glyph paths
        # Nothing to fetch, so the page and the file open offline: links only to its own ids.
        assert re.findall(r'href="([^#][^"]*)"', svg) == []
        assert "<image" not in svg and "url(http" not in svg and "<metadata" not in svg
    assert "llama-7b" in drawn["leaderboard"]
    assert "Gmail (n=44)" in drawn["category"]
    assert ">332<" in drawn["confusion"][0]  # humans a, GPT-3.5 a


def test_two_renders_of_the_same_report_are_byte_identical(pandalm):
    section, confusion = pandalm
    first = plots.criterion_plots("helpfulness", section, confusion)
    assert plots.criterion_plots("helpfulness", section, confusion) == first


def test_a_report_of_almost_no_data_still_draws_every_plot():
    frame = frame_of([{"rater": "alice", "verdict": "a"}])
    section = build_report(frame, project="x", bootstrap=0, generated_at="now", counts={})[
        "criteria"
    ]["helpfulness"]
    drawn = plots.criterion_plots("helpfulness", section, {})
    assert "not enough data" not in drawn["position"]  # alice's verdict is decisive, known order
    assert drawn["category"] == ""  # no judge, nothing to compare
    assert drawn["confusion"] == []
    assert drawn["leaderboard"].startswith("<svg")


def test_humans_keep_their_colour_whatever_the_judges_are_called():
    assert plots.group_colors(["zeta", "human", "aardvark"])["human"] == plots.HUMAN_COLOR
    assert plots.group_colors(["aardvark", "human"])["aardvark"] == plots.OTHER_COLORS[0]


def test_labels_with_dollar_signs_are_drawn_literally_not_as_mathtext():
    category, model, judge = r"cat $\foo{$", r"$x^2$-7b", r"judge $\alpha"
    rows = []
    for pair_id, (human, machine) in enumerate((("a", "a"), ("b", "a"), ("tie", "b"), ("a", "b"))):
        common = {"pair_id": pair_id, "category": category, "model_a": model, "model_b": "zeta"}
        rows += [common | {"rater": rater, "verdict": human} for rater in ("ann", "ben")]
        rows.append(
            common | {"rater": judge, "rater_kind": "llm", "rater_group": judge, "verdict": machine}
        )
    frame = frame_of(rows)
    section = build_report(frame, project="x", bootstrap=20, generated_at="now", counts={})[
        "criteria"
    ]["helpfulness"]

    drawn = plots.criterion_plots("helpfulness", section, _confusion(frame))
    assert r"cat $\foo{$ (n=4)" in drawn["category"]
    assert "$x^2$-7b" in drawn["leaderboard"]
    assert r"judge $\alpha" in drawn["confusion"][0]
