"""REST API of the report: the JSON of DESIGN.md, or 202 with progress while a worker computes."""

from django.contrib.auth.models import User
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from analysis.models import ReportStatus
from analysis.services import MAX_BOOTSTRAP, ReportParams, report_get
from annotate.models import Role
from annotate.selectors import project_get_for_member
from concord.api_errors import ApplicationError


class ReportQuerySerializer(serializers.Serializer):
    criterion = serializers.ListField(child=serializers.CharField(), required=False)
    category = serializers.ListField(child=serializers.CharField(), required=False)
    judge = serializers.ListField(child=serializers.CharField(), required=False)
    suggested = serializers.ChoiceField(choices=["in", "out"], default="in")
    bootstrap = serializers.IntegerField(min_value=0, max_value=MAX_BOOTSTRAP, default=1000)
    seed = serializers.IntegerField(min_value=0, default=0)


class ReportComputingSerializer(serializers.Serializer):
    status = serializers.CharField()
    progress = serializers.IntegerField()


class ReportApi(APIView):
    @extend_schema(
        parameters=[
            OpenApiParameter(name, many=name in ("criterion", "category", "judge"))
            for name in ("criterion", "category", "judge", "suggested", "bootstrap", "seed")
        ],
        responses={
            200: OpenApiResponse(description="The report JSON (see DESIGN.md)."),
            202: ReportComputingSerializer,
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        user = request.user
        assert isinstance(user, User)  # authentication is required by the default permissions
        roles: set[str] = {Role.LEAD, Role.RESEARCHER}
        project = project_get_for_member(user=user, slug=slug, roles=roles)
        query = ReportQuerySerializer(
            data={
                key: request.query_params.getlist(key) if key in ("criterion", "category", "judge")
                else request.query_params[key]
                for key in request.query_params
            }
        )  # fmt: skip
        query.is_valid(raise_exception=True)
        data = query.validated_data
        params = ReportParams(
            criteria=tuple(data.get("criterion", ())),
            categories=tuple(data.get("category", ())),
            judges=tuple(data.get("judge", ())),
            include_suggested=data["suggested"] == "in",
            bootstrap=data["bootstrap"],
            seed=data["seed"],
        )
        result = report_get(project=project, params=params)
        if result.status == ReportStatus.READY:
            return Response(result.report)
        if result.status == ReportStatus.FAILED:
            raise ApplicationError(f"the report could not be computed: {result.error}")
        return Response(
            {"status": "computing", "progress": result.progress}, status=status.HTTP_202_ACCEPTED
        )
