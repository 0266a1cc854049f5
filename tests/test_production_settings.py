"""Production settings fail closed. Each case imports concord.settings in a fresh interpreter with
only the given environment, so this process's settings stay as they are."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PRINT_SETTINGS = """
import json
from concord import settings as s
names = [
    "DEBUG", "ALLOWED_HOSTS", "SESSION_COOKIE_SECURE", "CSRF_COOKIE_SECURE",
    "SESSION_COOKIE_HTTPONLY", "SECURE_HSTS_SECONDS", "SECURE_HSTS_INCLUDE_SUBDOMAINS",
    "SECURE_CONTENT_TYPE_NOSNIFF", "SECURE_REFERRER_POLICY", "X_FRAME_OPTIONS",
    "SECURE_SSL_REDIRECT", "SECURE_REDIRECT_EXEMPT",
]
values = {name: getattr(s, name) for name in names}
values["SECURE_PROXY_SSL_HEADER"] = getattr(s, "SECURE_PROXY_SSL_HEADER", None)
values["NUM_PROXIES"] = s.REST_FRAMEWORK["NUM_PROXIES"]
values["STATICFILES"] = s.STORAGES["staticfiles"]["BACKEND"]
values["CACHE"] = s.CACHES["default"]["BACKEND"]
print(json.dumps(values))
"""
KEY = secrets.token_urlsafe(50)
PRODUCTION = {"DEBUG": "0", "SECRET_KEY": KEY, "ALLOWED_HOSTS": "concord.example.org"}


def _run(args: list[str], env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    base = {"PATH": os.environ["PATH"], "CONCORD_VAR_DIR": str(tmp_path)}
    return subprocess.run(
        [sys.executable, *args],
        env={**base, **env},
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _settings(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    return _run(["-c", PRINT_SETTINGS], env, tmp_path)


def test_production_settings_are_secure(tmp_path):
    result = _settings(PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "DEBUG": False,
        "ALLOWED_HOSTS": ["concord.example.org"],
        "SESSION_COOKIE_SECURE": True,
        "CSRF_COOKIE_SECURE": True,
        "SESSION_COOKIE_HTTPONLY": True,
        "SECURE_HSTS_SECONDS": 31_536_000,
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": True,
        "SECURE_CONTENT_TYPE_NOSNIFF": True,
        "SECURE_REFERRER_POLICY": "same-origin",
        "X_FRAME_OPTIONS": "DENY",
        # TLS ends at the reverse proxy; redirecting and trusting its header are opt-in.
        "SECURE_SSL_REDIRECT": False,
        "SECURE_REDIRECT_EXEMPT": ["^healthz$"],
        "SECURE_PROXY_SSL_HEADER": None,
        "NUM_PROXIES": 0,
        "STATICFILES": "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "CACHE": "django.core.cache.backends.locmem.LocMemCache",
    }


def test_behind_a_tls_proxy_the_redirect_and_the_forwarded_headers_can_be_turned_on(tmp_path):
    env = {
        **PRODUCTION,
        "SECURE_SSL_REDIRECT": "1",
        "TRUST_X_FORWARDED_PROTO": "1",
        "NUM_PROXIES": "1",
        "REDIS_URL": "redis://redis:6379/1",
    }
    values = json.loads(_settings(env, tmp_path).stdout)
    assert values["SECURE_SSL_REDIRECT"] is True
    assert values["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert values["NUM_PROXIES"] == 1
    assert values["CACHE"] == "django.core.cache.backends.redis.RedisCache"


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"SECRET_KEY": None}, "Set the environment variable SECRET_KEY."),
        ({"SECRET_KEY": ""}, "Set the environment variable SECRET_KEY."),
        ({"SECRET_KEY": "insecure-development-key"}, "SECRET_KEY must be a random string"),
        ({"SECRET_KEY": "short"}, "SECRET_KEY must be a random string"),
        ({"ALLOWED_HOSTS": None}, "Set ALLOWED_HOSTS"),
        ({"ALLOWED_HOSTS": "*"}, "Set ALLOWED_HOSTS"),
    ],
    ids=["no-key", "empty-key", "development-key", "short-key", "no-hosts", "any-host"],
)
def test_with_debug_off_the_settings_refuse_to_load_without_a_key_and_hosts(
    tmp_path, change, message
):
    env = {k: v for k, v in {**PRODUCTION, **change}.items() if v is not None}
    result = _settings(env, tmp_path)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr
    assert message in result.stderr
    assert KEY not in result.stderr


def test_the_deploy_check_flags_only_the_opt_in_tls_settings(tmp_path):
    result = _run(["manage.py", "check", "--deploy"], PRODUCTION, tmp_path)
    assert result.returncode == 0, result.stderr
    warnings = {
        line.split(")")[0].split("(")[1]
        for line in result.stderr.splitlines()
        if "(security." in line
    }
    # W008: HTTPS redirect is the proxy's job unless SECURE_SSL_REDIRECT=1; W021: HSTS preload is
    # a commitment the operator makes (SECURE_HSTS_PRELOAD=1).
    assert warnings == {"security.W008", "security.W021"}
    env = {**PRODUCTION, "SECURE_SSL_REDIRECT": "1", "SECURE_HSTS_PRELOAD": "1"}
    result = _run(["manage.py", "check", "--deploy", "--fail-level", "WARNING"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    assert "no issues" in result.stdout
