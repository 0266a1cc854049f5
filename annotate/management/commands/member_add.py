from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project, Role
from annotate.services.projects import member_add
from concord.api_errors import ApplicationError


class Command(BaseCommand):
    help = "Add a user to a project with a role, creating the user when missing."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug.")
        parser.add_argument("username")
        parser.add_argument("--role", required=True, choices=Role.values)
        parser.add_argument(
            "--password",
            help="Password to set (a new user without one cannot log in until it is set).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        project = Project.objects.filter(slug=options["project"]).first()
        if project is None:
            raise CommandError(f"No project with the slug {options['project']!r}.")
        try:
            membership = member_add(
                project=project,
                username=options["username"],
                role=options["role"],
                password=options["password"],
            )
        except ApplicationError as exc:
            raise CommandError(exc.message) from exc
        self.stdout.write(f"{membership.user} is a {membership.role} of {project.slug}.")
