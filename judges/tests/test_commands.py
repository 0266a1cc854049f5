"""The judge_create and judge commands."""

from io import StringIO
from pathlib import Path
from typing import Any

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from annotate.models import Project
from annotate.tests.factories import make_pair
from judges.management.commands.judge import Command as JudgeCommand
from judges.models import Judge, JudgeRun, RunStatus
from judges.services import judge_call_execute
from judges.stub import OpenAIStub
from judges.tests.conftest import API_KEY_ENV

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("memory_broker")]


def _run(*args: Any) -> str:
    out = StringIO()
    call_command(*args, stdout=out)
    return out.getvalue()


def _create(stub: OpenAIStub, *extra: str) -> str:
    return _run(
        "judge_create",
        "stub-judge",
        "--model",
        "stub-model",
        "--base-url",
        stub.url,
        "--api-key-env",
        API_KEY_ENV,
        "--price-in",
        "2.5",
        "--price-out",
        "10",
        *extra,
    )


def test_judge_create_stores_the_key_variable_name_never_a_key(stub: OpenAIStub) -> None:
    out = _create(stub, "--template", "verdict-abc", "--rpm", "600", "--concurrency", "8")
    judge = Judge.objects.get(name="stub-judge")
    assert "Created judge stub-judge" in out
    assert (judge.template, judge.rpm, judge.concurrency) == ("verdict-abc", 600, 8)
    assert judge.api_key_env == API_KEY_ENV
    assert str(judge.price_in) == "2.5000"


def test_judge_create_reads_a_custom_template_file(stub: OpenAIStub, tmp_path: Path) -> None:
    path = tmp_path / "t.txt"
    path.write_text("On {criterion}: {question}\n1) {answer_1}\n2) {answer_2}\nSay [[A]] or [[B]].")
    _create(stub, "--template", str(path), "--contract", "verdict-abc")
    judge = Judge.objects.get()
    assert (judge.template, judge.contract) == ("custom", "verdict-abc")
    assert judge.template_text.startswith("On {criterion}")


def test_judge_create_refuses_a_template_file_with_an_unknown_placeholder(
    stub: OpenAIStub, tmp_path: Path
) -> None:
    path = tmp_path / "t.txt"
    path.write_text("{question} {answer_1} {answer_2} {criterion} {answer_3}")
    with pytest.raises(CommandError, match=r"unknown placeholder\(s\) \{answer_3\}"):
        _create(stub, "--template", str(path))
    assert not Judge.objects.exists()


def test_judge_create_refuses_an_unknown_template(stub: OpenAIStub) -> None:
    with pytest.raises(CommandError, match="neither a built-in template"):
        _create(stub, "--template", "no-such-template")


def test_a_dry_run_prints_calls_and_cost_and_calls_nothing(
    project: Project, stub: OpenAIStub
) -> None:
    make_pair(project)
    make_pair(project)
    _create(stub)
    out = _run(
        "judge", project.slug, "--judge", "stub-judge", "--dry-run", "--criteria", "helpfulness"
    )
    assert out.startswith("4 calls (0 answered from the cache)")
    assert "estimated cost" in out and "characters / 4" in out
    assert not JudgeRun.objects.exists()
    assert stub.stats()["total"] == 0


def test_judge_enqueues_a_run_with_a_budget(project: Project, stub: OpenAIStub) -> None:
    make_pair(project)
    _create(stub)
    out = _run(
        "judge", project.slug, "--judge", "stub-judge", "--orders", "one", "--budget-usd", "0.5"
    )
    run = JudgeRun.objects.get()
    assert f"Started judge run {run.id}." in out
    assert (run.status, run.orders, str(run.budget_usd)) == (RunStatus.RUNNING, "one", "0.5000")
    assert run.calls.count() == 2


def test_judge_names_an_unknown_project_or_judge(project: Project, stub: OpenAIStub) -> None:
    with pytest.raises(CommandError, match="no project with slug 'nope'"):
        _run("judge", "nope", "--judge", "x")
    with pytest.raises(CommandError, match="no judge named 'x'"):
        _run("judge", project.slug, "--judge", "x")


