"""REST API of the annotate app: one APIView per operation, calling the same services as the pages.

Access errors come from the selectors: Http404 for outsiders (DRF answers 404), PermissionDenied for
members with the wrong role (403). Service refusals are ApplicationError (400).
"""

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import status
from rest_framework.parsers import FormParser, MultiPartParser
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Role
from annotate.selectors import labeler_view, project_get_for_member
from annotate.serializers import (
    AssignmentSkipOutputSerializer,
    ImportInputSerializer,
    ImportOutputSerializer,
    LabelerViewSerializer,
    RatingSubmitInputSerializer,
    RatingSubmitOutputSerializer,
)
from annotate.services.assignment import assignment_next, assignment_skip, rating_submit
from annotate.services.imports import import_file
from concord.login_throttle import ThrottledObtainAuthToken


class TokenObtainApi(ThrottledObtainAuthToken):
    # No session auth here: a logged-in browser must not need a CSRF token to ask for a token.
    authentication_classes = ()


class AssignmentNextApi(APIView):
    @extend_schema(
        responses={200: LabelerViewSerializer, 204: OpenApiResponse(description="Nothing left.")}
    )
    def get(self, request: Request, slug: str) -> Response:
        user = _user(request)
        project = project_get_for_member(user=user, slug=slug, roles={Role.LABELER})
        assignment = assignment_next(project=project, labeler=user)
        if assignment is None:
            return Response(status=status.HTTP_204_NO_CONTENT)
        # The hot path: hand over the rows already loaded instead of fetching them again.
        return Response(LabelerViewSerializer(labeler_view(assignment=assignment)).data)


class RatingSubmitApi(APIView):
    @extend_schema(request=RatingSubmitInputSerializer, responses=RatingSubmitOutputSerializer)
    def post(self, request: Request, assignment_id: int) -> Response:
        user = _user(request)
        payload = RatingSubmitInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        result = rating_submit(
            labeler=user,
            assignment_id=assignment_id,
            values=payload.validated_data["ratings"],
            rationale=payload.validated_data["rationale"],
            time_spent_ms=payload.validated_data.get("time_spent_ms"),
        )
        # The same body whether this submit stored the ratings or repeated an earlier one.
        return Response(RatingSubmitOutputSerializer(result).data)


class AssignmentSkipApi(APIView):
    @extend_schema(request=None, responses=AssignmentSkipOutputSerializer)
    def post(self, request: Request, assignment_id: int) -> Response:
        user = _user(request)
        assignment = assignment_skip(labeler=user, assignment_id=assignment_id)
        return Response(AssignmentSkipOutputSerializer(assignment).data)


class ImportApi(APIView):
    parser_classes = (MultiPartParser, FormParser)

    @extend_schema(request=ImportInputSerializer, responses={201: ImportOutputSerializer})
    def post(self, request: Request, slug: str) -> Response:
        user = _user(request)
        project = project_get_for_member(user=user, slug=slug, roles={Role.LEAD})
        payload = ImportInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        upload = payload.validated_data["file"]
        result = import_file(
            project=project,
            kind=payload.validated_data["kind"],
            file=upload,
            filename=upload.name,
            acting_user=user,
            pairs_per_prompt=payload.validated_data.get("pairs_per_prompt"),
            seed=payload.validated_data["seed"],
        )
        return Response(ImportOutputSerializer(result).data, status=status.HTTP_201_CREATED)


def _user(request: Request) -> User:
    """The signed-in user; IsAuthenticated has already turned anonymous callers away."""
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Log in first.")
    return user
