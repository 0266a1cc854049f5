import io
import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from annotate import models
from annotate.management.commands.demo import FIXTURES, HUMAN_RATERS, SLUG

DATA = Path(__file__).parent / "data"


def run(*args: str) -> str:
    out = io.StringIO()
    call_command(*args, stdout=out, stderr=io.StringIO())
    return out.getvalue()


def run_cli(*argv: str) -> tuple[int, str, str]:
    """Run a command and report (exit status, stdout, stderr) as `manage.py` would.

    `manage.py` turns a CommandError into "CommandError: ..." on stderr and its `returncode`;
    the real process is checked once in a subprocess below (it closes the database
    connections, so it cannot run inside a test transaction).
    """
    out, err = io.StringIO(), io.StringIO()
    try:
        call_command(*argv, stdout=out, stderr=err)
    except CommandError as exc:
        err.write(f"CommandError: {exc}\n")
        return exc.returncode, out.getvalue(), err.getvalue()
    return 0, out.getvalue(), err.getvalue()


def test_project_create_makes_a_project_with_its_criteria(db: None) -> None:
    out = run(
        "project_create", "--name", "Support bot", "--criteria", "helpfulness,tone",
        "--scale", "5", "--overlap", "2", "--mode", "verify",
    )  # fmt: skip

    project = models.Project.objects.get(slug="support-bot")
    assert (project.name, project.overlap, project.mode) == ("Support bot", 2, "verify")
    assert list(project.criteria.values_list("key", "question", "scale_points", "tie_option")) == [
        ("helpfulness", "Which response is more helpful?", 5, True),
        ("tone", "Which response is better on tone?", 5, True),
    ]
    assert out.strip() == (
        "Created project support-bot (helpfulness, tone; 5-point scale; overlap 2; verify; "
        "lease 30 min)."
    )


def test_project_create_takes_the_lease_from_the_option_or_else_from_the_setting(
    db: None, settings: object
) -> None:
    settings.ASSIGNMENT_LEASE_MINUTES = 45  # type: ignore[attr-defined]
    run("project_create", "--name", "Default lease")
    out = run("project_create", "--name", "Short lease", "--lease-minutes", "5")
    assert "lease 5 min" in out
    assert dict(models.Project.objects.values_list("slug", "lease_minutes")) == {
        "default-lease": 45,
        "short-lease": 5,
    }
    code, _, err = run_cli("project_create", "--name", "No lease", "--lease-minutes", "0")
    assert code == 1
    assert "The lease must be at least 1 minute, got 0." in err
    assert not models.Project.objects.filter(slug="no-lease").exists()


def test_project_create_refuses_a_taken_slug_and_a_scale_off_range(
    db: None,
) -> None:
    run("project_create", "--name", "Eval", "--slug", "eval")

    code, _, err = run_cli("project_create", "--name", "Other", "--slug", "eval")
    assert code == 1
    assert "A project with the slug 'eval' already exists." in err

    code, _, err = run_cli("project_create", "--name", "Wide", "--scale", "12")
    assert code == 1
    assert "The scale must have 2..11 points, got 12." in err
    code, _, err = run_cli("project_create", "--name", "None", "--overlap", "0")
    assert (code, "at least 1, got 0" in err) == (1, True)
    assert list(models.Project.objects.values_list("slug", flat=True)) == ["eval"]


def test_member_add_creates_the_user_then_changes_the_role(project: models.Project) -> None:
    out = run("member_add", "chatbot-eval", "nina", "--role", "labeler", "--password", "s3cret-pw")

    nina = get_user_model().objects.get(username="nina")
    assert nina.check_password("s3cret-pw")
    assert out.strip() == "nina is a labeler of chatbot-eval."

    run("member_add", "chatbot-eval", "nina", "--role", "lead")
    run("member_add", "chatbot-eval", "omar", "--role", "researcher")

    assert dict(project.memberships.values_list("user__username", "role")) == {
        "nina": "lead", "omar": "researcher"}  # fmt: skip
    nina.refresh_from_db()
    assert nina.check_password("s3cret-pw")
    assert not get_user_model().objects.get(username="omar").has_usable_password()


def test_member_add_refuses_an_unknown_project(db: None) -> None:
    with pytest.raises(CommandError, match="No project with the slug 'nope'"):
        run("member_add", "nope", "nina", "--role", "labeler")


