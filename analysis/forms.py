"""The report's filters (GET parameters), with choices read from the project."""

from typing import Any, cast

from django import forms

from analysis.services import ReportParams
from annotate.models import Criterion, Project, Prompt, RaterKind, Rating

SUGGESTED = (("in", "Included (kept apart as their own group)"), ("out", "Left out"))


class ReportFilterForm(forms.Form):
    criterion = forms.MultipleChoiceField(required=False, help_text="None chosen: all.")
    category = forms.MultipleChoiceField(required=False, help_text="None chosen: all.")
    judge = forms.MultipleChoiceField(required=False, help_text="None chosen: all.")
    suggested = forms.ChoiceField(
        choices=SUGGESTED, required=False, label="Ratings made with a judge's suggestion shown"
    )

    def __init__(self, *args: Any, project: Project, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        criteria = Criterion.objects.filter(project=project).values_list("key", flat=True)
        categories = (
            Prompt.objects.filter(project=project)
            .order_by("category")
            .values_list("category", flat=True)
            .distinct()
        )
        judges = (
            Rating.objects.filter(criterion__project=project, rater_kind=RaterKind.LLM)
            .order_by("rater")
            .values_list("rater", flat=True)
            .distinct()
        )
        choices = {
            "criterion": [(key, key) for key in criteria],
            "category": [(c, c or "(none)") for c in categories],
            "judge": [(name, name) for name in judges],
        }
        for name, options in choices.items():
            cast(forms.ChoiceField, self.fields[name]).choices = options

    def params(self) -> ReportParams:
        data = self.cleaned_data
        return ReportParams(
            criteria=tuple(data["criterion"]),
            categories=tuple(data["category"]),
            judges=tuple(data["judge"]),
            include_suggested=data["suggested"] != "out",
        )
