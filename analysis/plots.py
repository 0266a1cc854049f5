"""The report's plots as inline SVG strings, drawn from the report JSON (and its confusion data).

matplotlib's object API (no pyplot, so no global figure state in a web process) with the Agg
backend; text stays text (svg.fonttype "none") so the page's font is used and the SVG is small,
and a fixed hash salt per plot makes element ids, hence the bytes, the same on every render.
Mathtext is off: every label is drawn literally, whatever characters a user's names contain.
"""

import io
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import matplotlib

matplotlib.use("Agg")

from matplotlib.figure import Figure  # noqa: E402 - after choosing the backend

HUMAN_COLOR = "#2f5bd3"
OTHER_COLORS = ("#d9822b", "#2e9e6a", "#9a4fc9", "#c23b5a", "#6b7a8f", "#b8a31f")
TEXT = "#1d2433"
MUTED = "#5d6678"
GRID = "#dde1e8"
STYLE: dict[str, Any] = {
    "svg.fonttype": "none",
    "font.family": "sans-serif",
    "font.sans-serif": ["DejaVu Sans"],
    "font.size": 10,
    "axes.edgecolor": GRID,
    "axes.labelcolor": TEXT,
    "axes.titlesize": 11,
    "axes.titleweight": "bold",
    "axes.spines.top": False,
    "axes.spines.right": False,
    "xtick.color": MUTED,
    "ytick.color": MUTED,
    "axes.grid": True,
    "grid.color": GRID,
    "grid.linewidth": 0.6,
    "axes.axisbelow": True,
    "legend.frameon": False,
    # Labels are user text (categories, model and judge names): a "$" must be a dollar sign,
    # not the start of mathtext, which raises on input such as "cat $\\foo{$".
    "text.parse_math": False,
}


def group_colors(groups: list[str]) -> dict[str, str]:
    """Humans always blue; other groups take the next colour in sorted order."""
    others = [group for group in sorted(groups) if group != "human"]
    colors = {"human": HUMAN_COLOR}
    colors.update({g: OTHER_COLORS[i % len(OTHER_COLORS)] for i, g in enumerate(others)})
    return colors


@contextmanager
def _figure(salt: str, width: float, height: float) -> Iterator[tuple[Figure, list[str]]]:
    out: list[str] = []
    settings: Any = {**STYLE, "svg.hashsalt": f"concord-{salt}"}
    with matplotlib.rc_context(settings):
        figure = Figure(figsize=(width, height), layout="constrained")
        yield figure, out
        buffer = io.StringIO()
        figure.savefig(buffer, format="svg", metadata={"Date": None, "Creator": None})
    svg = buffer.getvalue()
    # Inline in HTML: drop the XML prolog and DOCTYPE, let the SVG scale to its container.
    svg = svg[svg.index("<svg") :]
    svg = re.sub(r"\s*<metadata>.*?</metadata>", "", svg, count=1, flags=re.DOTALL)
    # Scale with the container, never past the drawn size.
    drawn = re.search(r'<svg[^>]*? width="([^"]*)"', svg)
    svg = re.sub(r'<svg([^>]*?) width="[^"]*" height="[^"]*"', r"<svg\1", svg, count=1)
    style = f' style="max-width: {drawn.group(1)}"' if drawn else ""
    out.append(svg.replace("<svg", f'<svg role="img" class="plot" data-plot="{salt}"{style}', 1))


def _ordered_groups(groups: list[str]) -> list[str]:
    return sorted(groups, key=lambda group: (group != "human", group))


def _value_order(value: str) -> tuple[int, float, str]:
    if value.lstrip("-").isdigit():
        return (0, float(value), value)
    return (1, 0.0, {"tie": "0", "a": "1", "b": "2"}.get(value, value))


def distribution_plot(criterion: str, section: dict[str, Any]) -> str:
    """(a) Share of ratings per value shown, humans vs each judge (the studies' histogram)."""
    distribution = section["distribution"]
    groups = _ordered_groups(list(distribution))
    values = sorted({v for counts in distribution.values() for v in counts}, key=_value_order)
    colors = group_colors(groups)
    with _figure(f"distribution-{criterion}", 7.5, 3.2) as (figure, out):
        axes = figure.add_subplot()
        width = 0.8 / max(len(groups), 1)
        for index, group in enumerate(groups):
            counts = distribution[group]
            total = sum(counts.values()) or 1
            xs = [i - 0.4 + width * (index + 0.5) for i in range(len(values))]
            shares = [counts.get(value, 0) / total for value in values]
            axes.bar(xs, shares, width, color=colors[group], label=f"{group} (n={total})")
        axes.set_xticks(range(len(values)), values)
        axes.set_xlabel("value as shown (scale point, tie, or an imported verdict a / b)")
        axes.set_ylabel("share of the group's ratings")
        axes.set_title(f"Score distribution — {criterion}")
        axes.grid(axis="x", visible=False)
        axes.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=9)
    return out[0]


