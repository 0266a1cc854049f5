"""Forms of the labeling and import pages."""

from typing import Any

from django import forms

IMPORT_KINDS = [
    ("completions", "Completions (one row per model answer)"),
    ("pairs", "Pairs (one row per pair of answers)"),
    ("ratings", "Ratings (existing human or LLM labels)"),
]


class RatingForm(forms.Form):
    """One required choice per criterion of the labeler view, plus an optional rationale.

    Built from the labeler view's criteria (never from the models), so it can only carry what the
    labeler saw.
    """

    rationale = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)
    # Milliseconds since the epoch when the page was rendered, to record time spent.
    shown_at = forms.IntegerField(required=False, min_value=0, widget=forms.HiddenInput)

    def __init__(self, *args: Any, criteria: list[dict[str, Any]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.criteria = criteria
        for criterion in criteria:
            self.fields[self.field_name(criterion["key"])] = forms.ChoiceField(
                choices=[(choice, choice) for choice in criterion["choices"]],
                label=criterion["question"],
                widget=forms.RadioSelect,
                error_messages={"required": f"Choose a value for {criterion['key']}."},
            )

    @staticmethod
    def field_name(key: str) -> str:
        return f"criterion_{key}"

    def values(self) -> dict[str, int | str]:
        return {c["key"]: self.cleaned_data[self.field_name(c["key"])] for c in self.criteria}


class ImportForm(forms.Form):
    PAIRS_ALL = "all"
    PAIRS_PER_PROMPT = "per_prompt"

    file = forms.FileField()
    kind = forms.ChoiceField(choices=IMPORT_KINDS, initial="completions")
    pairs = forms.ChoiceField(
        choices=[(PAIRS_ALL, "All pairs per prompt"), (PAIRS_PER_PROMPT, "N pairs per prompt")],
        initial=PAIRS_ALL,
        widget=forms.RadioSelect,
        help_text="For completions files only: which model pairs to build for each prompt.",
    )
    pairs_per_prompt = forms.IntegerField(required=False, min_value=1, max_value=1000)
    seed = forms.IntegerField(initial=0, min_value=0, required=False)

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("pairs") == self.PAIRS_PER_PROMPT and not cleaned.get("pairs_per_prompt"):
            self.add_error("pairs_per_prompt", "Give the number of pairs per prompt.")
        return cleaned

    def import_options(self) -> dict[str, Any]:
        per_prompt = self.cleaned_data["pairs"] == self.PAIRS_PER_PROMPT
        return {
            "pairs_per_prompt": self.cleaned_data["pairs_per_prompt"] if per_prompt else None,
            "seed": self.cleaned_data.get("seed") or 0,
        }
