"""Small literal ratings frames for metric tests: name the columns that matter, defaults fill in."""

import json
from pathlib import Path
from typing import Any

import pandas as pd

from analysis.metrics.frame import coerce_frame

PANDALM = Path(__file__).resolve().parents[2] / "fixtures" / "pandalm"
LABEL_VERDICT = {1: "a", 2: "b", 0: "tie"}
GPT_VERDICT = {"1": "a", "2": "b", "Tie": "tie", "garbage": "tie"}
PREFERENCE = {"a": -1, "tie": 0, "b": 1}


def rating(**fields: Any) -> dict[str, Any]:
    verdict = fields.get("verdict")
    if verdict is None:
        preference = fields.get("preference", 0)
        verdict = "a" if preference < 0 else "b" if preference > 0 else "tie"
    row: dict[str, Any] = {
        "unit": f"{fields.get('pair_id', 1)}:{fields.get('criterion', 'helpfulness')}",
        "pair_id": 1,
        "prompt_id": "p1",
        "category": "general",
        "model_a": "alpha",
        "model_b": "beta",
        "criterion": "helpfulness",
        "rater": "alice",
        "rater_kind": "human",
        "rater_group": "human",
        "shown_first": "a",
        "value_shown": "",
        "preference": PREFERENCE.get(verdict, 0),
        "scale_k": 4,
        "verdict": verdict,
        "len_a": 100,
        "len_b": 200,
        "with_suggestion": False,
        "time_spent_ms": 1000.0,
    }
    row.update(fields)
    if "unit" not in fields:
        row["unit"] = f"{row['pair_id']}:{row['criterion']}"
    return row


def frame_of(rows: list[dict[str, Any]]) -> pd.DataFrame:
    return coerce_frame(pd.DataFrame([rating(**row) for row in rows]))


def pandalm_frame(*, with_pandalm_7b: bool = False) -> pd.DataFrame:
    """The PandaLM test set: three annotators and GPT-3.5 (one call, order unknown) per item,
    and with `with_pandalm_7b` the PandaLM-7B verdicts as a second judge."""
    items = json.loads((PANDALM / "testset-v1.json").read_text())
    gpt = {
        r["idx"]: r["gpt_result"]
        for r in json.loads((PANDALM / "gpt-3.5-turbo-testset-v1.json").read_text())
    }
    pandalm = {
        r["idx"]: int(r["pandalm_result"])
        for r in json.loads((PANDALM / "pandalm-7b-testset-v1.json").read_text())
    }
    rows = []
    for item in items:
        model_a, model_b = item["cmp_key"].split("_")
        base = {
            "pair_id": item["idx"],
            "prompt_id": str(item["idx"]),
            "category": item["motivation_app"],
            "model_a": model_a,
            "model_b": model_b,
            "shown_first": "",
            "scale_k": 1,
            "len_a": len(str(item["response1"])),
            "len_b": len(str(item["response2"])),
            "time_spent_ms": float("nan"),
        }
        for n in (1, 2, 3):
            rows.append(
                base | {"rater": f"annotator{n}", "verdict": LABEL_VERDICT[item[f"annotator{n}"]]}
            )
        rows.append(
            base
            | {
                "rater": "gpt-3.5",
                "rater_kind": "llm",
                "rater_group": "gpt-3.5",
                "verdict": GPT_VERDICT[gpt[item["idx"]]],
            }
        )
        if with_pandalm_7b:
            rows.append(
                base
                | {
                    "rater": "pandalm-7b",
                    "rater_kind": "llm",
                    "rater_group": "pandalm-7b",
                    "verdict": LABEL_VERDICT[pandalm[item["idx"]]],
                }
            )
    return frame_of(rows)
