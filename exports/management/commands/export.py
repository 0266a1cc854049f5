import os
import tempfile
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project
from concord.api_errors import ApplicationError
from exports.services import ExportFormat, export_spec_check, export_write


class Command(BaseCommand):
    help = (
        "Export a project's ratings in the long format (csv, jsonl, parquet) or DPO preference "
        "pairs (dpo: JSONL of prompt, chosen, rejected) to a file, streamed chunk by chunk."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug.")
        parser.add_argument(
            "--format", required=True, choices=[f.value for f in ExportFormat], dest="fmt"
        )
        parser.add_argument("--out", required=True, help="Path of the file to write.")
        parser.add_argument("--criterion", help="Only this criterion (default: all).")
        parser.add_argument(
            "--source",
            default="human",
            help="dpo: 'human' (majority of human verdicts, default) or an LLM rater's name.",
        )
        parser.add_argument(
            "--min-agreement",
            help="dpo: keep units whose winning verdict has at least this share (0..1, "
            "default 0.5).",
        )
        parser.add_argument(
            "--include-suggested",
            action="store_true",
            help="dpo: also count human ratings made with a judge's suggestion shown (verify "
            "mode). Left out by default, as the report keeps them apart from blind ratings.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with slug {options['project']!r}.")
        try:
            spec = export_spec_check(
                project=project,
                format=options["fmt"],
                criterion=options["criterion"],
                source=options["source"],
                min_agreement=options["min_agreement"],
                include_suggested=options["include_suggested"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        out = Path(options["out"])
        # Write beside the target and rename, so a failed export never leaves half a file.
        fd, tmp_name = tempfile.mkstemp(dir=out.parent or ".", prefix=f".{out.name}.")
        try:
            with os.fdopen(fd, "wb") as handle:
                written = export_write(project=project, spec=spec, out=handle)
            os.replace(tmp_name, out)
        except BaseException:
            Path(tmp_name).unlink(missing_ok=True)
            raise
        noun = "preference pairs" if spec.format == ExportFormat.DPO else "ratings"
        self.stdout.write(f"Wrote {written} {noun} to {out}")
