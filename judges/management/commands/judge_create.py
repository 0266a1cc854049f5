"""Create a judge configuration."""

from argparse import ArgumentParser
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from concord.api_errors import ApplicationError
from judges.services import judge_create
from judges.templates import BUILTIN, Contract


def _decimal(value: str) -> Decimal:
    try:
        return Decimal(value)
    except InvalidOperation:
        raise ValueError(value) from None


class Command(BaseCommand):
    help = "Create an LLM judge pointing at any OpenAI-compatible endpoint."

    def add_arguments(self, parser: ArgumentParser) -> None:
        parser.add_argument("name")
        parser.add_argument("--model", required=True)
        parser.add_argument("--base-url", default="https://api.openai.com/v1")
        parser.add_argument(
            "--api-key-env",
            default="OPENAI_API_KEY",
            help="name of the environment variable that holds the key (the key is never stored); "
            '"" for a local server that needs no key',
        )
        parser.add_argument(
            "--template",
            default="h4-score-1-8",
            help=f"{'|'.join(BUILTIN)} or a FILE with {{question}}, {{answer_1}}, {{answer_2}}, "
            "{criterion}",
        )
        parser.add_argument(
            "--contract",
            choices=[c.value for c in Contract],
            default=Contract.SCORE_1_8.value,
            help="output contract of a custom template FILE",
        )
        parser.add_argument("--temperature", type=float, default=0.0)
        parser.add_argument("--max-tokens", type=int, default=512)
        parser.add_argument("--price-in", type=_decimal, default=Decimal(0), help="USD per M")
        parser.add_argument("--price-out", type=_decimal, default=Decimal(0), help="USD per M")
        parser.add_argument("--rpm", type=int, default=0, help="requests per minute (0 = none)")
        parser.add_argument("--tpm", type=int, default=0, help="tokens per minute (0 = none)")
        parser.add_argument("--concurrency", type=int, default=4)
        parser.add_argument("--timeout", type=float, default=60.0, help="seconds per request")

    def handle(self, *args: Any, **options: Any) -> None:
        template, template_text = options["template"], ""
        if template not in BUILTIN:
            path = Path(template)
            if not path.is_file():
                raise CommandError(
                    f"--template {template!r} is neither a built-in template "
                    f"({', '.join(BUILTIN)}) nor a readable file"
                )
            template_text = path.read_text(encoding="utf-8")
        try:
            judge = judge_create(
                name=options["name"],
                model=options["model"],
                base_url=options["base_url"],
                api_key_env=options["api_key_env"],
                template=template,
                template_text=template_text,
                contract=options["contract"],
                temperature=options["temperature"],
                max_tokens=options["max_tokens"],
                price_in=options["price_in"],
                price_out=options["price_out"],
                rpm=options["rpm"],
                tpm=options["tpm"],
                concurrency=options["concurrency"],
                timeout_s=options["timeout"],
            )
        except ApplicationError as error:
            raise CommandError(error.message) from None
        key = f"key from ${judge.api_key_env}" if judge.api_key_env else "no key"
        self.stdout.write(
            f"Created judge {judge.name}: {judge.model} at {judge.base_url}, template "
            f"{judge.template}, {key}"
        )
