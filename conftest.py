"""Shared personas: alice and bob label, lena leads, rita researches, mallory is an outsider."""

import os

import pytest

from annotate import models
from annotate.tests.factories import (
    CriterionFactory,
    MembershipFactory,
    ProjectFactory,
    UserFactory,
)

pytest_plugins = ["tests.browser.fixtures"]

PASSWORD = "pw-concord-1"


def service_missing(reason: str) -> None:
    """Skip outside CI, fail in CI: CI must run every test."""
    if os.environ.get("CI"):
        pytest.fail(f"required service missing in CI: {reason}")
    pytest.skip(reason)


@pytest.fixture
def project(db: None) -> models.Project:
    project = ProjectFactory(name="Chatbot eval", slug="chatbot-eval", overlap=3)
    CriterionFactory(
        project=project, key="helpfulness", question="Which response is more helpful?", position=0
    )
    CriterionFactory(
        project=project, key="truthfulness", question="Which response is more truthful?", position=1
    )
    return project


def _member(project: models.Project, username: str, role: str) -> object:
    user = UserFactory(username=username)
    MembershipFactory(project=project, user=user, role=role)
    return user


@pytest.fixture
def alice(project: models.Project) -> object:
    return _member(project, "alice", models.Role.LABELER)


@pytest.fixture
def bob(project: models.Project) -> object:
    return _member(project, "bob", models.Role.LABELER)


@pytest.fixture
def lena(project: models.Project) -> object:
    return _member(project, "lena", models.Role.LEAD)


@pytest.fixture
def rita(project: models.Project) -> object:
    return _member(project, "rita", models.Role.RESEARCHER)


@pytest.fixture
def mallory(db: None) -> object:
    return UserFactory(username="mallory")


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings: object) -> None:
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def _own_cache(settings: object, request: pytest.FixtureRequest) -> None:
    """A fresh in-process cache per test: counters such as the login throttle's must not leak
    between tests, nor into the Redis that CI shares between runs."""
    settings.CACHES = {  # type: ignore[attr-defined]
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": request.node.nodeid,
        }
    }


def point_broker_at(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    """Send Celery's publishes to `url` for one test.

    Celery reads CELERY_BROKER_URL from the environment before its configuration, so with the
    variable set (as in CI) changing `conf.broker_url` alone would not move the broker.
    """
    from concord.celery import app

    monkeypatch.setenv("CELERY_BROKER_URL", url)
    monkeypatch.setattr(app.conf, "broker_url", url)


@pytest.fixture
def memory_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """Publish to kombu's in-process transport, emptied first; the test runs the tasks itself."""
    from concord.celery import app

    point_broker_at(monkeypatch, "memory://")
    with app.connection_for_write() as connection:
        queue = connection.SimpleQueue("celery")
        queue.clear()
        queue.close()
