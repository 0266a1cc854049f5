"""The report JSON as flat tables: one per section, each row with its criterion and group keys.

The CSV files and the tables of the page and HTML file are all made from these, so they show
the numbers of the JSON and nothing else. A JSON interval [low, high] becomes two columns; a
null keeps its note in the row's "notes" column (and as the cell's note on the page).
"""

import csv
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from exports.csv_cells import csv_cell

TABLE_NAMES = (
    "human_agreement",
    "position_bias",
    "verbosity_bias",
    "human_vs_llm",
    "leaderboard",
    "rank_correlation",
    "distribution",
    "labelers",
)


@dataclass
class Cell:
    value: Any
    note: str = ""


@dataclass
class Table:
    name: str
    columns: list[str]
    rows: list[list[Cell]] = field(default_factory=list)


def _cells(block: dict[str, Any], keys: tuple[str, ...]) -> list[Cell]:
    """Cells for `keys` of a metric block; an interval key "x" gives "x_low" and "x_high"."""
    cells = []
    for key in keys:
        value, note = block.get(key), str(block.get(f"{key}_note") or "")
        if key.endswith("ci95"):
            low, high = value if isinstance(value, list) else (None, None)
            cells += [Cell(low, note), Cell(high, note)]
        else:
            cells.append(Cell(value, note))
    return cells


def _columns(keys: tuple[str, ...]) -> list[str]:
    columns = []
    for key in keys:
        columns += [f"{key}_low", f"{key}_high"] if key.endswith("ci95") else [key]
    return columns


AGREEMENT_KEYS = (
    "alpha_nominal",
    "alpha_ordinal",
    "alpha_interval",
    "alpha_nominal_ci95",
    "fleiss_kappa",
    "pairwise_agreement_with_ties",
    "pairwise_agreement_without_ties",
    "n_units",
    "n_ratings",
)
POSITION_KEYS = (
    "first_shown_win_rate",
    "ci95",
    "p_value",
    "n_decisive",
    "tie_rate",
    "swap_consistency",
    "n_swapped_pairs",
)
VERBOSITY_KEYS = ("longer_win_rate", "ci95", "n_decisive")
HUMAN_VS_LLM_KEYS = (
    "agreement_with_ties",
    "agreement_without_ties",
    "cohen_kappa",
    "pearson",
    "spearman",
    "n",
)
LEADERBOARD_KEYS = ("rating", "ci95", "wins", "losses", "ties")
RANK_KEYS = ("spearman", "kendall", "pearson_of_ranks", "n_models")
LABELER_KEYS = (
    "n_ratings",
    "agreement_with_others",
    "n_compared",
    "tie_rate",
    "first_shown_win_rate",
    "median_time_ms",
    "outlier",
)


def report_tables(report: dict[str, Any]) -> dict[str, Table]:
    """Every table of the report, in TABLE_NAMES order, rows in the JSON's order."""
    tables = {
        "human_agreement": Table("human_agreement", ["criterion", *_columns(AGREEMENT_KEYS)]),
        "position_bias": Table(
            "position_bias", ["criterion", "rater_group", *_columns(POSITION_KEYS)]
        ),
        "verbosity_bias": Table(
            "verbosity_bias", ["criterion", "rater_group", *_columns(VERBOSITY_KEYS)]
        ),
        "human_vs_llm": Table(
            "human_vs_llm", ["criterion", "judge", "scope", "category", *HUMAN_VS_LLM_KEYS]
        ),
        "leaderboard": Table(
            "leaderboard",
            ["criterion", "rater_group", "rank", "model", *_columns(LEADERBOARD_KEYS)],
        ),
        "rank_correlation": Table("rank_correlation", ["criterion", "judge", *RANK_KEYS]),
        "distribution": Table("distribution", ["criterion", "rater_group", "value", "count"]),
        "labelers": Table("labelers", ["criterion", "rater", *LABELER_KEYS]),
    }
    for criterion, section in report["criteria"].items():
        c = Cell(criterion)
        tables["human_agreement"].rows.append(
            [c, *_cells(section["human_agreement"], AGREEMENT_KEYS)]
        )
        for group, block in section["position_bias"].items():
            tables["position_bias"].rows.append([c, Cell(group), *_cells(block, POSITION_KEYS)])
        for group, block in section["verbosity_bias"].items():
            tables["verbosity_bias"].rows.append([c, Cell(group), *_cells(block, VERBOSITY_KEYS)])
        for judge, block in section["human_vs_llm"].items():
            rows = [("overall", "", block["overall"])]
            rows += [("category", name, part) for name, part in block["by_category"].items()]
            for scope, category, part in rows:
                tables["human_vs_llm"].rows.append(
                    [c, Cell(judge), Cell(scope), Cell(category), *_cells(part, HUMAN_VS_LLM_KEYS)]
                )
        for group, board in section["leaderboard"].items():
            if group == "rank_correlation":
                for judge, block in board.items():
                    tables["rank_correlation"].rows.append(
                        [c, Cell(judge), *_cells(block, RANK_KEYS)]
                    )
                continue
            for rank, row in enumerate(board, start=1):
                tables["leaderboard"].rows.append(
                    [c, Cell(group), Cell(rank), Cell(row["model"]), *_cells(row, LEADERBOARD_KEYS)]
                )
        for group, counts in section["distribution"].items():
            for value, count in counts.items():
                tables["distribution"].rows.append([c, Cell(group), Cell(value), Cell(count)])
        for rater, block in section["labelers"]["raters"].items():
            tables["labelers"].rows.append([c, Cell(rater), *_cells(block, LABELER_KEYS)])
    return tables


def _csv_value(value: Any) -> str:
    # repr of a float is the shortest text that reads back as the same float.
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value) if isinstance(value, float) else str(value)
    # Text (categories, model and rater names) comes from users: escaped as exports escape it.
    return csv_cell(str(value))


def table_csv(table: Table) -> str:
    """The table as CSV text: its columns, then "notes" ("column: note", e.g. why it is empty).

    Text cells that a spreadsheet would run as a formula get a leading quote (as in exports);
    numbers, negative ones included, are written as numbers.
    """
    out = io.StringIO()
    # CRLF as RFC 4180 (and the ratings export): csv quotes a field holding a character of the
    # line terminator, so with "\n" alone a "\r" inside a name would go out unquoted.
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([*table.columns, "notes"])
    for row in table.rows:
        notes: list[str] = []
        seen: set[str] = set()
        for column, cell in zip(table.columns, row, strict=True):
            if cell.note and cell.note not in seen:
                seen.add(cell.note)
                notes.append(f"{column}: {cell.note}")
        notes_cell = csv_cell("; ".join(notes))
        writer.writerow([*(_csv_value(cell.value) for cell in row), notes_cell])
    return out.getvalue()


def csv_write_dir(report: dict[str, Any], directory: Path) -> list[Path]:
    """Write one <table>.csv per table into `directory` (created if missing)."""
    directory.mkdir(parents=True, exist_ok=True)
    written = []
    for name, table in report_tables(report).items():
        path = directory / f"{name}.csv"
        path.write_text(table_csv(table), encoding="utf-8")
        written.append(path)
    return written


def csv_zip(report: dict[str, Any]) -> bytes:
    """The same CSV files in one zip archive, for the download link."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, table in report_tables(report).items():
            info = zipfile.ZipInfo(f"{name}.csv", date_time=(2000, 1, 1, 0, 0, 0))
            archive.writestr(info, table_csv(table), zipfile.ZIP_DEFLATED)
    return buffer.getvalue()
