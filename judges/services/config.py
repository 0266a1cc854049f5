"""Writes of judge configurations: create and update, validated the same way."""

from __future__ import annotations

import re
from decimal import Decimal
from typing import Any

from concord.api_errors import ApplicationError
from judges.models import CUSTOM_TEMPLATE, Judge, JudgeRun
from judges.templates import BUILTIN, Contract, validate_custom

ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


JUDGE_FIELDS = (
    "name",
    "model",
    "base_url",
    "api_key_env",
    "template",
    "template_text",
    "contract",
    "temperature",
    "max_tokens",
    "price_in",
    "price_out",
    "rpm",
    "tpm",
    "concurrency",
    "timeout_s",
)


def _judge_fields_check(fields: dict[str, Any]) -> dict[str, Any]:
    """Validate a judge's settings; a custom template text makes the template custom."""
    if fields["template_text"]:
        fields["template"] = CUSTOM_TEMPLATE
        try:
            validate_custom(fields["template_text"])
        except ValueError as error:
            raise ApplicationError(f"custom template: {error}") from None
    elif fields["template"] == CUSTOM_TEMPLATE:
        raise ApplicationError("a custom template needs its text (template_text)")
    elif fields["template"] not in BUILTIN:
        raise ApplicationError(
            f"unknown template {fields['template']!r}; choose one of {', '.join(BUILTIN)}"
        )
    if fields["api_key_env"] and not ENV_NAME.match(fields["api_key_env"]):
        raise ApplicationError(
            "api_key_env must be the NAME of an environment variable (letters, digits, "
            "underscores), not the key itself; leave it empty for a server that needs no key"
        )
    if fields["contract"] not in set(Contract):
        raise ApplicationError(f"unknown output contract {fields['contract']!r}")
    if not 0 <= fields["temperature"] <= 2:
        raise ApplicationError(f"temperature must be between 0 and 2, got {fields['temperature']}")
    for field in ("max_tokens", "concurrency"):
        if fields[field] < 1:
            raise ApplicationError(f"{field} must be at least 1, got {fields[field]}")
    for field in ("rpm", "tpm", "price_in", "price_out"):
        if fields[field] < 0:
            raise ApplicationError(f"{field} must not be negative, got {fields[field]}")
    if fields["timeout_s"] <= 0:
        raise ApplicationError(f"timeout_s must be positive, got {fields['timeout_s']}")
    return fields


def judge_create(
    *,
    name: str,
    model: str,
    base_url: str = "https://api.openai.com/v1",
    api_key_env: str = "OPENAI_API_KEY",
    template: str = "h4-score-1-8",
    template_text: str = "",
    contract: str = Contract.SCORE_1_8,
    temperature: float = 0.0,
    max_tokens: int = 512,
    price_in: Decimal = Decimal(0),
    price_out: Decimal = Decimal(0),
    rpm: int = 0,
    tpm: int = 0,
    concurrency: int = 4,
    timeout_s: float = 60.0,
) -> Judge:
    if Judge.objects.filter(name=name).exists():
        raise ApplicationError(f"a judge named {name!r} already exists")
    fields = _judge_fields_check(
        {
            "name": name,
            "model": model,
            "base_url": base_url,
            "api_key_env": api_key_env,
            "template": template,
            "template_text": template_text,
            "contract": contract,
            "temperature": temperature,
            "max_tokens": max_tokens,
            "price_in": price_in,
            "price_out": price_out,
            "rpm": rpm,
            "tpm": tpm,
            "concurrency": concurrency,
            "timeout_s": timeout_s,
        }
    )
    return Judge.objects.create(**fields)


def judge_update(*, judge: Judge, **changes: Any) -> Judge:
    """Change a judge's settings (any of JUDGE_FIELDS), validated as judge_create does.

    A judge that has runs keeps its name: its verdict ratings carry the name as the rater.
    Answers already paid for stay cached only for requests that did not change.
    """
    unknown = set(changes) - set(JUDGE_FIELDS)
    if unknown:
        raise ApplicationError(f"unknown judge field {', '.join(sorted(unknown))}")
    fields = {field: getattr(judge, field) for field in JUDGE_FIELDS} | changes
    if fields["template"] != CUSTOM_TEMPLATE and "template" in changes:
        fields["template_text"] = ""
    if fields["name"] != judge.name:
        if JudgeRun.objects.filter(judge=judge).exists():
            raise ApplicationError(
                f"judge {judge.name!r} has runs and keeps its name (its ratings carry it)"
            )
        if Judge.objects.filter(name=fields["name"]).exclude(id=judge.pk).exists():
            raise ApplicationError(f"a judge named {fields['name']!r} already exists")
    _judge_fields_check(fields)
    for field, value in fields.items():
        setattr(judge, field, value)
    judge.save()
    return judge
