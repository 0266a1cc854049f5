from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotate.management.commands.import_completions import run_import, summary


class Command(BaseCommand):
    help = (
        "Import existing human or LLM ratings (prompt_id, model_a, model_b, criterion, rater, "
        "rater_kind, winner, optional strength and shown_first; CSV, JSONL or Parquet) onto "
        "the project's pairs."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug.")
        parser.add_argument("file", help="Path to a .csv, .jsonl or .parquet file.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = run_import(self, slug=options["project"], path=options["file"], kind="ratings")
        self.stdout.write(summary(result))
