"""GET /healthz: 200 when the database and the broker answer, 503 naming what does not."""

import time

import pytest
from django.db import connection
from django.db.utils import load_backend
from django.test import Client

from concord import health
from conftest import point_broker_at

pytestmark = pytest.mark.django_db


def _dead_database() -> object:
    """A real connection to a database that is not there (a closed port, or a missing folder)."""
    settings_dict = dict(connection.settings_dict)
    if connection.vendor == "sqlite":
        settings_dict["NAME"] = "/nonexistent-concord-dir/db.sqlite3"
    else:
        settings_dict |= {"HOST": "127.0.0.1", "PORT": "1"}
    return load_backend(settings_dict["ENGINE"]).DatabaseWrapper(settings_dict, alias="dead")


def test_healthz_answers_ok_without_login_when_database_and_broker_answer(monkeypatch):
    point_broker_at(monkeypatch, "memory://")
    response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"database": "ok", "broker": "ok"}
    assert "no-cache" in response["Cache-Control"]


def test_healthz_answers_503_naming_the_database_when_it_is_down(monkeypatch):
    point_broker_at(monkeypatch, "memory://")
    dead = _dead_database()
    monkeypatch.setattr(health, "connection", dead)
    response = Client().get("/healthz")
    assert response.status_code == 503
    # Only what failed: no host, port, database name or error text.
    assert response.json() == {"database": "unavailable", "broker": "ok"}


def test_healthz_answers_503_naming_the_broker_when_redis_is_unreachable(monkeypatch):
    point_broker_at(monkeypatch, "redis://127.0.0.1:1/0")
    started = time.monotonic()
    response = Client().get("/healthz")
    assert time.monotonic() - started < health.BROKER_CONNECT_TIMEOUT_S * 2 + 1
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "unavailable"}
    assert "127.0.0.1" not in response.content.decode()


def test_healthz_answers_503_when_the_filesystem_broker_folder_is_missing(monkeypatch, tmp_path):
    from concord.celery import app

    point_broker_at(monkeypatch, "filesystem://")
    missing = str(tmp_path / "gone" / "queue")
    options = {"data_folder_in": missing, "data_folder_out": missing}
    monkeypatch.setitem(app.conf, "broker_transport_options", options)
    response = Client().get("/healthz")
    assert response.status_code == 503
    assert response.json() == {"database": "ok", "broker": "unavailable"}

    (tmp_path / "gone" / "queue").mkdir(parents=True)
    response = Client().get("/healthz")
    assert (response.status_code, response.json()["broker"]) == (200, "ok")


def test_healthz_only_reads(monkeypatch):
    point_broker_at(monkeypatch, "memory://")
    assert Client().post("/healthz").status_code == 405
    assert Client().head("/healthz").status_code == 200
