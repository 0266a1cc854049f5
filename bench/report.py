"""Report benchmark: the full report (every metric, 1,000 bootstrap rounds) on 1,000,000 ratings.

Two sources of the same shape, 100,000 pairs of 8 models in 20 categories, 2 criteria, on each
unit 3 of 60 human labelers (counterbalanced order, 1-8 scale with a tie) and each judge
(--judges, default 1) in both orders: 10 ratings per pair.

- `--source synthetic` (default): seeded ratings frames generated in memory, one per criterion
  as `criterion_frames` hands them over; times the metrics (build_report and the confusion data
  per criterion, as `report_compute` runs them) and the plots.
- `--source db`: the ratings are seeded once into a PostgreSQL benchmark database with set-based
  SQL (reused by later runs), then the whole path is timed: `report_compute` reading the rows
  out of the database criterion by criterion, every metric, and the plots, as the page runs them.

Each path runs twice with the same seed and prints the wall and CPU time of each run (on a busy
machine the wall time is the CPU time plus waiting), the peak RSS during the runs (the set-up's,
e.g. the generator's, is reported apart) and whether the two JSON dumps are byte-identical, then
checks a few numbers against an independent computation from the raw ratings (alpha with the
krippendorff package's own reliability-data path, a judge's first-shown win rate counted by hand
with scipy's binomial test, the human leaderboard by maximising the Bradley-Terry likelihood with
scipy). Targets (DESIGN.md): <= 15 s, <= 1 GB, identical.

    uv run python bench/report.py [--pairs 100000] [--bootstrap 1000] [--seed 0] [--profile]
    uv run python bench/report.py --source db [--database-url postgres://.../concord_bench_report]
"""

import argparse
import cProfile
import ctypes
import json
import os
import pstats
import resource
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from benchdb import ensure_database, setup_django  # noqa: E402

DEFAULT_DB = "postgres://postgres@127.0.0.1:5432/concord_bench_report"
MODELS = [f"model-{name}" for name in "abcdefgh"]
CRITERIA = ("helpfulness", "truthfulness")
N_LABELERS = 60
N_CATEGORIES = 20
K = 4  # 8-point scale
TARGET_SECONDS = 15.0
TARGET_MB = 1024.0
ELO_TOLERANCE = 1e-3


