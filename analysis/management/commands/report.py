"""`manage.py report`: the report as JSON (stdout or file), a self-contained HTML file and CSVs."""

import json
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from analysis.html_out import report_html_file
from analysis.services import ReportParams, report_get
from analysis.tables import csv_write_dir
from annotate.models import Project
from concord.api_errors import ApplicationError


def _names(values: list[str] | None) -> tuple[str, ...]:
    """Repeated options and comma lists alike: --criterion a --criterion b or --criterion a,b."""
    return tuple(name.strip() for value in values or [] for name in value.split(",") if name)


class Command(BaseCommand):
    help = (
        "Compute a project's agreement and bias report (cached until the data change). With no "
        "output option the JSON goes to stdout."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug.")
        parser.add_argument("--json", type=Path, help="Write the report JSON to this file.")
        parser.add_argument("--html", type=Path, help="Write a self-contained HTML report.")
        parser.add_argument("--csv-dir", type=Path, help="Write one CSV per table here.")
        parser.add_argument("--bootstrap", type=int, default=1000, help="Rounds (default 1000).")
        parser.add_argument("--seed", type=int, default=0, help="Bootstrap seed (default 0).")
        parser.add_argument("--criterion", action="append", help="Only these criteria.")
        parser.add_argument("--category", action="append", help="Only these categories.")
        parser.add_argument("--judge", action="append", help="Only these judges.")
        parser.add_argument(
            "--without-suggested",
            action="store_true",
            help="Leave out ratings made with a judge's suggestion shown (verify mode).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"no project with slug {options['project']!r}")
        params = ReportParams(
            criteria=_names(options["criterion"]),
            categories=_names(options["category"]),
            judges=_names(options["judge"]),
            include_suggested=not options["without_suggested"],
            bootstrap=options["bootstrap"],
            seed=options["seed"],
        )
        try:
            result = report_get(project=project, params=params, background=False)
        except ApplicationError as error:
            raise CommandError(error.message) from error
        assert result.report is not None  # computed now, so present
        text = json.dumps(result.report, indent=2, allow_nan=False)
        outputs = [options["json"], options["html"], options["csv_dir"]]
        if not any(outputs):
            self.stdout.write(text)
            return
        if options["json"]:
            options["json"].write_text(text + "\n", encoding="utf-8")
            self.stderr.write(f"JSON: {options['json']}")
        if options["html"]:
            options["html"].write_text(
                report_html_file(result.report, result.extras), encoding="utf-8"
            )
            self.stderr.write(f"HTML: {options['html']}")
        if options["csv_dir"]:
            written = csv_write_dir(result.report, options["csv_dir"])
            self.stderr.write(f"CSV: {len(written)} files in {options['csv_dir']}")
