"""`manage.py demo`: a ready-to-use project built from the PandaLM test set in fixtures/."""

import hashlib
import io
import json
from pathlib import Path
from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandError
from django.db.models import Exists, OuterRef

from annotate.models import Pair, Project, Rating, Role
from annotate.services.import_readers import error_lines
from annotate.services.imports import ImportResult, import_file
from annotate.services.projects import member_add, project_create
from concord.api_errors import ApplicationError

FIXTURES = Path(settings.BASE_DIR) / "fixtures" / "pandalm"
SLUG = "pandalm-demo"
PASSWORD = "concord-demo"
USERS = (
    ("lead", Role.LEAD),
    ("labeler1", Role.LABELER),
    ("labeler2", Role.LABELER),
    ("researcher", Role.RESEARCHER),
)
HUMAN_RATERS = ("annotator1", "annotator2", "annotator3")
LLM_RATER = "gpt-3.5-turbo"
PANDALM_RATER = "pandalm-7b"
LLM_RATERS = (LLM_RATER, PANDALM_RATER)
# Some PandaLM responses are empty; an import needs text, and a labeler should see why.
EMPTY_RESPONSE = "[empty response: the model returned no text]"
HUMAN_WINNER = {1: "a", 2: "b", 0: "tie"}  # 1 = response1 better, 2 = response2, 0 = tie
LLM_WINNER = {"1": "a", "2": "b", "Tie": "tie", "garbage": "tie"}  # garbage counted as a tie
# Both judges' prompts show response1 first ("a" in the file's model_a = response1 orientation;
# the importer turns it into the canonical side). The human annotators' order is not recorded.
JUDGE_SHOWN_FIRST = "a"

INSTRUCTIONS = """\
## PandaLM test set

Each task shows one instruction (with its input, when it has one) and two responses written by
small (about 7B-parameter) open language models. Pick the response that follows the instruction
better: correct, complete, clear and to the point. Choose *about the same* when neither is better.

Some responses are cut off or empty; an empty one is shown as
"[empty response: the model returned no text]".

The 999 comparisons of the test set come with the labels of its three annotators and the
verdicts of two LLM judges, GPT-3.5 and PandaLM-7B, imported as ratings; the other model pairs
of each instruction are yours to label.

Data: the PandaLM human-annotated test set (Wang et al., "PandaLM: An Automatic Evaluation
Benchmark for LLM Instruction Tuning Optimization", ICLR 2024,
https://github.com/WeOpenML/PandaLM), Apache-2.0. The instructions come from the self-instruct
user-oriented evaluation set (Apache-2.0).
"""


def _text(value: Any) -> str:
    # The published JSON holds a few booleans where a response said "True".
    text = value if isinstance(value, str) else str(value)
    return text if text.strip() else EMPTY_RESPONSE


def _jsonl(rows: list[dict[str, Any]]) -> bytes:
    return "".join(json.dumps(row, ensure_ascii=False) + "\n" for row in rows).encode("utf-8")


def _first_fitting_copy(copies: list[dict[str, str]], texts: dict[str, str]) -> int:
    """The first copy of a prompt whose models' texts agree with `texts` (or a new one)."""
    for number, known in enumerate(copies):
        if all(known.get(model, text) == text for model, text in texts.items()):
            return number
    return len(copies)