def test_the_import_commands_load_all_three_formats(project: models.Project) -> None:
    out = run("import_completions", "chatbot-eval", str(DATA / "completions_good.csv"))
    assert out.strip() == (
        "Imported 9 completions rows: 3 prompts, 9 completions, 10 pairs, 0 ratings created."
    )
    out = run("import_pairs", "chatbot-eval", str(DATA / "pairs_good.jsonl"))
    assert out.strip() == (
        "Imported 3 pairs rows: 2 prompts, 5 completions, 3 pairs, 0 ratings created."
    )
    out = run("import_ratings", "chatbot-eval", str(DATA / "ratings_good.csv"))
    assert out.strip() == (
        "Imported 6 ratings rows: 0 prompts, 0 completions, 0 pairs, 6 ratings created."
    )
    assert models.Pair.objects.filter(project=project).count() == 13
    assert models.Rating.objects.filter(pair__project=project).count() == 6


def test_import_completions_samples_pairs_per_prompt(project: models.Project) -> None:
    path = str(DATA / "completions_good.csv")

    run("import_completions", "chatbot-eval", path, "--pairs-per-prompt", "1", "--seed", "3")

    per_prompt = Counter(
        models.Pair.objects.filter(project=project).values_list("prompt__external_id", flat=True)
    )
    assert per_prompt == {"p1": 1, "p2": 1, "p3": 1}


def test_a_bad_file_prints_every_row_error_and_exits_non_zero(
    project: models.Project,
) -> None:
    path = str(DATA / "ratings_bad.csv")
    run("import_completions", "chatbot-eval", str(DATA / "completions_good.csv"))

    code, out, err = run_cli("import_ratings", "chatbot-eval", path)

    assert code == 1
    assert out == ""
    lines = err.strip().splitlines()
    assert lines[-1] == "CommandError: 10 bad rows in ratings_bad.csv; nothing was imported"
    assert "row 3, criterion: unknown criterion 'politeness' (project has helpfulness, " \
        "truthfulness)" in lines  # fmt: skip
    assert "row 5: no pair 'alpha-7b' vs 'beta-13b' for prompt_id 'p9' in this project" in lines
    assert len([line for line in lines if line.startswith("row ")]) == 10
    assert not models.Rating.objects.exists()


def test_an_import_into_a_missing_project_or_from_a_missing_file_fails(
    project: models.Project,
) -> None:
    code, _, err = run_cli("import_pairs", "nope", str(DATA / "pairs_good.jsonl"))
    assert (code, "No project with the slug 'nope'" in err) == (1, True)
    code, _, err = run_cli("import_pairs", "chatbot-eval", "/nonexistent.csv")
    assert (code, "No such file: /nonexistent.csv" in err) == (1, True)


