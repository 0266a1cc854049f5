"""Export API: the same files as the export page, for token-authenticated scripts."""

from collections.abc import Iterable
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.parsers import BaseParser
from rest_framework.renderers import BaseRenderer
from rest_framework.request import Request
from rest_framework.views import APIView

from annotate.models import Project
from annotate.selectors import project_get_for_member
from exports.responses import export_response
from exports.services import ExportFormat, export_spec_check
from exports.views import EXPORT_ROLES


class FirstRendererNegotiation(BaseContentNegotiation):
    """Ignore DRF's `?format=` renderer override: here `format` names the export file format.

    The body is the export itself; the renderer only serves error answers (JSON).
    """

    def select_parser(self, request: Request, parsers: Iterable[BaseParser]) -> BaseParser | None:
        return next(iter(parsers), None)

    def select_renderer(
        self, request: Request, renderers: Iterable[BaseRenderer], format_suffix: str | None = None
    ) -> tuple[BaseRenderer, str]:
        renderer = next(iter(renderers))
        return renderer, renderer.media_type


class ExportApi(APIView):
    content_negotiation_class = FirstRendererNegotiation

    @extend_schema(
        parameters=[
            OpenApiParameter("format", str, enum=[f.value for f in ExportFormat], required=True),
            OpenApiParameter("criterion", str, description="Only this criterion."),
            OpenApiParameter(
                "source", str, description="dpo: 'human' (default) or an LLM rater's name."
            ),
            OpenApiParameter(
                "min_agreement",
                float,
                description="dpo: least share of the winning verdict (0..1, default 0.5).",
            ),
            OpenApiParameter(
                "include_suggested",
                bool,
                description="dpo: also count human ratings made with a judge's suggestion "
                "shown (verify mode); default false, as the report keeps them apart.",
            ),
        ],
        responses={(200, "application/octet-stream"): OpenApiTypes.BINARY},
    )
    def get(self, request: Request, slug: str) -> Any:
        project: Project = project_get_for_member(
            user=request.user,  # type: ignore[arg-type]
            slug=slug,
            roles=EXPORT_ROLES,
        )
        params = request.query_params
        spec = export_spec_check(
            project=project,
            format=params.get("format", ""),
            criterion=params.get("criterion"),
            source=params.get("source"),
            min_agreement=params.get("min_agreement"),
            include_suggested=params.get("include_suggested"),
        )
        return export_response(project=project, spec=spec)