def pandalm_files(
    records: list[dict[str, Any]],
    verdicts: list[dict[str, Any]],
    pandalm_verdicts: list[dict[str, Any]],
) -> tuple[bytes, bytes, bytes]:
    """The pairs, ratings and completions files (JSONL) for the PandaLM test set.

    Human labels are imported with the shown order unknown (the files do not record it); the
    GPT-3.5 and PandaLM-7B verdicts with response1 shown first, as their prompts show it.

    prompt_id is "pandalm-" + the first 12 hex digits of the prompt's SHA-1. In a few prompts
    one model has two different (truncated) responses across comparisons; a completion is one
    text per (prompt, model), so such a comparison goes to a second copy of the prompt with the
    suffix "-2" (then "-3", ...), chosen greedily in file order so the ids are stable.
    """
    variants: dict[str, list[dict[str, str]]] = {}
    pairs, ratings = [], []
    for record, verdict, pandalm in zip(records, verdicts, pandalm_verdicts, strict=True):
        if record["idx"] != verdict["idx"]:
            raise CommandError(f"GPT-3.5 verdicts out of step at idx {record['idx']}")
        if record["idx"] != pandalm["idx"]:
            raise CommandError(f"PandaLM-7B verdicts out of step at idx {record['idx']}")
        prompt = "\n\n".join(p for p in (record["instruction"], record["input"]) if p.strip())
        model_1, model_2 = record["cmp_key"].split("_", 1)
        text_1, text_2 = _text(record["response1"]), _text(record["response2"])
        base = "pandalm-" + hashlib.sha1(prompt.encode("utf-8")).hexdigest()[:12]
        copies = variants.setdefault(base, [])
        number = _first_fitting_copy(copies, {model_1: text_1, model_2: text_2})
        if number == len(copies):
            copies.append({})
        copies[number].update({model_1: text_1, model_2: text_2})
        prompt_id = base if number == 0 else f"{base}-{number + 1}"
        pairs.append(
            {
                "prompt_id": prompt_id,
                "prompt": prompt,
                "category": record["motivation_app"],
                "model_a": model_1,
                "completion_a": text_1,
                "model_b": model_2,
                "completion_b": text_2,
            }
        )
        common = {"prompt_id": prompt_id, "model_a": model_1, "model_b": model_2}
        for rater in HUMAN_RATERS:
            winner = HUMAN_WINNER[record[rater]]
            ratings.append(
                {**common, "criterion": "helpfulness", "rater": rater, "rater_kind": "human",
                 "winner": winner}
            )  # fmt: skip
        judged = {**common, "criterion": "helpfulness", "rater_kind": "llm",
                  "shown_first": JUDGE_SHOWN_FIRST}  # fmt: skip
        ratings.append({**judged, "rater": LLM_RATER, "winner": LLM_WINNER[verdict["gpt_result"]]})
        ratings.append(
            {**judged, "rater": PANDALM_RATER,
             "winner": HUMAN_WINNER[int(pandalm["pandalm_result"])]}
        )  # fmt: skip

    prompts = {row["prompt_id"]: row for row in pairs}
    completions = [
        {
            "prompt_id": prompt_id,
            "prompt": prompts[prompt_id]["prompt"],
            "category": prompts[prompt_id]["category"],
            "model": model,
            "completion": text,
        }
        for base, copies in variants.items()
        for number, texts in enumerate(copies)
        for prompt_id in [base if number == 0 else f"{base}-{number + 1}"]
        for model, text in sorted(texts.items())
    ]
    return _jsonl(pairs), _jsonl(ratings), _jsonl(completions)


class Command(BaseCommand):
    help = (
        "Migrate the database, create demo users and a demo project from the PandaLM test set "
        "(999 pairs with three human annotators and GPT-3.5 and PandaLM-7B as LLM raters, plus "
        "fresh pairs to label). Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        project = Project.objects.filter(slug=SLUG).first() or project_create(
            name="PandaLM test set",
            slug=SLUG,
            criteria=("helpfulness",),
            scale_points=8,
            tie_option=True,
            overlap=3,
            instructions=INSTRUCTIONS,
        )
        for username, role in USERS:
            member_add(project=project, username=username, role=role, password=PASSWORD)

        records = json.loads((FIXTURES / "testset-v1.json").read_text(encoding="utf-8"))
        verdicts = json.loads(
            (FIXTURES / "gpt-3.5-turbo-testset-v1.json").read_text(encoding="utf-8")
        )
        pandalm = json.loads((FIXTURES / "pandalm-7b-testset-v1.json").read_text(encoding="utf-8"))
        pairs, ratings, completions = pandalm_files(records, verdicts, pandalm)
        # A demo built before the judges' shown order was known holds GPT-3.5 verdicts without
        # it; they would stand beside the same verdicts with the order, so they go first.
        Rating.objects.filter(
            pair__project=project, rater=LLM_RATER, rater_kind="llm", shown_first=""
        ).delete()
        self._import(project, "pairs", "pandalm-testset-v1-pairs.jsonl", pairs)
        self._import(project, "ratings", "pandalm-testset-v1-ratings.jsonl", ratings)
        self._import(project, "completions", "pandalm-testset-v1-completions.jsonl", completions)

        rated = Exists(Rating.objects.filter(pair=OuterRef("pk")))
        pairs_qs = Pair.objects.filter(project=project)
        n_rated = pairs_qs.filter(rated).count()
        n_fresh = pairs_qs.exclude(rated).count()
        self.stdout.write(
            f"Project {SLUG}: {n_rated} pairs rated (3 annotators + {' + '.join(LLM_RATERS)}), "
            f"{n_fresh} fresh pairs to label."
        )
        self.stdout.write(
            "Users (password "
            + PASSWORD
            + "): "
            + ", ".join(f"{name} ({role})" for name, role in USERS)
        )
        self.stdout.write("Open http://127.0.0.1:8000/")

    def _import(self, project: Project, kind: str, filename: str, data: bytes) -> ImportResult:
        try:
            return import_file(project=project, kind=kind, file=io.BytesIO(data), filename=filename)
        except ApplicationError as exc:
            for line in error_lines(exc):
                self.stderr.write(line)
            raise CommandError(exc.message) from exc
