from django import forms

from exports.selectors import HUMAN_SOURCE
from exports.services import DEFAULT_MIN_AGREEMENT, ExportFormat

FORMAT_LABELS = {
    ExportFormat.CSV: "CSV: ratings, one row per rating",
    ExportFormat.JSONL: "JSONL: ratings, one object per line",
    ExportFormat.PARQUET: "Parquet: ratings, typed columns",
    ExportFormat.DPO: "DPO preference pairs (JSONL: prompt, chosen, rejected)",
}


class ExportForm(forms.Form):
    format = forms.ChoiceField(
        choices=[(f.value, FORMAT_LABELS[f]) for f in ExportFormat],
        widget=forms.RadioSelect,
        initial=ExportFormat.CSV.value,
    )
    criterion = forms.ChoiceField(required=False)
    source = forms.ChoiceField(required=False, initial=HUMAN_SOURCE)
    min_agreement = forms.FloatField(
        required=False,
        min_value=0.0,
        max_value=1.0,
        initial=DEFAULT_MIN_AGREEMENT,
        widget=forms.NumberInput(attrs={"step": "0.05"}),
    )
    include_suggested = forms.BooleanField(
        required=False,
        label="Also count human ratings made with a judge's suggestion shown (verify mode)",
    )

    def __init__(self, *args: object, criteria: list[str], judges: list[str], **kwargs: object):
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fields["criterion"].choices = [("", "All criteria")] + [(c, c) for c in criteria]  # type: ignore[attr-defined]
        self.fields["source"].choices = [(HUMAN_SOURCE, "Human majority")] + [  # type: ignore[attr-defined]
            (name, f"Judge: {name}") for name in judges
        ]