def _interval_plot(
    salt: str, title: str, xlabel: str, rows: list[tuple[str, Any, Any, str]], reference: float
) -> str:
    """Points with error bars, one row per label; rows without a value are listed as such."""
    with _figure(salt, 7.5, 0.9 + 0.45 * max(len(rows), 1)) as (figure, out):
        axes = figure.add_subplot()
        for y, (_label, value, ci, color) in enumerate(reversed(rows)):
            if value is None:
                axes.text(reference, y, "not enough data", ha="center", va="center", color=MUTED)
                continue
            low, high = ci if ci else (value, value)
            axes.errorbar(
                [value],
                [y],
                xerr=[[value - low], [high - value]],
                fmt="o",
                color=color,
                capsize=4,
                markersize=6,
            )
            axes.annotate(
                f"{value:.3f}", (high, y), xytext=(6, 0), textcoords="offset points", va="center"
            )
        axes.axvline(reference, color=MUTED, linestyle="--", linewidth=1)
        axes.set_yticks(range(len(rows)), [row[0] for row in reversed(rows)])
        axes.set_ylim(-0.6, len(rows) - 0.4)
        axes.set_xlim(0, 1)
        axes.set_xlabel(xlabel)
        axes.set_title(title)
        axes.grid(axis="y", visible=False)
    return out[0]


def position_plot(criterion: str, section: dict[str, Any]) -> str:
    """(b) First-shown win rate per rater group with Wilson 95% intervals and the 0.5 line."""
    blocks = section["position_bias"]
    colors = group_colors(list(blocks))
    rows = [
        (
            f"{group} (n={blocks[group]['n_decisive']})",
            blocks[group]["first_shown_win_rate"],
            blocks[group]["ci95"],
            colors[group],
        )
        for group in _ordered_groups(list(blocks))
    ]
    return _interval_plot(
        f"position-{criterion}",
        f"Position bias — {criterion}",
        "share of decisive verdicts won by the response shown first (95% Wilson interval)",
        rows,
        0.5,
    )


def category_plot(criterion: str, section: dict[str, Any]) -> str:
    """(c) Human-vs-judge agreement (with ties) per category, one bar per judge and category."""
    judges = sorted(section["human_vs_llm"])
    categories = sorted({c for j in judges for c in section["human_vs_llm"][j]["by_category"]})
    colors = group_colors(judges)
    height = 1.2 + 0.28 * max(len(categories), 1) * max(len(judges), 1)
    with _figure(f"category-{criterion}", 7.5, height) as (figure, out):
        axes = figure.add_subplot()
        bar = 0.8 / max(len(judges), 1)
        for index, judge in enumerate(judges):
            by_category = section["human_vs_llm"][judge]["by_category"]
            ys, values = [], []
            for y, category in enumerate(reversed(categories)):
                value = by_category.get(category, {}).get("agreement_with_ties")
                if value is not None:
                    ys.append(y - 0.4 + bar * (len(judges) - index - 0.5))
                    values.append(value)
            axes.barh(ys, values, bar, color=colors[judge], label=judge)
        labels = []
        for category in reversed(categories):
            n = max(_category_n(section, judge, category) for judge in judges)
            labels.append(f"{category} (n={n})")
        axes.set_yticks(range(len(categories)), labels)
        axes.set_ylim(-0.6, len(categories) - 0.4)
        axes.set_xlim(0, 1)
        overall = [section["human_vs_llm"][j]["overall"]["agreement_with_ties"] for j in judges]
        for judge, value in zip(judges, overall, strict=True):
            if value is not None:
                axes.axvline(value, color=colors[judge], linestyle="--", linewidth=1)
        axes.set_xlabel("share of (human, judge) verdict pairs that are equal; dashed: overall")
        axes.set_title(f"Human vs judge agreement per category — {criterion}")
        axes.grid(axis="y", visible=False)
        if judges:
            axes.legend(loc="lower right", fontsize=9)
    return out[0]