def test_judge_wait_shows_progress_until_the_run_ends(
    project: Project, stub: OpenAIStub, django_capture_on_commit_callbacks: Any
) -> None:
    make_pair(project)
    _create(stub)
    with django_capture_on_commit_callbacks(execute=True):
        _run("judge", project.slug, "--judge", "stub-judge", "--criteria", "helpfulness")
    run = JudgeRun.objects.get()
    for call_id in run.calls.values_list("id", flat=True):
        judge_call_execute(call_id=call_id)
    out = StringIO()
    command = JudgeCommand(stdout=out)
    command._wait(run, 0)
    assert "[##############################] 2/2 done 2 unparsed 0 failed 0" in out.getvalue()
    assert out.getvalue().endswith(f"Run {run.id} ended: done\n")


def test_judge_resume_and_cancel_act_on_an_existing_run(project: Project, stub: OpenAIStub) -> None:
    make_pair(project)
    _create(stub)
    _run("judge", project.slug, "--judge", "stub-judge")
    run = JudgeRun.objects.get()
    run.calls.update(status="running", started_at="2020-01-01T00:00:00Z")
    out = _run("judge", project.slug, "--judge", "stub-judge", "--resume", str(run.id))
    assert out == f"Re-enqueued 4 calls of judge run {run.id}.\n"
    assert set(run.calls.values_list("status", flat=True)) == {"queued"}
    out = _run("judge", project.slug, "--judge", "stub-judge", "--cancel", str(run.id))
    assert out == f"Cancelled judge run {run.id}.\n"
    assert set(run.calls.values_list("status", flat=True)) == {"cancelled"}
    with pytest.raises(CommandError, match="only running or failed runs resume"):
        _run("judge", project.slug, "--judge", "stub-judge", "--resume", str(run.id))
    with pytest.raises(CommandError, match=f"no run {run.id + 1} of judge stub-judge"):
        _run("judge", project.slug, "--judge", "stub-judge", "--cancel", str(run.id + 1))


def test_judge_starts_a_joint_run_that_routes_when_asked(
    project: Project, stub: OpenAIStub
) -> None:
    make_pair(project)
    _create(stub)
    out = _run(
        "judge", project.slug, "--judge", "stub-judge", "--criteria-mode", "together", "--route"
    )
    run = JudgeRun.objects.get()
    assert out.startswith("2 calls (0 answered from the cache)")
    assert (run.criteria_mode, run.route_disagreements, run.calls.count()) == ("together", True, 4)


def test_judge_takes_routing_from_the_project_unless_told_not_to(
    project: Project, stub: OpenAIStub
) -> None:
    project.route_by_judge = True
    project.save(update_fields=["route_by_judge"])
    make_pair(project)
    _create(stub)
    _run("judge", project.slug, "--judge", "stub-judge")
    _run("judge", project.slug, "--judge", "stub-judge", "--no-route")
    assert list(JudgeRun.objects.order_by("id").values_list("route_disagreements", flat=True)) == [
        True,
        False,
    ]


def test_judge_refuses_judging_together_with_a_custom_template(
    project: Project, stub: OpenAIStub, tmp_path: Path
) -> None:
    make_pair(project)
    path = tmp_path / "t.txt"
    path.write_text("On {criterion}: {question}\n1) {answer_1}\n2) {answer_2}\nScore 1-8.")
    _create(stub, "--template", str(path))
    with pytest.raises(CommandError, match="custom template, written for one criterion"):
        _run("judge", project.slug, "--judge", "stub-judge", "--criteria-mode", "together")
    assert not JudgeRun.objects.exists()


def test_judge_create_takes_an_empty_key_variable_for_a_local_server(stub: OpenAIStub) -> None:
    out = _run(
        "judge_create", "local", "--model", "llama", "--base-url", stub.url, "--api-key-env", ""
    )
    assert out.endswith(", no key\n")
    assert Judge.objects.get(name="local").api_key_env == ""
