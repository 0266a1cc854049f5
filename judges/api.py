"""REST API of judge runs: start (or estimate), read progress, cancel, resume.

Leads start and cancel; leads and researchers read. Outsiders get 404 from the selectors, members
with another role 403, service refusals (unknown judge, broker down) 400.
"""

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import PermissionDenied
from drf_spectacular.utils import extend_schema
from rest_framework import status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from annotate.models import Role
from annotate.selectors import project_get_for_member
from concord.api_errors import ApplicationError
from judges.selectors import judge_get_by_name, judge_run_get_for_member, judge_run_status
from judges.serializers import (
    JudgeRunResumeOutputSerializer,
    JudgeRunStartInputSerializer,
    JudgeRunStartOutputSerializer,
    JudgeRunStatusSerializer,
)
from judges.services import (
    Estimate,
    judge_run_cancel,
    judge_run_estimate,
    judge_run_resume,
    judge_run_start,
)

READERS: set[str] = {Role.LEAD, Role.RESEARCHER}
LEADS: set[str] = {Role.LEAD}


class JudgeRunStartApi(APIView):
    @extend_schema(
        request=JudgeRunStartInputSerializer,
        responses={201: JudgeRunStartOutputSerializer, 200: JudgeRunStartOutputSerializer},
    )
    def post(self, request: Request, slug: str) -> Response:
        user = _user(request)
        project = project_get_for_member(user=user, slug=slug, roles={Role.LEAD})
        payload = JudgeRunStartInputSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        data = payload.validated_data
        judge = judge_get_by_name(name=data["judge"])
        if judge is None:
            raise ApplicationError(f"no judge named {data['judge']!r}")
        scope: dict[str, Any] = {
            "project": project,
            "judge": judge,
            "criteria": data.get("criteria") or None,
            "orders": data["orders"],
            "limit": data.get("limit"),
            "criteria_mode": data["criteria_mode"],
        }
        if data["dry_run"]:
            estimate = judge_run_estimate(**scope)
            body: dict[str, Any] = {"id": None, "status": "dry_run", "estimate": estimate}
            return Response(JudgeRunStartOutputSerializer(body).data)
        run = judge_run_start(
            **scope,
            created_by=user,
            budget_usd=data.get("budget_usd"),
            route_disagreements=data.get("route_disagreements"),
        )
        body = {"id": run.pk, "status": run.status, "estimate": Estimate.of_run(run)}
        return Response(JudgeRunStartOutputSerializer(body).data, status=status.HTTP_201_CREATED)


class JudgeRunDetailApi(APIView):
    @extend_schema(responses=JudgeRunStatusSerializer)
    def get(self, request: Request, run_id: int) -> Response:
        run = judge_run_get_for_member(user=_user(request), run_id=run_id, roles=READERS)
        return Response(JudgeRunStatusSerializer(judge_run_status(run=run)).data)


class JudgeRunCancelApi(APIView):
    @extend_schema(request=None, responses=JudgeRunStatusSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = judge_run_get_for_member(user=_user(request), run_id=run_id, roles=LEADS)
        run = judge_run_cancel(run=run)
        return Response(JudgeRunStatusSerializer(judge_run_status(run=run)).data)


class JudgeRunResumeApi(APIView):
    @extend_schema(request=None, responses=JudgeRunResumeOutputSerializer)
    def post(self, request: Request, run_id: int) -> Response:
        run = judge_run_get_for_member(user=_user(request), run_id=run_id, roles=LEADS)
        requeued = judge_run_resume(run=run)
        body = {"requeued": requeued, "run": judge_run_status(run=run)}
        return Response(JudgeRunResumeOutputSerializer(body).data)


def _user(request: Request) -> User:
    user = request.user
    if not isinstance(user, User):
        raise PermissionDenied("Log in first.")
    return user
