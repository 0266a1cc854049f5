from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import ProjectMode
from annotate.services.projects import project_create
from concord.api_errors import ApplicationError


class Command(BaseCommand):
    help = "Create a project with its criteria (all on the same Likert scale)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--name", required=True, help="Project name.")
        parser.add_argument("--slug", help="URL slug (default: made from the name).")
        parser.add_argument(
            "--criteria",
            default="helpfulness,truthfulness",
            help="Comma-separated criterion keys (default: helpfulness,truthfulness).",
        )
        parser.add_argument(
            "--scale", type=int, default=8, help="Likert scale points, 2..11 (default: 8)."
        )
        parser.add_argument(
            "--overlap", type=int, default=3, help="Labelers per pair (default: 3)."
        )
        parser.add_argument(
            "--lease-minutes",
            type=int,
            help="Minutes before an unsubmitted assignment returns to the pool (default: the "
            f"ASSIGNMENT_LEASE_MINUTES setting, now {settings.ASSIGNMENT_LEASE_MINUTES}).",
        )
        parser.add_argument(
            "--mode",
            default=ProjectMode.BLIND,
            choices=ProjectMode.values,
            help="blind, or verify to show a judge's verdict as a suggestion (default: blind).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        criteria = [key.strip() for key in options["criteria"].split(",") if key.strip()]
        try:
            project = project_create(
                name=options["name"],
                slug=options["slug"],
                criteria=criteria,
                scale_points=options["scale"],
                overlap=options["overlap"],
                mode=options["mode"],
                lease_minutes=options["lease_minutes"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(
            f"Created project {project.slug} ({', '.join(criteria)}; "
            f"{options['scale']}-point scale; overlap {project.overlap}; {project.mode}; "
            f"lease {project.lease_minutes} min)."
        )
