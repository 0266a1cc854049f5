"""Secrets stay secret: a judge's API key (read from the environment) never reaches the database,
the logs, a page, an API answer, an export or the admin; error pages show no settings or locals.
"""

import logging
import os
import secrets

import pytest
from django.apps import apps
from django.contrib import admin
from django.db.models import CharField, JSONField, TextField
from django.db.models.functions import Cast
from django.test import Client
from django.urls import path, reverse

from annotate.tests.factories import UserFactory, make_pair
from concord.urls import urlpatterns as concord_urlpatterns
from judges.models import Judge, JudgeRun
from judges.selectors import judge_run_status
from judges.services import judge_run_start
from judges.stub import OpenAIStub, StubConfig
from judges.tests.conftest import drain, judge_for

pytestmark = pytest.mark.django_db

KEY_ENV = "CONCORD_SECRET_SUITE_KEY"
WRONG_KEY_ENV = "CONCORD_SECRET_SUITE_WRONG_KEY"
KEY = f"sk-zq-live-{secrets.token_hex(16)}"
WRONG_KEY = f"sk-zq-wrong-{secrets.token_hex(16)}"


def _crash(request: object) -> None:
    api_key = os.environ[KEY_ENV]  # a local variable Django's debug page would list
    raise RuntimeError(f"judge endpoint failed for key ending {api_key[-4:]}")


# This module is also the URL conf of the error-page tests: the app's URLs plus one that crashes.
urlpatterns = [path("crash/", _crash), *concord_urlpatterns]


@pytest.mark.urls("tests.test_secrets")
def test_with_debug_off_a_500_page_shows_no_settings_environment_or_locals(settings, monkeypatch):
    monkeypatch.setenv(KEY_ENV, KEY)
    settings.DEBUG = False
    client = Client(raise_request_exception=False)
    response = client.get("/crash/")
    assert response.status_code == 500
    page = response.content.decode()
    for leak in (KEY, settings.SECRET_KEY, KEY_ENV, "Traceback", "RuntimeError", "DATABASES"):
        assert leak not in page
    # The same request with DEBUG on shows the local variable: the check above can fail.
    settings.DEBUG = True
    assert KEY in client.get("/crash/").content.decode()


def test_with_debug_off_a_404_page_lists_no_url_patterns(settings, client):
    settings.DEBUG = False
    response = client.get("/no-such-page/")
    assert response.status_code == 404
    assert "api/projects" not in response.content.decode()


def _text_fields(model: type) -> list[str]:
    return [
        field.name
        for field in model._meta.concrete_fields
        if isinstance(field, CharField | TextField | JSONField)
    ]


def _rows_containing(value: str) -> list[str]:
    """Every (model, field) of every installed app whose stored text contains `value`."""
    found = []
    for model in apps.get_models():
        for name in _text_fields(model):
            rows = model._default_manager.annotate(_text=Cast(name, TextField())).filter(
                _text__contains=value
            )
            if rows.exists():
                found.append(f"{model._meta.label}.{name}")
    return found


@pytest.fixture
def judged_project(project, lena, monkeypatch, memory_broker, django_capture_on_commit_callbacks):
    """A project judged by one judge with the right key and one whose key the endpoint refuses."""
    monkeypatch.setenv(KEY_ENV, KEY)
    monkeypatch.setenv(WRONG_KEY_ENV, WRONG_KEY)
    for texts in (("Short.", "A fuller answer."), ("Yes.", "No, because...")):
        make_pair(project, texts=texts)
    with OpenAIStub(StubConfig(api_key=KEY, seed=3)) as stub:
        # Different models, so the second run cannot reuse the first one's cached answers.
        for name, model, env in (
            ("keyed-judge", "stub-model", KEY_ENV),
            ("refused-judge", "stub-model-2", WRONG_KEY_ENV),
        ):
            judge = judge_for(stub, name=name, model=model, api_key_env=env, max_tokens=50)
            judge.save()
            with django_capture_on_commit_callbacks(execute=True):
                run = judge_run_start(project=project, judge=judge, created_by=lena)
            drain(run)
    return project


def test_a_judge_api_key_is_never_stored_logged_shown_or_exported(judged_project, lena, caplog):
    caplog.set_level(logging.DEBUG)
    project = judged_project
    runs = list(JudgeRun.objects.filter(project=project).order_by("id"))
    assert [run.judge.name for run in runs] == ["keyed-judge", "refused-judge"]
    assert runs[0].calls.filter(status="done").exists()  # the key worked, so it was used
    # The wrong key was sent and refused: the run says so, naming the variable, not the key.
    assert "authentication failed" in judge_run_status(run=runs[1])["error"]

    client = Client()
    client.force_login(lena)
    slug = project.slug
    urls = [reverse("judge_list"), reverse("project_judge_runs", args=[slug])]
    for judge in Judge.objects.all():
        urls.append(reverse("judge_edit", args=[judge.pk]))
    for run in runs:
        urls += [
            reverse("judge_run_detail", args=[slug, run.pk]),
            reverse("api_judge_run", args=[run.pk]),
        ]
    urls += [reverse("project_detail", args=[slug]), reverse("analysis_report", args=[slug])]
    urls += [reverse("api_report", args=[slug]), reverse("export_page", args=[slug])]
    urls += [reverse("analysis_report_download", args=[slug, kind]) for kind in ("json", "html")]
    urls.append(reverse("analysis_report_download", args=[slug, "csv"]))
    for fmt in ("csv", "jsonl", "parquet", "dpo"):
        urls.append(f"{reverse('export_download', args=[slug])}?format={fmt}")
        urls.append(f"{reverse('api_export', args=[slug])}?format={fmt}")
    bodies = []
    for url in urls:
        response = client.get(url)
        assert response.status_code == 200, url
        bodies.append(b"".join(response) if response.streaming else response.content)
    estimate = client.post(
        reverse("api_judge_runs", args=[slug]),
        {"judge": "refused-judge", "dry_run": True},
        content_type="application/json",
    )
    assert estimate.status_code == 200
    bodies.append(estimate.content)

    staff = UserFactory(username="sam", is_staff=True, is_superuser=True)
    client.force_login(staff)
    for model in admin.site._registry:
        info = (model._meta.app_label, model._meta.model_name)
        changelist = client.get(reverse("admin:{}_{}_changelist".format(*info)))
        assert changelist.status_code == 200, info
        bodies.append(changelist.content)
        first = model._default_manager.order_by("pk").first()
        if first is not None:
            change = client.get(reverse("admin:{}_{}_change".format(*info), args=[first.pk]))
            assert change.status_code == 200, info
            bodies.append(change.content)

    for key in (KEY, WRONG_KEY):
        assert _rows_containing(key) == []
        assert not [body for body in bodies if key.encode() in body]
        assert key not in caplog.text
    # The variable's name is what is stored, and what the lead sees.
    assert Judge.objects.get(name="keyed-judge").api_key_env == KEY_ENV
    assert _rows_containing(KEY_ENV) == ["judges.Judge.api_key_env"]
