"""Start a judge run on a project (or estimate it with --dry-run)."""

import argparse
import time
from argparse import ArgumentParser
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from annotate.models import Project
from concord.api_errors import ApplicationError
from judges.models import CriteriaMode, Judge, JudgeRun, Orders, RunStatus
from judges.selectors import judge_get_by_name, judge_run_progress
from judges.services import (
    Estimate,
    judge_run_cancel,
    judge_run_estimate,
    judge_run_resume,
    judge_run_start,
)

BAR_WIDTH = 30


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(value) from None


class Command(BaseCommand):
    help = (
        "Enqueue a judge run on a project's pairs for the Celery workers. --dry-run prints the "
        "calls and the estimated cost and calls nothing; --wait shows progress until the run ends."
    )

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("project", help="project slug")
        parser.add_argument("--judge", required=True, help="judge name")
        parser.add_argument("--orders", choices=Orders.values, default=Orders.BOTH)
        parser.add_argument("--criteria", nargs="+", help="criterion keys (default: all)")
        parser.add_argument(
            "--criteria-mode",
            choices=CriteriaMode.values,
            default=CriteriaMode.SEPARATE,
            help="separate: one request per criterion; together: one request per pair and order "
            "scoring every criterion (built-in templates)",
        )
        parser.add_argument(
            "--route",
            action=argparse.BooleanOptionalAction,
            default=None,
            help="when the run ends, send pairs the judge was inconsistent or split on to humans "
            "first (default: the project's option)",
        )
        parser.add_argument("--limit", type=int, help="judge only the first N pairs")
        parser.add_argument("--budget-usd", type=_decimal, help="stop before spending more")
        parser.add_argument("--dry-run", action="store_true")
        parser.add_argument("--wait", action="store_true")
        parser.add_argument(
            "--resume",
            type=int,
            metavar="RUN_ID",
            help="send again this run's queued calls and those a stopped worker left running "
            "(workers do this by themselves when they start); a failed run starts again",
        )
        parser.add_argument(
            "--stale-after",
            type=float,
            default=None,
            help="with --resume, also take over calls running for longer than this many seconds "
            "(default: the task time limit)",
        )
        parser.add_argument("--cancel", type=int, metavar="RUN_ID", help="cancel this run")
        parser.add_argument("--poll", type=float, default=1.0, help=argparse.SUPPRESS)

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        judge = judge_get_by_name(name=options["judge"])
        if judge is None:
            raise CommandError(f"no judge named {options['judge']!r} (create it with judge_create)")
        if options["resume"] or options["cancel"]:
            self._manage_run(project, judge, options)
            return
        criteria = [c for item in options["criteria"] or [] for c in item.split(",") if c]
        scope = {
            "project": project,
            "judge": judge,
            "criteria": criteria or None,
            "orders": options["orders"],
            "limit": options["limit"],
            "criteria_mode": options["criteria_mode"],
        }
        try:
            if options["dry_run"]:
                self._print_estimate(judge_run_estimate(**scope))
                return
            run = judge_run_start(
                **scope, budget_usd=options["budget_usd"], route_disagreements=options["route"]
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self._print_estimate(Estimate.of_run(run))
        self.stdout.write(f"Started judge run {run.id}.")
        if options["wait"]:
            self._wait(run, options["poll"])

    def _print_estimate(self, estimate: Estimate) -> None:
        self.stdout.write(
            f"{estimate.calls} calls ({estimate.cached_calls} answered from the cache), "
            f"{estimate.prompt_tokens} input + {estimate.output_tokens} output tokens at most, "
            f"estimated cost {estimate.cost_usd:.4f} USD ({estimate.note})"
        )

    def _manage_run(self, project: Project, judge: Judge, options: dict[str, Any]) -> None:
        run_id = options["resume"] or options["cancel"]
        run = JudgeRun.objects.filter(id=run_id, project=project, judge=judge).first()
        if run is None:
            raise CommandError(f"no run {run_id} of judge {judge.name} on project {project.slug}")
        try:
            if options["cancel"]:
                judge_run_cancel(run=run)
                self.stdout.write(f"Cancelled judge run {run.id}.")
                return
            count = judge_run_resume(run=run, stale_after_s=options["stale_after"])
        except ApplicationError as error:
            raise CommandError(error.message) from None
        self.stdout.write(f"Re-enqueued {count} calls of judge run {run.id}.")
        if options["wait"]:
            self._wait(run, options["poll"])

    def _wait(self, run: Any, poll: float) -> None:
        while True:
            progress = judge_run_progress(run=run)
            share = progress.finished / progress.total if progress.total else 1.0
            bar = "#" * int(share * BAR_WIDTH)
            self.stdout.write(
                f"\r[{bar:<{BAR_WIDTH}}] {progress.finished}/{progress.total} "
                f"done {progress.done} unparsed {progress.unparsed} failed {progress.failed} "
                f"cost {progress.cost_usd:.4f} USD {progress.calls_per_minute:.0f}/min",
                ending="",
            )
            self.stdout.flush()
            if progress.status not in (RunStatus.QUEUED, RunStatus.RUNNING):
                self.stdout.write(f"\nRun {run.id} ended: {progress.status}")
                return
            time.sleep(poll)
