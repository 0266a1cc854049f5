"""Forms of the judges pages: a judge's settings and the start of a run."""

from typing import Any

from django import forms

from annotate.models import Project
from judges.models import CUSTOM_TEMPLATE, CriteriaMode, Judge, Orders
from judges.services.config import ENV_NAME, JUDGE_FIELDS
from judges.templates import validate_custom


class JudgeForm(forms.ModelForm):
    class Meta:
        model = Judge
        fields = list(JUDGE_FIELDS)
        labels = {
            "api_key_env": "API key environment variable",
            "price_in": "Price in (USD per million input tokens)",
            "price_out": "Price out (USD per million output tokens)",
            "rpm": "Requests per minute",
            "tpm": "Tokens per minute",
            "timeout_s": "Timeout (seconds)",
            "base_url": "Base URL",
        }
        help_texts = {
            "api_key_env": "Only the variable's NAME is stored, never the key itself: set the "
            "variable in the workers' environment. Leave it empty for a local server that needs "
            "no key.",
            "template_text": "Only for the custom template: use each of {question}, {answer_1}, "
            "{answer_2} and {criterion} (a custom template judges one criterion per request).",
        }
        widgets = {"template_text": forms.Textarea(attrs={"rows": 8})}

    def clean_api_key_env(self) -> str:
        name: str = (self.cleaned_data.get("api_key_env") or "").strip()
        if name and not ENV_NAME.match(name):
            raise forms.ValidationError(
                "Give the NAME of an environment variable (letters, digits, underscores), "
                "not the key itself."
            )
        return name

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("template") == CUSTOM_TEMPLATE:
            try:
                validate_custom(data.get("template_text", ""))
            except ValueError as error:
                self.add_error("template_text", str(error))
        else:
            data["template_text"] = ""
        return data

    def judge_fields(self) -> dict[str, Any]:
        return {field: self.cleaned_data[field] for field in self.Meta.fields}


class JudgeRunForm(forms.Form):
    judge = forms.ModelChoiceField(queryset=Judge.objects.order_by("name"), empty_label=None)
    orders = forms.ChoiceField(choices=Orders.choices, initial=Orders.BOTH)
    criteria = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text="None ticked: every criterion.",
    )
    criteria_mode = forms.ChoiceField(
        required=False,
        choices=CriteriaMode.choices,
        initial=CriteriaMode.SEPARATE,
        label="Judge the criteria",
        help_text="Together: one request per pair and order scores every criterion (fewer, "
        "longer requests; built-in templates only).",
    )
    limit = forms.IntegerField(
        required=False, min_value=1, help_text="Judge only the first N pairs."
    )
    budget_usd = forms.DecimalField(
        required=False,
        min_value=0,
        max_digits=12,
        decimal_places=4,
        label="Budget (USD)",
        help_text="The run stops before it could spend more.",
    )
    route_disagreements = forms.BooleanField(
        required=False,
        label="Route disagreements to humans first",
        help_text="When the run ends, pairs the judge answered inconsistently across orders, or "
        "nearly as a tie, go to labelers first. Ticked by default when the project says so.",
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["criteria"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = [(c.key, c.key) for c in project.criteria.all()]
        self.fields["route_disagreements"].initial = project.route_by_judge

    def scope(self) -> dict[str, Any]:
        data = self.cleaned_data
        return {
            "judge": data["judge"],
            "orders": data["orders"],
            "criteria": data["criteria"] or None,
            "limit": data["limit"],
            "criteria_mode": data["criteria_mode"] or CriteriaMode.SEPARATE,
        }
