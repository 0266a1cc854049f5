"""The report as HTML: the context shared by the researcher page and the downloadable file.

Both render `analysis/report_body.html` from the same tables (analysis.tables) and plots
(analysis.plots), so they show the JSON's numbers. The file inlines the stylesheet and the SVG
plots and links nothing, so it opens offline.
"""

from pathlib import Path
from typing import Any

from django.contrib.staticfiles import finders
from django.template.loader import render_to_string

from analysis.plots import criterion_plots
from analysis.tables import Cell, Table, report_tables

NULL = "—"
# Sections of a criterion, in page order: (table, title, what the numbers mean).
SECTIONS = (
    (
        "human_agreement",
        "Human agreement",
        "Krippendorff's alpha (nominal on verdicts, ordinal and interval on signed preferences), "
        "Fleiss' kappa and pairwise agreement between the blind human ratings of each unit.",
    ),
    (
        "distribution",
        "Score distribution",
        "How often each value was given as shown, per rater group.",
    ),
    (
        "position_bias",
        "Position bias",
        "Share of decisive verdicts won by the response shown first (0.5 = no bias), "
        "with a Wilson interval and an exact binomial test.",
    ),
    (
        "verbosity_bias",
        "Verbosity bias",
        "Share of decisive verdicts won by the longer response, on pairs of different lengths.",
    ),
    (
        "human_vs_llm",
        "Humans vs judges",
        "Each judge against the humans on the same units, overall and per category; "
        "a judge's two orders that disagree count as a tie.",
    ),
    (
        "leaderboard",
        "Leaderboards",
        "Bradley-Terry ratings on the Elo scale with bootstrap 95% intervals, per rater group.",
    ),
    (
        "rank_correlation",
        "Rank correlation with the human leaderboard",
        "How closely each judge's leaderboard orders the models like the humans'.",
    ),
    (
        "labelers",
        "Labelers",
        "Each labeler against the majority of the others on the same units.",
    ),
)


def _text(value: Any) -> str:
    if value is None:
        return NULL
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def _cell(cell: Cell) -> dict[str, Any]:
    numeric = isinstance(cell.value, int | float) and not isinstance(cell.value, bool)
    null = cell.value is None
    return {"text": _text(cell.value), "note": cell.note, "null": null, "num": numeric}


def _view_table(table: Table, criterion: str) -> dict[str, Any]:
    """The rows of one criterion, without the criterion column, cells formatted for display."""
    rows = [row[1:] for row in table.rows if row[0].value == criterion]
    columns = [column.replace("_", " ") for column in table.columns[1:]]
    if table.name == "human_agreement":  # one row of many metrics reads better as a list
        pairs = zip(columns, rows[0], strict=True) if rows else iter(())
        return {
            "columns": ["metric", "value"],
            "rows": [[_cell(Cell(name)), _cell(cell)] for name, cell in pairs],
        }
    return {"columns": columns, "rows": [[_cell(cell) for cell in row] for row in rows]}


def report_context(report: dict[str, Any], extras: dict[str, Any]) -> dict[str, Any]:
    """Everything report_body.html shows: counts, and per criterion its tables and plots."""
    tables = report_tables(report)
    confusion = extras.get("confusion", {})
    criteria = []
    for criterion, section in report["criteria"].items():
        criteria.append(
            {
                "name": criterion,
                "sections": [
                    {
                        "key": key,
                        "title": title,
                        "about": about,
                        "table": _view_table(tables[key], criterion),
                    }
                    for key, title, about in SECTIONS
                ],
                "plots": criterion_plots(criterion, section, confusion.get(criterion, {})),
                "outlier_rule": section["labelers"]["outlier_rule"],
            }
        )
    counts = [(name.replace("_", " "), value) for name, value in report["counts"].items()]
    return {"report": report, "counts": counts, "criteria": criteria}


def _stylesheet() -> str:
    found = finders.find("css/concord.css")
    path = found[0] if isinstance(found, list) else found
    return Path(path).read_text(encoding="utf-8") if path else ""


def report_html_file(report: dict[str, Any], extras: dict[str, Any]) -> str:
    """A self-contained HTML document of the report (inline CSS and SVG, no links to load)."""
    context = report_context(report, extras) | {"stylesheet": _stylesheet()}
    return render_to_string("analysis/report_file.html", context)
