"""Report benchmark: the full report (every metric, 1,000 bootstrap rounds) on 1,000,000 ratings.

Generates a seeded ratings frame directly (no database), as the selector would hand it over:
100,000 pairs of 8 models in 20 categories, 2 criteria, on each unit 3 of 60 human labelers
(counterbalanced order, 1-8 scale with a tie) and each judge (--judges, default 1) in both
orders: 10 ratings per pair. Runs build_report twice with the same seed and prints the wall time
of each run, the peak RSS of the process and whether the two JSON dumps are byte-identical.
Targets (DESIGN.md): <= 15 s, <= 1 GB, identical.

    uv run python bench/report.py [--pairs 100000] [--bootstrap 1000] [--seed 0] [--profile]
"""

import argparse
import cProfile
import json
import pstats
import resource
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from analysis.metrics.frame import COLUMNS, coerce_frame  # noqa: E402
from analysis.report import build_report  # noqa: E402

MODELS = [f"model-{name}" for name in "abcdefgh"]
CRITERIA = ("helpfulness", "truthfulness")
N_LABELERS = 60
N_CATEGORIES = 20
K = 4  # 8-point scale


def ratings_frame(n_pairs: int, n_judges: int, seed: int) -> pd.DataFrame:
    """The long frame build_report reads, with humans and judges that mostly follow model skill."""
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
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # KiB on Linux


def run(frame: pd.DataFrame, bootstrap: int, seed: int) -> tuple[str, float]:
    counts = {"prompts": 0, "pairs": 0, "human_ratings": 0, "llm_ratings": 0, "labelers": 0}
    counts["judges"] = 0
    started = time.perf_counter()
    report = build_report(
        frame,
        project="bench",
        bootstrap=bootstrap,
        seed=seed,
        generated_at="2026-01-01T00:00:00Z",
        counts=counts,
    )
    elapsed = time.perf_counter() - started
    return json.dumps(report, allow_nan=False, sort_keys=True), elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=100_000)
    parser.add_argument("--judges", type=int, default=1)
    parser.add_argument("--bootstrap", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--profile", action="store_true", help="cProfile the first run.")
    args = parser.parse_args()

    started = time.perf_counter()
    # Coerced once, as analysis.selectors.ratings_frame hands it to the report.
    frame = coerce_frame(ratings_frame(args.pairs, args.judges, args.seed))
    print(
        f"shape: {len(frame):,} ratings = {args.pairs:,} pairs x {len(CRITERIA)} criteria x "
        f"(3 humans + {args.judges} judge(s) x 2 orders); {len(MODELS)} models, "
        f"{N_CATEGORIES} categories, {N_LABELERS} labelers; generated in "
        f"{time.perf_counter() - started:.1f} s; peak RSS so far {peak_rss_mb():.0f} MB"
    )
    profiler = cProfile.Profile() if args.profile else None
    if profiler:
        profiler.enable()
    first, first_s = run(frame, args.bootstrap, args.seed)
    if profiler:
        profiler.disable()
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
    second, second_s = run(frame, args.bootstrap, args.seed)
    identical = first == second
    peak = peak_rss_mb()
    print(f"report run 1: {first_s:.2f} s, run 2: {second_s:.2f} s (bootstrap {args.bootstrap})")
    print(f"peak RSS: {peak:.0f} MB")
    print(f"same seed, byte-identical JSON: {identical} ({len(first):,} bytes)")
    ok = identical and max(first_s, second_s) <= 15 and peak <= 1024
    print("targets (<= 15 s, <= 1 GB, identical):", "met" if ok else "MISSED")
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
