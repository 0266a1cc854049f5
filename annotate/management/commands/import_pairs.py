from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from annotate.management.commands.import_completions import run_import, summary


class Command(BaseCommand):
    help = (
        "Import a pairs file (prompt_id, prompt, category, model_a, completion_a, model_b, "
        "completion_b; CSV, JSONL or Parquet)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("project", help="Project slug.")
        parser.add_argument("file", help="Path to a .csv, .jsonl or .parquet file.")

    def handle(self, *args: Any, **options: Any) -> None:
        result = run_import(self, slug=options["project"], path=options["file"], kind="pairs")
        self.stdout.write(summary(result))