def _category_n(section: dict[str, Any], judge: str, category: str) -> int:
    return int(section["human_vs_llm"][judge]["by_category"].get(category, {}).get("n", 0))


def leaderboard_plot(criterion: str, section: dict[str, Any]) -> str:
    """(d) Elo ratings with bootstrap 95% whiskers, humans and each judge side by side."""
    boards = {g: rows for g, rows in section["leaderboard"].items() if g != "rank_correlation"}
    groups = _ordered_groups(list(boards))
    colors = group_colors(groups)
    reference: list[dict[str, Any]] = boards.get("human") or next(iter(boards.values()), [])
    models = [row["model"] for row in reference]
    models += sorted({row["model"] for rows in boards.values() for row in rows} - set(models))
    height = 1.2 + 0.3 * max(len(models), 1) * max(len(groups), 1)
    with _figure(f"leaderboard-{criterion}", 7.5, height) as (figure, out):
        axes = figure.add_subplot()
        step = 0.8 / max(len(groups), 1)
        for index, group in enumerate(groups):
            by_model = {row["model"]: row for row in boards[group]}
            ys, xs, lows, highs = [], [], [], []
            for y, model in enumerate(reversed(models)):
                row = by_model.get(model)
                if row is None or row["rating"] is None:
                    continue
                low, high = row["ci95"] or (row["rating"], row["rating"])
                ys.append(y + 0.4 - step * (index + 0.5))
                xs.append(row["rating"])
                lows.append(row["rating"] - low)
                highs.append(high - row["rating"])
            axes.errorbar(
                xs, ys, xerr=[lows, highs], fmt="o", color=colors[group], capsize=3, label=group
            )
        axes.axvline(1000, color=MUTED, linestyle="--", linewidth=1)
        axes.set_yticks(range(len(models)), list(reversed(models)))
        axes.set_ylim(-0.6, len(models) - 0.4)
        axes.set_xlabel("Bradley-Terry rating on the Elo scale (mean model = 1000), 95% bootstrap")
        axes.set_title(f"Leaderboards — {criterion}")
        axes.grid(axis="y", visible=False)
        if groups:
            axes.legend(loc="upper left", bbox_to_anchor=(1, 1), fontsize=9)
    return out[0]


def confusion_plot(criterion: str, judge: str, confusion: dict[str, Any]) -> str:
    """(e) Human majority verdict x judge verdict counts, with row shares as the colour."""
    labels = confusion["labels"]
    counts = confusion["counts"]
    with _figure(f"confusion-{criterion}-{judge}", 4.2, 3.6) as (figure, out):
        axes = figure.add_subplot()
        shares = [[v / (sum(row) or 1) for v in row] for row in counts]
        # A mesh of rectangles, not imshow: vector shapes, where imshow embeds a bitmap.
        edges = [i - 0.5 for i in range(len(labels) + 1)]
        axes.pcolormesh(edges, edges, shares, cmap="Blues", vmin=0, vmax=1)
        axes.invert_yaxis()
        axes.set_aspect("equal")
        for i, row in enumerate(counts):
            for j, value in enumerate(row):
                color = "white" if shares[i][j] > 0.6 else TEXT
                axes.text(j, i, str(value), ha="center", va="center", color=color)
        axes.set_xticks(range(len(labels)), labels)
        axes.set_yticks(range(len(labels)), labels)
        axes.set_xlabel(f"{judge} verdict")
        axes.set_ylabel("human majority verdict")
        axes.set_title(f"{criterion}: humans vs {judge} (n={confusion['n']})", fontsize=10)
        axes.grid(visible=False)
    return out[0]


def criterion_plots(
    criterion: str, section: dict[str, Any], confusion: dict[str, Any]
) -> dict[str, Any]:
    """Every plot of one criterion: the five kinds, one confusion matrix per judge."""
    return {
        "distribution": distribution_plot(criterion, section),
        "position": position_plot(criterion, section),
        "category": category_plot(criterion, section) if section["human_vs_llm"] else "",
        "leaderboard": leaderboard_plot(criterion, section),
        "confusion": [
            confusion_plot(criterion, judge, matrix) for judge, matrix in sorted(confusion.items())
        ],
    }
