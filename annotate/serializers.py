"""Small input/output serializers of the annotate API.

The labeler-facing output mirrors `labeler_view` field for field; nothing is added here, so the
API cannot reveal more than the page does.
"""

from typing import Any

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from annotate.forms import IMPORT_KINDS


class ResponseSlotSerializer(serializers.Serializer):
    slot = serializers.IntegerField()
    text = serializers.CharField()


class ScaleLabelsSerializer(serializers.Serializer):
    low = serializers.CharField()
    high = serializers.CharField()


class CriterionViewSerializer(serializers.Serializer):
    key = serializers.CharField()
    question = serializers.CharField()
    scale_points = serializers.IntegerField()
    choices = serializers.ListField(child=serializers.CharField())
    tie = serializers.BooleanField()
    labels = ScaleLabelsSerializer()


class ProgressSerializer(serializers.Serializer):
    rated = serializers.IntegerField()
    total = serializers.IntegerField()


class LabelerViewSerializer(serializers.Serializer):
    assignment_id = serializers.IntegerField()
    prompt = serializers.CharField()
    responses = ResponseSlotSerializer(many=True)
    criteria = CriterionViewSerializer(many=True)
    progress = ProgressSerializer()
    instructions = serializers.CharField(allow_blank=True)
    suggestion = serializers.DictField(allow_null=True)


@extend_schema_field({"oneOf": [{"type": "integer"}, {"type": "string", "example": "tie"}]})
class RatingValueField(serializers.Field):
    """A scale point (integer or digit string) or "tie"; the service checks it is on the scale."""

    def to_internal_value(self, data: Any) -> int | str:
        if isinstance(data, bool) or not isinstance(data, int | str):
            raise serializers.ValidationError('Give a scale point (1, 2, ...) or "tie".')
        return data

    def to_representation(self, value: Any) -> Any:
        return value


class RatingSubmitInputSerializer(serializers.Serializer):
    ratings = serializers.DictField(child=RatingValueField(), allow_empty=False)
    rationale = serializers.CharField(allow_blank=True, default="", max_length=5000)
    time_spent_ms = serializers.IntegerField(min_value=0, required=False, allow_null=True)


class RatingSubmitOutputSerializer(serializers.Serializer):
    assignment_id = serializers.IntegerField()
    status = serializers.CharField()
    ratings = serializers.DictField(child=serializers.CharField())


class AssignmentSkipOutputSerializer(serializers.Serializer):
    assignment_id = serializers.IntegerField(source="pk")
    status = serializers.CharField()


class ImportInputSerializer(serializers.Serializer):
    file = serializers.FileField()
    kind = serializers.ChoiceField(choices=[kind for kind, _label in IMPORT_KINDS])
    pairs_per_prompt = serializers.IntegerField(min_value=1, required=False, allow_null=True)
    seed = serializers.IntegerField(min_value=0, default=0)


class ImportOutputSerializer(serializers.Serializer):
    kind = serializers.CharField()
    rows = serializers.IntegerField()
    prompts_created = serializers.IntegerField()
    completions_created = serializers.IntegerField()
    pairs_created = serializers.IntegerField()
    ratings_created = serializers.IntegerField()
    prompts_in_file = serializers.IntegerField()
    completions_in_file = serializers.IntegerField()
    pairs_in_file = serializers.IntegerField()
    ratings_in_file = serializers.IntegerField()
    by_category = serializers.DictField(
        child=serializers.DictField(child=serializers.IntegerField())
    )
