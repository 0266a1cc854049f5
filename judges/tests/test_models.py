"""Judge configuration validation."""

import pytest
from django.core.exceptions import ValidationError

from judges.models import Judge
from judges.templates import Contract


def test_a_custom_template_with_an_unknown_placeholder_does_not_validate() -> None:
    judge = Judge(name="j", model="m", template="custom", template_text="{question} {answer}")
    with pytest.raises(ValidationError, match="unknown placeholder"):
        judge.clean()


def test_a_judge_uses_its_builtin_template_contract() -> None:
    judge = Judge(name="j", model="m", template="verdict-abc", contract=Contract.SCORE_1_8)
    assert judge.prompt_template.contract is Contract.VERDICT_ABC
