"""The world the security suite runs in: one project with every role, and a labeler elsewhere.

`ROLES` name the six kinds of caller; `post_body` gives, per URL name, a POST that succeeds for a
caller who is allowed, so a refusal can only come from access control.
"""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.files.uploadedfile import SimpleUploadedFile
from django.urls import URLPattern, URLResolver, get_resolver

from annotate import models
from annotate.services.assignment import assignment_next
from annotate.tests.factories import (
    CriterionFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
    make_pair,
)
from conftest import PASSWORD
from judges.models import Judge, JudgeRun, RunStatus

ROLES = ("anonymous", "outsider", "other_labeler", "labeler", "researcher", "lead")


@dataclass
class World:
    project: models.Project
    users: dict[str, User | None]
    assignment: models.Assignment
    judge: Judge
    run: JudgeRun


@pytest.fixture
def world(project, alice, rita, lena, mallory, memory_broker) -> World:
    make_pair(project)
    make_pair(project)
    other = ProjectFactory(name="Other project", slug="other-project")
    CriterionFactory(project=other, key="helpfulness")
    make_pair(other)
    olive = UserFactory(username="olive")
    MembershipFactory(project=other, user=olive, role=models.Role.LABELER)
    assignment = assignment_next(project=project, labeler=alice)
    assert assignment is not None
    judge = Judge.objects.create(
        name="matrix-judge", model="stub-model", base_url="http://127.0.0.1:9/v1"
    )
    run = JudgeRun.objects.create(
        project=project, judge=judge, status=RunStatus.RUNNING, created_by=lena
    )
    run.criteria.set(project.criteria.all())
    users = dict(zip(ROLES, (None, mallory, olive, alice, rita, lena), strict=True))
    return World(project=project, users=users, assignment=assignment, judge=judge, run=run)


COMPLETIONS_FILE = (
    b"prompt_id,prompt,category,model,completion\n"
    b"n1,Name a colour.,general,alpha-7b,Blue.\n"
    b"n1,Name a colour.,general,beta-13b,Red.\n"
)
JUDGE_FORM = {
    "model": "gpt-4o",
    "base_url": "https://api.openai.com/v1",
    "api_key_env": "OPENAI_API_KEY",
    "template": "h4-score-1-8",
    "template_text": "",
    "contract": "score-1-8",
    "temperature": "0",
    "max_tokens": "256",
    "price_in": "2.5",
    "price_out": "10",
    "rpm": "0",
    "tpm": "0",
    "concurrency": "4",
    "timeout_s": "30",
}


def json_body(body: dict[str, Any]) -> dict[str, Any]:
    return {"data": json.dumps(body), "content_type": "application/json"}


def post_body(name: str, world: World) -> dict[str, Any]:
    """Keyword arguments for Client.post: a request that succeeds for a caller who is allowed."""
    criteria = {"helpfulness": 3, "truthfulness": 3}
    upload = SimpleUploadedFile("colours.csv", COMPLETIONS_FILE, content_type="text/csv")
    bodies: dict[str, dict[str, Any]] = {
        "login": {"data": {"username": "alice", "password": PASSWORD}},
        "api_token": {"data": {"username": "alice", "password": PASSWORD}},
        "api_rating_submit": json_body({"ratings": criteria, "rationale": ""}),
        "api_import": {"data": {"kind": "completions", "file": upload}},
        "api_judge_runs": json_body({"judge": world.judge.name, "dry_run": True}),
        "label": {
            "data": {
                "assignment_id": world.assignment.pk,
                **{f"criterion_{key}": str(value) for key, value in criteria.items()},
            }
        },
        "label_skip": {"data": {"assignment_id": world.assignment.pk}},
        "import_upload": {"data": {"kind": "completions", "pairs": "all", "file": upload}},
        "judge_create": {"data": {**JUDGE_FORM, "name": "new-judge"}},
        "judge_edit": {"data": {**JUDGE_FORM, "name": world.judge.name}},
        "project_judge_runs": {
            "data": {"judge": world.judge.pk, "orders": "both", "action": "dry_run"}
        },
    }
    return bodies.get(name, {"data": {}})


def url_kwargs(names: tuple[str, ...], world: World) -> dict[str, Any]:
    values = {
        "slug": world.project.slug,
        "assignment_id": world.assignment.pk,
        "run_id": world.run.pk,
        "judge_id": world.judge.pk,
        "kind": "json",
    }
    missing = [name for name in names if name not in values]
    if missing:
        pytest.fail(f"give the security suite a value for the URL kwargs {missing}")
    return {name: values[name] for name in names}


@dataclass(frozen=True)
class Endpoint:
    name: str
    route: str
    kwargs: tuple[str, ...]


def _walk(patterns: list[URLPattern | URLResolver], prefix: str = "") -> Iterator[Endpoint]:
    for entry in patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if entry.namespace == "admin":
                continue  # one rule for the whole admin site: test_the_admin_site_is_staff_only
            yield from _walk(entry.url_patterns, route)
        else:
            yield Endpoint(entry.name or f"<unnamed {route}>", route, _kwarg_names(entry))


def _kwarg_names(pattern: URLPattern) -> tuple[str, ...]:
    converters = getattr(pattern.pattern, "converters", None)
    if converters is not None:
        return tuple(converters)
    return tuple(pattern.pattern.regex.groupindex)


def url_endpoints() -> list[Endpoint]:
    """Every named URL of the URL conf (through includes), the admin site left out."""
    return list(_walk(get_resolver().url_patterns))