def test_manage_py_exits_non_zero_and_lists_the_bad_rows_on_stderr(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DATABASE_URL"}
    env["CONCORD_VAR_DIR"] = str(tmp_path)
    manage = [sys.executable, str(Path(settings.BASE_DIR) / "manage.py")]
    subprocess.run([*manage, "migrate", "-v0"], env=env, check=True)
    subprocess.run([*manage, "project_create", "--name", "Eval"], env=env, check=True,
                   capture_output=True)  # fmt: skip

    done = subprocess.run(
        [*manage, "import_completions", "eval", str(DATA / "completions_bad.csv")],
        env=env, capture_output=True, text=True,
    )  # fmt: skip

    assert done.returncode == 1
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert (
        lines[0] == "row 2, model: duplicate: prompt_id 'p1' already has model 'alpha-7b' on row 1"
    )
    assert lines[-1] == "CommandError: 6 bad rows in completions_bad.csv; nothing was imported"


def majority(labels: list[str]) -> str:
    value, count = Counter(labels).most_common(1)[0]
    return value if count >= 2 else "none"


def expected_canonical_majorities() -> tuple[Counter[str], Counter[str]]:
    """Majority labels straight from the raw file, and the same in canonical (a/tie/b) terms."""
    records = json.loads((FIXTURES / "testset-v1.json").read_text(encoding="utf-8"))
    raw: Counter[str] = Counter()
    canonical: Counter[str] = Counter()
    for record in records:
        label = majority([str(record[r]) for r in HUMAN_RATERS])
        raw[{"0": "tie", "1": "response1", "2": "response2"}[label]] += 1
        model_1, model_2 = record["cmp_key"].split("_", 1)
        winner = {"0": None, "1": model_1, "2": model_2}[label]
        canonical["tie" if winner is None else "a" if winner == min(model_1, model_2) else "b"] += 1
    return raw, canonical


def demo_counts() -> dict[str, object]:
    project = models.Project.objects.get(slug=SLUG)
    ratings = models.Rating.objects.filter(pair__project=project)
    human: dict[int, list[str]] = {}
    for pair_id, verdict in ratings.filter(rater_kind="human").values_list("pair_id", "verdict"):
        human.setdefault(pair_id, []).append(verdict)
    return {
        "pairs": models.Pair.objects.filter(project=project).count(),
        "prompts": models.Prompt.objects.filter(project=project).count(),
        "completions": models.Completion.objects.filter(prompt__project=project).count(),
        "ratings": dict(Counter(ratings.values_list("rater", flat=True))),
        "humans_per_pair": Counter(len(v) for v in human.values()),
        "majority": Counter(majority(v) for v in human.values()),
        "llm": Counter(ratings.filter(rater_kind="llm").values_list("verdict", flat=True)),
        "full_pairs": models.Pair.objects.filter(project=project, claims=3, submitted=3).count(),
        "users": sorted(project.memberships.values_list("user__username", "role")),
    }


def test_the_demo_builds_the_pandalm_project_and_running_it_again_changes_nothing(
    db: None,
) -> None:
    out = run("demo")
    first = demo_counts()
    again = run("demo")

    assert demo_counts() == first
    assert again == out
    assert first["ratings"] == {
        "annotator1": 999, "annotator2": 999, "annotator3": 999, "gpt-3.5-turbo": 999,
        "pandalm-7b": 999}  # fmt: skip
    assert first["humans_per_pair"] == {3: 999}
    assert first["full_pairs"] == 999
    raw, canonical = expected_canonical_majorities()
    assert raw == {"tie": 105, "response1": 422, "response2": 472}  # SOURCE.md
    assert first["majority"] == canonical
    # GPT-3.5: "1" 460, "2" 476, "Tie" 38 + "garbage" 25 as ties; response1 is always model A.
    # PandaLM-7B: 1 433, 2 459, 0 (tie) 107.
    assert first["llm"] == {"a": 460 + 433, "b": 476 + 459, "tie": 63 + 107}
    fresh = int(first["pairs"]) - 999  # type: ignore[call-overload]
    assert fresh > 0
    assert (
        f"999 pairs rated (3 annotators + gpt-3.5-turbo + pandalm-7b), {fresh} fresh pairs to label"
        in out
    )
    assert "http://127.0.0.1:8000/" in out
    assert first["users"] == [("labeler1", "labeler"), ("labeler2", "labeler"),
                              ("lead", "lead"), ("researcher", "researcher")]  # fmt: skip
    assert get_user_model().objects.get(username="labeler1").check_password("concord-demo")
    project = models.Project.objects.get(slug=SLUG)
    assert (project.name, project.overlap) == ("PandaLM test set", 3)
    assert list(project.criteria.values_list("key", "scale_points", "tie_option")) == [
        ("helpfulness", 8, True)]  # fmt: skip
    assert "Apache-2.0" in project.instructions and "PandaLM" in project.instructions


def test_the_demo_imports_both_judges_with_response1_shown_first_and_upgrades_an_old_demo(
    db: None,
) -> None:
    run("demo")
    first = demo_counts()
    judged = models.Rating.objects.filter(pair__project__slug=SLUG, rater_kind="llm")
    # Response1 is model A on every PandaLM comparison, so it was shown first as A.
    assert set(judged.values_list("shown_first", flat=True)) == {"a"}
    assert set(judged.values_list("rater", flat=True)) == {"gpt-3.5-turbo", "pandalm-7b"}
    humans = models.Rating.objects.filter(pair__project__slug=SLUG, rater_kind="human")
    assert set(humans.values_list("shown_first", flat=True)) == {""}

    # A demo built before the order was known: its GPT-3.5 verdicts have no shown order.
    judged.filter(rater="gpt-3.5-turbo").update(
        shown_first="", value_shown="", updated_at=timezone.now()
    )
    run("demo")

    assert demo_counts() == first
    assert set(judged.values_list("shown_first", flat=True)) == {"a"}


def test_every_demo_pair_joins_completions_of_its_own_prompt(db: None) -> None:
    run("demo")

    pairs = models.Pair.objects.filter(project__slug=SLUG).select_related(
        "completion_a", "completion_b"
    )
    assert all(
        p.completion_a.prompt_id == p.prompt_id == p.completion_b.prompt_id
        and (p.completion_a.model, p.completion_b.model) == (p.model_a, p.model_b)
        and p.model_a < p.model_b
        for p in pairs
    )
    assert not models.Completion.objects.filter(text="").exists()
