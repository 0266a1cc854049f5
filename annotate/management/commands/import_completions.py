from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from annotate.models import Project
from annotate.services.import_readers import error_lines
from annotate.services.imports import ImportResult, import_file
from concord.api_errors import ApplicationError


def run_import(
    command: BaseCommand, *, slug: str, path: str, kind: str, **options: Any
) -> ImportResult:
    """Import one file for a command: every row error goes to stderr, then the command fails."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise CommandError(f"No project with the slug {slug!r}.")
    file_path = Path(path)
    if not file_path.is_file():
        raise CommandError(f"No such file: {path}")
    try:
        with file_path.open("rb") as file:
            return import_file(
                project=project, kind=kind, file=file, filename=file_path.name, **options
            )
    except ApplicationError as exc:
        for line in error_lines(exc):
            command.stderr.write(line)
        raise CommandError(exc.message) from exc


def summary(result: ImportResult) -> str:
    return (
        f"Imported {result.rows} {result.kind} rows: {result.prompts_created} prompts, "
        f"{result.completions_created} completions, {result.pairs_created} pairs, "
        f"{result.ratings_created} ratings created."
    )


class Command(BaseCommand):
    help = (
        "Import a completions file (prompt_id, prompt, category, model, completion; CSV, JSONL "
        "or Parquet) and generate the model pairs of each prompt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug.")
        parser.add_argument("file", help="Path to a .csv, .jsonl or .parquet file.")
        group = parser.add_mutually_exclusive_group()
        group.add_argument(
            "--pairs",
            choices=["all"],
            default="all",
            help="Generate all model pairs of each prompt (the default).",
        )
        group.add_argument(
            "--pairs-per-prompt",
            type=int,
            metavar="N",
            help="Generate N model pairs per prompt, sampled with --seed.",
        )
        parser.add_argument(
            "--seed", type=int, default=0, help="Seed of the pair sampling (default: 0)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        result = run_import(
            self,
            slug=options["project"],
            path=options["file"],
            kind="completions",
            pairs_per_prompt=options["pairs_per_prompt"],
            seed=options["seed"],
        )
        self.stdout.write(summary(result))
