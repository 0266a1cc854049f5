"""A real browser: the researcher opens the PandaLM demo report and sees every section and plot."""

import io

import pytest
from django.core.management import call_command

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

SECTIONS = (
    "human_agreement",
    "distribution",
    "position_bias",
    "verbosity_bias",
    "human_vs_llm",
    "leaderboard",
    "rank_correlation",
    "labelers",
)
MODELS = ("llama-7b", "pythia-6.9b", "bloom-7b", "opt-7b", "cerebras-gpt-6.7B")


def test_the_researcher_sees_the_demo_report_with_every_section_and_its_plots(
    page, live_server, screenshot_dir
):
    call_command("demo", stdout=io.StringIO())
    page.goto(f"{live_server.url}/login/")
    page.fill("#id_username", "researcher")
    page.fill("#id_password", "concord-demo")
    page.press("#id_password", "Enter")
    page.wait_for_url(f"{live_server.url}/")

    # The first report of a process loads the statistics and plotting libraries.
    page.goto(f"{live_server.url}/projects/pandalm-demo/report/", timeout=60_000)
    page.wait_for_selector("#criterion-helpfulness")
    for section in SECTIONS:
        assert page.locator(f"#{section}-helpfulness").is_visible(), section
    assert page.locator("svg.plot").count() >= 5
    for plot in ("distribution", "position", "category", "leaderboard"):
        assert page.locator(f'svg.plot[data-plot^="{plot}-helpfulness"]').count() == 1, plot
    # One confusion matrix per judge.
    assert page.locator('svg.plot[data-plot^="confusion-helpfulness"]').count() == 2
    counts = page.locator("#report-counts").inner_text()
    assert "2997" in counts and "1998" in counts  # human ratings; GPT-3.5 + PandaLM-7B verdicts
    agreement = page.locator("#human_agreement-helpfulness").inner_text()
    assert "fleiss kappa" in agreement and "0.864" in agreement  # the three annotators
    judges = page.locator("#human_vs_llm-helpfulness").inner_text()
    assert "gpt-3.5-turbo" in judges and "pandalm-7b" in judges and "Gmail" in judges
    # Both judges saw response1 first: 460 of GPT-3.5's 936 and 433 of PandaLM's 892 decisive.
    position = page.locator("#position_bias-helpfulness").inner_text()
    assert f"{460 / 936:.3f}" in position and f"{433 / 892:.3f}" in position
    assert "Outliers: flagged when" in page.locator("#labelers-helpfulness").inner_text()
    board = page.locator("#leaderboard-helpfulness").inner_text()
    assert all(model in board for model in MODELS)
    # Plots are drawn at a readable size, not collapsed.
    box = page.locator('svg.plot[data-plot^="leaderboard"]').bounding_box()
    assert box is not None and box["width"] > 400 and box["height"] > 200
    page.screenshot(path=str(screenshot_dir / "report_page.png"), full_page=True)

    page.select_option("#id_judge", "gpt-3.5-turbo")
    page.select_option("#id_suggested", "out")
    page.click("#report-filters button[type=submit]")
    page.wait_for_selector("#criterion-helpfulness")
    assert "judge=gpt-3.5-turbo" in page.url
    assert page.locator("svg.plot").count() >= 5