def ratings_frame(n_pairs: int, n_judges: int, seed: int) -> pd.DataFrame:
    """The long frame build_report reads, with humans and judges that mostly follow model skill."""
    from analysis.metrics.frame import COLUMNS

    rng = np.random.default_rng(seed)
    skill = np.linspace(-1.0, 1.0, len(MODELS))
    first = rng.integers(0, len(MODELS), n_pairs)
    second = (first + rng.integers(1, len(MODELS), n_pairs)) % len(MODELS)
    a, b = np.minimum(first, second), np.maximum(first, second)
    category = rng.integers(0, N_CATEGORIES, n_pairs)
    len_a, len_b = rng.integers(20, 2000, n_pairs), rng.integers(20, 2000, n_pairs)

    # Per pair and criterion: 3 humans, then each judge in both orders.
    raters_per_unit = 3 + 2 * n_judges
    n_units = n_pairs * len(CRITERIA)
    unit_pair = np.repeat(np.arange(n_pairs), len(CRITERIA))
    unit_criterion = np.tile(np.arange(len(CRITERIA)), n_pairs)
    pair = np.repeat(unit_pair, raters_per_unit)
    criterion = np.repeat(unit_criterion, raters_per_unit)
    slot = np.tile(np.arange(raters_per_unit), n_units)
    is_human = slot < 3

    # String columns index small arrays of Python strings: lean to build, whatever pandas stores.
    labeler = (pair * 7 + slot) % N_LABELERS  # three different labelers per pair
    judge = np.clip((slot - 3) // 2, 0, None)
    names = np.array(
        [f"labeler{i}" for i in range(N_LABELERS)] + [f"judge-{j}" for j in range(n_judges)],
        dtype=object,
    )
    rater = names[np.where(is_human, labeler, N_LABELERS + judge)]
    # Humans alternate the order shown; a judge's two calls are one per order.
    a_first = np.where(is_human, (pair + slot) % 2 == 0, (slot - 3) % 2 == 0)

    edge = skill[b[pair]] - skill[a[pair]]
    noise = rng.normal(0, 1.6, len(pair))
    position_push = np.where(is_human, 0.2, 0.6) * np.where(a_first, -1, 1)
    preference = np.clip(np.rint(edge * 2 + noise + position_push), -K, K).astype(np.int64)
    del edge, noise, position_push
    verdict = np.array(["a", "tie", "b"], dtype=object)[np.sign(preference) + 1]
    # Shown value on the 1-8 scale (1 = first shown much better), "tie" for a tie.
    shown_pref = np.where(a_first, preference, -preference)
    point = np.where(shown_pref < 0, shown_pref + K + 1, shown_pref + K)
    points = np.array(["tie", *(str(p) for p in range(1, 2 * K + 1))], dtype=object)
    value_shown = points[np.where(preference == 0, 0, point)]

    units = np.array([f"{p}:{c}" for p in range(n_pairs) for c in CRITERIA], dtype=object)
    models = np.array(MODELS, dtype=object)
    categories = np.array([f"cat{c}" for c in range(N_CATEGORIES)], dtype=object)
    prompts = np.array([f"p{p}" for p in range(n_pairs // 28 + 1)], dtype=object)
    frame = pd.DataFrame(
        {
            "unit": units[pair * len(CRITERIA) + criterion],
            "pair_id": pair,
            "prompt_id": prompts[pair // 28],
            "category": categories[category[pair]],
            "model_a": models[a[pair]],
            "model_b": models[b[pair]],
            "criterion": np.array(CRITERIA, dtype=object)[criterion],
            "rater": rater,
            "rater_kind": np.array(["llm", "human"], dtype=object)[is_human.astype(int)],
            "rater_group": np.where(is_human, "human", rater).astype(object),
            "shown_first": np.array(["b", "a"], dtype=object)[a_first.astype(int)],
            "value_shown": value_shown,
            "preference": preference,
            "scale_k": K,
            "verdict": verdict,
            "len_a": len_a[pair],
            "len_b": len_b[pair],
            "with_suggestion": False,
            "time_spent_ms": np.where(is_human, rng.integers(3000, 60000, len(pair)), np.nan),
        }
    )
    return frame[list(COLUMNS)]


def peak_rss_mb() -> float:
    """The process's peak RSS since start, or since `reset_peak_rss` (Linux's VmHWM)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def reset_peak_rss() -> bool:
    """Hand freed heap back to the system and restart the peak from the current RSS.

    Generating a million synthetic rows leaves hundreds of MB of freed but retained heap that
    no report would have; without this the peak would measure the generator, not the report.
    """
    try:
        ctypes.CDLL("libc.so.6").malloc_trim(0)
        Path("/proc/self/clear_refs").write_text("5")  # resets VmHWM to VmRSS
    except OSError:
        return False
    return True


# --- The database path ----------------------------------------------------------------------


def build_project(*, pairs: int, n_judges: int) -> tuple[Any, int]:
    """The benchmark project (built once with set-based SQL, then reused) and its rating count."""
    from django.core.management import call_command
    from django.db import connection, transaction

    from annotate.models import Criterion, Project, PromptSet, Rating

    call_command("migrate", verbosity=0)
    slug = f"bench-report-{pairs}-{n_judges}"
    expected = pairs * len(CRITERIA) * (3 + 2 * n_judges)
    project = Project.objects.filter(slug=slug).first()
    if (
        project is not None
        and Rating.objects.filter(criterion__project=project).count() == expected
    ):
        return project, expected
    n_prompts = -(-pairs // 28)  # all 28 pairs of 8 models per prompt
    with transaction.atomic():
        if project is not None:
            project.delete()
        project = Project.objects.create(name=slug, slug=slug)
        for position, key in enumerate(CRITERIA):
            Criterion.objects.create(
                project=project,
                key=key,
                question=f"Which is {key}?",
                position=position,
                scale_points=2 * K,
                tie_option=True,
            )
        prompt_set = PromptSet.objects.create(
            project=project, name="generated", kind="completions", sha256="0" * 64
        )
        with connection.cursor() as cur:
            cur.execute("SELECT setseed(0.25)")
            cur.execute(
                """INSERT INTO annotate_prompt
                          (project_id, prompt_set_id, external_id, text, category)
                   SELECT %s, %s, 'p' || g, 'Prompt ' || g, 'cat' || (g %% %s)
                   FROM generate_series(1, %s) AS g""",
                [project.pk, prompt_set.pk, N_CATEGORIES, n_prompts],
            )
            cur.execute(
                """INSERT INTO annotate_completion (prompt_id, model, text)
                   SELECT p.id, m.model, repeat('x', (20 + (p.id * 31 + m.n * 17) %% 1980)::int)
                   FROM annotate_prompt p
                   CROSS JOIN unnest(%s::text[]) WITH ORDINALITY AS m(model, n)
                   WHERE p.project_id = %s""",
                [MODELS, project.pk],
            )
            cur.execute(
                """INSERT INTO annotate_pair (project_id, prompt_id, completion_a_id,
                          completion_b_id, model_a, model_b, claims, a_first_claims, b_first_claims,
                          submitted, priority)
                   SELECT %s, p.id, a.id, b.id, a.model, b.model, 3, 2, 1, 3, 0
                   FROM annotate_prompt p
                   JOIN annotate_completion a ON a.prompt_id = p.id
                   JOIN annotate_completion b ON b.prompt_id = p.id AND a.model < b.model
                   WHERE p.project_id = %s
                   ORDER BY p.id, a.model, b.model
                   LIMIT %s""",
                [project.pk, project.pk, pairs],
            )
            # Humans in slots 0-2 (alternating order), each judge in both orders; the preference
            # follows the models' skill (its letter) with noise and a push towards the first shown.
            cur.execute(
                """INSERT INTO annotate_rating
                          (pair_id, criterion_id, rater_kind, rater, user_id, assignment_id,
                          shown_first, value_shown, preference, verdict, with_suggestion,
                          rationale, source, created_at, updated_at)
                   SELECT pair_id, criterion_id,
                          CASE WHEN slot < 3 THEN 'human' ELSE 'llm' END,
                          CASE WHEN slot < 3 THEN 'labeler' || ((pair_id * 7 + slot) %% %s)
                               ELSE 'judge-' || ((slot - 3) / 2) END,
                          NULL, NULL,
                          CASE WHEN a_first THEN 'a' ELSE 'b' END,
                          CASE WHEN pref = 0 THEN 'tie'
                               WHEN shown < 0 THEN (shown + %s + 1)::text
                               ELSE (shown + %s)::text END,
                          pref,
                          CASE WHEN pref < 0 THEN 'a' WHEN pref > 0 THEN 'b' ELSE 'tie' END,
                          false, '', 'bench', now(), now()
                   FROM (
                       SELECT pair_id, criterion_id, slot, a_first, pref,
                              CASE WHEN a_first THEN pref ELSE -pref END AS shown
                       FROM (
                           SELECT pr.id AS pair_id, c.id AS criterion_id, s.slot,
                                  CASE WHEN s.slot < 3 THEN (pr.id + s.slot) %% 2 = 0
                                       ELSE (s.slot - 3) %% 2 = 0 END AS a_first,
                                  greatest(-%s, least(%s, round(
                                      (ascii(right(pr.model_b, 1)) - ascii(right(pr.model_a, 1)))
                                          * 4.0 / 7
                                      + (random() + random() + random() - 1.5) * 3.2
                                      + CASE WHEN s.slot < 3 THEN 0.2 ELSE 0.6 END
                                          * CASE WHEN (CASE WHEN s.slot < 3
                                                  THEN (pr.id + s.slot) %% 2 = 0
                                                  ELSE (s.slot - 3) %% 2 = 0 END)
                                             THEN -1 ELSE 1 END
                                  )))::int AS pref
                           FROM annotate_pair pr
                           CROSS JOIN annotate_criterion c
                           CROSS JOIN generate_series(0, %s) AS s(slot)
                           WHERE pr.project_id = %s AND c.project_id = %s
                       ) AS drawn
                   ) AS shaped""",
                [N_LABELERS, K, K, K, K, 2 + 2 * n_judges, project.pk, project.pk],
            )
            cur.execute("ANALYZE")
    return project, expected


@dataclass
class Raw:
    """One criterion's ratings, read independently of the report's selector and frame."""

    unit: np.ndarray  # int codes
    rater: np.ndarray  # object
    is_human: np.ndarray  # bool
    shown_first: np.ndarray  # object: "a" / "b" / ""
    verdict: np.ndarray  # int: 0 = a, 1 = tie, 2 = b
    model_a: np.ndarray  # object
    model_b: np.ndarray  # object


CODES = {"a": 0, "tie": 1, "b": 2}


def raw_from_frame(frame: pd.DataFrame, criterion: str) -> Raw:
    part = frame[frame["criterion"] == criterion]
    return Raw(
        unit=pd.factorize(part["unit"].to_numpy(dtype=object))[0],
        rater=part["rater"].to_numpy(dtype=object),
        is_human=(part["rater_kind"] == "human").to_numpy(),
        shown_first=part["shown_first"].to_numpy(dtype=object),
        verdict=np.array([CODES[v] for v in part["verdict"].to_numpy(dtype=object)]),
        model_a=part["model_a"].to_numpy(dtype=object),
        model_b=part["model_b"].to_numpy(dtype=object),
    )


def raw_from_database(project: Any, criterion: str) -> Raw:
    """Straight SQL over the tables, so a selector bug cannot hide in both sides of a check."""
    from django.db import connection

    with connection.cursor() as cur:
        cur.execute(
            """SELECT r.pair_id, r.rater, r.rater_kind, r.shown_first, r.verdict,
                      p.model_a, p.model_b
               FROM annotate_rating r
               JOIN annotate_criterion c ON c.id = r.criterion_id
               JOIN annotate_pair p ON p.id = r.pair_id
               WHERE c.project_id = %s AND c.key = %s""",
            [project.pk, criterion],
        )
        rows = cur.fetchall()
    pair, rater, kind, shown, verdict, model_a, model_b = (
        np.array(c, dtype=object) for c in zip(*rows, strict=True)
    )
    return Raw(
        unit=pd.factorize(pair.astype(np.int64))[0],
        rater=rater,
        is_human=kind == "human",
        shown_first=shown,
        verdict=np.array([CODES[v] for v in verdict]),
        model_a=model_a,
        model_b=model_b,
    )


def reference_alpha(raw: Raw) -> float:
    """Nominal alpha of the humans through the krippendorff package's reliability-data path."""
    import krippendorff

    humans = raw.is_human
    raters, rater_index = np.unique(raw.rater[humans], return_inverse=True)
    data = np.full((len(raters), raw.unit.max() + 1), np.nan)
    data[rater_index, raw.unit[humans]] = raw.verdict[humans]
    return float(
        krippendorff.alpha(
            reliability_data=data, value_domain=[0, 1, 2], level_of_measurement="nominal"
        )
    )


def reference_first_shown(raw: Raw, judge: str) -> tuple[float, float, int]:
    """A judge's first-shown win rate counted call by call, and scipy's exact binomial p."""
    from scipy.stats import binomtest

    calls = (raw.rater == judge) & (raw.shown_first != "") & (raw.verdict != 1)
    first_code = np.where(raw.shown_first[calls] == "a", 0, 2)
    won = int((raw.verdict[calls] == first_code).sum())
    n = int(calls.sum())
    return won / n, float(binomtest(won, n, 0.5).pvalue), n


def reference_elo(raw: Raw) -> dict[str, float]:
    """The human leaderboard by maximising the Bradley-Terry log-likelihood (ties half a win)."""
    from scipy.optimize import minimize

    humans = raw.is_human
    models = sorted(set(raw.model_a[humans]) | set(raw.model_b[humans]))
    index = {m: i for i, m in enumerate(models)}
    a = np.array([index[m] for m in raw.model_a[humans]])
    b = np.array([index[m] for m in raw.model_b[humans]])
    a_share = np.array([1.0, 0.5, 0.0])[raw.verdict[humans]]
    wins = np.zeros((len(models), len(models)))
    np.add.at(wins, (a, b), a_share)
    np.add.at(wins, (b, a), 1 - a_share)

    def negative_log_likelihood(free: np.ndarray) -> tuple[float, np.ndarray]:
        theta = np.append(free, -free.sum())
        p_win = 1 / (1 + np.exp(-(theta[:, None] - theta[None, :])))
        grad = -(wins * (1 - p_win)).sum(axis=1) + (wins * (1 - p_win)).sum(axis=0)
        return float(-(wins * np.log(p_win)).sum()), grad[:-1] - grad[-1]

    fitted = minimize(
        negative_log_likelihood, np.zeros(len(models) - 1), jac=True, method="BFGS",
        options={"gtol": 1e-10},
    ).x  # fmt: skip
    theta = np.append(fitted, -fitted.sum())
    return {m: 1000 + 400 * theta[i] / np.log(10) for m, i in index.items()}


def check(report: dict[str, Any], raw: Raw, criterion: str) -> list[tuple[str, bool]]:
    section = report["criteria"][criterion]
    lines = []
    alpha = reference_alpha(raw)
    got = section["human_agreement"]["alpha_nominal"]
    text = f"{criterion} alpha_nominal {got:.12f} vs krippendorff {alpha:.12f}"
    lines.append((text, abs(got - alpha) < 1e-9))

    rate, p_value, n = reference_first_shown(raw, "judge-0")
    block = section["position_bias"]["judge-0"]
    text = (
        f"{criterion} judge-0 first_shown_win_rate {block['first_shown_win_rate']:.6f} "
        f"(n={block['n_decisive']}, p={block['p_value']:.3g}) vs by hand {rate:.6f} "
        f"(n={n}, p={p_value:.3g})"
    )
    same = (
        block["n_decisive"] == n
        and abs(block["first_shown_win_rate"] - rate) < 1e-12
        and abs(block["p_value"] - p_value) < 1e-12
    )
    lines.append((text, same))

    expected = reference_elo(raw)
    board = {row["model"]: row["rating"] for row in section["leaderboard"]["human"]}
    worst = max(abs(board[m] - r) for m, r in expected.items())
    text = (
        f"{criterion} human leaderboard vs scipy Bradley-Terry fit: largest gap {worst:.2e} Elo "
        f"over {len(expected)} models"
    )
    lines.append((text, worst <= ELO_TOLERANCE))
    return lines


# --- Timing -----------------------------------------------------------------------------------


@dataclass
class Run:
    json: str
    seconds: float
    cpu_seconds: float
    stages: dict[str, float]


def timed(run: Callable[[dict[str, float]], dict[str, Any]]) -> Run:
    stages: dict[str, float] = {}
    wall, cpu = time.perf_counter(), time.process_time()
    report = run(stages)
    seconds, cpu_seconds = time.perf_counter() - wall, time.process_time() - cpu
    report = {**report, "generated_at": "-"}  # the one field that is the time of the run
    return Run(json.dumps(report, allow_nan=False, sort_keys=True), seconds, cpu_seconds, stages)


def plots(report: dict[str, Any], extras: dict[str, Any]) -> None:
    from analysis.html_out import report_context

    report_context(report, extras)  # every criterion's tables and SVG plots


def synthetic_run(frames: dict[str, pd.DataFrame], bootstrap: int, seed: int) -> Callable[..., Any]:
    """What report_compute does with the frames criterion_frames reads, on generated frames:
    build_report and the confusion data of one criterion at a time, then the plots."""
    from analysis.report import build_report
    from analysis.services import _confusion

    def run(stages: dict[str, float]) -> dict[str, Any]:
        started = time.perf_counter()
        report: dict[str, Any] = {
            "project": "bench",
            "generated_at": "-",
            "counts": {},
            "criteria": {},
        }
        extras: dict[str, Any] = {"confusion": {}}
        for criterion, frame in frames.items():
            section = build_report(
                frame, project="bench", bootstrap=bootstrap, seed=seed, generated_at="-", counts={}
            )
            report["criteria"].update(section["criteria"])
            extras["confusion"][criterion] = _confusion(frame)
        stages["metrics"] = time.perf_counter() - started
        started = time.perf_counter()
        plots(report, extras)
        stages["plots"] = time.perf_counter() - started
        return report

    return run


def database_run(project: Any, bootstrap: int, seed: int) -> Callable[..., Any]:
    """report_compute as the page and the command run it (it reads and computes criterion by
    criterion), then the plots; the time to read the ratings alone is measured apart."""
    from analysis.services import ReportParams, report_compute

    def run(stages: dict[str, float]) -> dict[str, Any]:
        started = time.perf_counter()
        report, extras = report_compute(
            project=project, params=ReportParams(bootstrap=bootstrap, seed=seed)
        )
        stages["read and metrics"] = time.perf_counter() - started
        started = time.perf_counter()
        plots(report, extras)
        stages["plots"] = time.perf_counter() - started
        return report

    return run


def read_seconds(project: Any) -> float:
    """Reading every rating of the project into one frame (ratings_frame), timed alone."""
    from analysis.selectors import ratings_frame

    started = time.perf_counter()
    ratings_frame(project=project)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--source", choices=["synthetic", "db"], default="synthetic")
    parser.add_argument("--database-url", default=os.environ.get("BENCH_DATABASE_URL", DEFAULT_DB))
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--judges", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile the first run.")
    args = parser.parse_args()

    started = time.perf_counter()
    if args.source == "db":
        ensure_database(args.database_url)
        setup_django(args.database_url)
    else:
        os.environ.setdefault("DJANGO_SETTINGS_MODULE", "concord.settings")
        import django

        django.setup()  # the report code imports the models; nothing touches a database
    # What a report command pays once per process, timed apart from the report itself.
    import analysis.html_out  # noqa: F401
    import analysis.report  # noqa: F401

    print(f"libraries loaded in {time.perf_counter() - started:.1f} s; {os.cpu_count()} cores")

    started = time.perf_counter()
    if args.source == "db":
        project, n_ratings = build_project(pairs=args.pairs, n_judges=args.judges)
        run = database_run(project, args.bootstrap, args.seed)
        source = f"database {args.database_url.rsplit('/', 1)[1]}, project {project.slug}"
    else:
        from analysis.metrics.frame import coerce_frame

        # Coerced and split by criterion once, as analysis.selectors.criterion_frames hands
        # them to the report.
        whole = coerce_frame(ratings_frame(args.pairs, args.judges, args.seed))
        n_ratings = len(whole)
        frames = {c: whole[whole["criterion"] == c].reset_index(drop=True) for c in CRITERIA}
        del whole
        run = synthetic_run(frames, args.bootstrap, args.seed)
        source = "synthetic frames"
    print(
        f"shape: {n_ratings:,} ratings = {args.pairs:,} pairs x {len(CRITERIA)} criteria x "
        f"(3 humans + {args.judges} judge(s) x 2 orders); {len(MODELS)} models, "
        f"{N_CATEGORIES} categories, {N_LABELERS} labelers; {source}, ready in "
        f"{time.perf_counter() - started:.1f} s"
    )

    setup_peak = peak_rss_mb()
    reset = reset_peak_rss()
    print(
        f"peak RSS of the set-up {setup_peak:.0f} MB; "
        + (
            f"measuring from here, the frame held: {peak_rss_mb():.0f} MB now"
            if reset
            else "the peak below includes the set-up (no VmHWM reset on this system)"
        )
    )
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    first = timed(run)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    second = timed(run)
    peak = peak_rss_mb()
    for number, result in enumerate((first, second), start=1):
        stages = ", ".join(f"{name} {seconds:.2f} s" for name, seconds in result.stages.items())
        print(
            f"run {number}: {result.seconds:.2f} s wall, {result.cpu_seconds:.2f} s CPU "
            f"({stages}; bootstrap {args.bootstrap})"
        )

    if args.source == "db":
        # After the peak was taken: it holds every criterion at once, which the report never does.
        print(f"reading all ratings alone (ratings_frame): {read_seconds(project):.2f} s")

    report = json.loads(first.json)
    if args.source == "db":
        raws = {c: raw_from_database(project, c) for c in CRITERIA}
    else:
        raws = {c: raw_from_frame(frames[c], c) for c in CRITERIA}
    checks = [line for c in CRITERIA for line in check(report, raws[c], c)]
    for text, ok in checks:
        print(f"check {'ok  ' if ok else 'FAIL'} {text}")

    slowest = max(first.seconds, second.seconds)
    identical = first.json == second.json
    print(f"wall time: {slowest:.2f} s (target <= {TARGET_SECONDS:.0f} s)")
    print(f"peak RSS during the report runs: {peak:.0f} MB (target <= {TARGET_MB:.0f} MB)")
    print(f"same seed, byte-identical JSON: {identical} ({len(first.json):,} bytes)")
    ok = identical and slowest <= TARGET_SECONDS and peak <= TARGET_MB
    ok = ok and all(passed for _, passed in checks)
    print("targets and checks:", "met" if ok else "MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
