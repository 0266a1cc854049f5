"""Login throttle: after 10 failures for a username from one address, login answers 429."""

import time

import pytest
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from conftest import PASSWORD

pytestmark = pytest.mark.django_db


def _html_login(client: Client, username: str, password: str) -> object:
    return client.post(reverse("login"), {"username": username, "password": password})


def _token_login(client: Client, username: str, password: str) -> object:
    return client.post(
        reverse("api_token"),
        {"username": username, "password": password},
        content_type="application/json",
    )


def test_ten_failed_logins_lock_the_username_out_from_that_address(alice, bob):
    client = Client()
    for _ in range(10):
        response = _html_login(client, "alice", "wrong")
        assert response.status_code == 200
        assert "did not match" in response.content.decode()
    # Even the right password is refused now, without being checked.
    response = _html_login(client, "alice", PASSWORD)
    assert response.status_code == 429
    page = response.content.decode()
    assert "Too many failed logins for this username from your address." in page
    assert "Try again in 15 minutes." in page
    assert "did not match" not in page
    assert 14 * 60 < int(response["Retry-After"]) <= 15 * 60
    assert "_auth_user_id" not in client.session
    # Another username from the same address, and alice from another address, still log in.
    assert _html_login(Client(), "bob", PASSWORD).status_code == 302
    assert _html_login(Client(REMOTE_ADDR="10.0.0.2"), "alice", PASSWORD).status_code == 302


def test_the_lock_ends_when_the_window_has_passed(settings, alice):
    settings.LOGIN_FAILURE_LIMIT = 3
    settings.LOGIN_FAILURE_WINDOW_S = 1
    client = Client()
    for _ in range(3):
        assert _html_login(client, "alice", "wrong").status_code == 200
    assert _html_login(client, "alice", PASSWORD).status_code == 429
    time.sleep(1.2)
    assert _html_login(client, "alice", PASSWORD).status_code == 302


def test_a_successful_login_starts_the_count_again(alice):
    client = Client()
    for _ in range(9):
        assert _html_login(client, "alice", "wrong").status_code == 200
    assert _html_login(client, "alice", PASSWORD).status_code == 302
    client = Client()
    for _ in range(9):
        assert _html_login(client, "alice", "wrong").status_code == 200
    assert _html_login(client, "alice", PASSWORD).status_code == 302


def test_the_token_endpoint_is_throttled_with_a_clear_message(alice):
    client = Client()
    for _ in range(10):
        assert _token_login(client, "alice", "wrong").status_code == 400
    response = _token_login(client, "alice", PASSWORD)
    assert response.status_code == 429
    detail = response.json()["detail"]
    assert detail.startswith("Too many failed logins for this username from your address.")
    assert "seconds" in detail
    assert int(response["Retry-After"]) > 14 * 60
    assert not Token.objects.exists()


def test_the_page_and_the_token_endpoint_share_one_count(alice):
    client = Client()
    for _ in range(5):
        assert _html_login(client, "alice", "wrong").status_code == 200
        assert _token_login(client, "alice", "wrong").status_code == 400
    assert _html_login(client, "alice", PASSWORD).status_code == 429
    assert _token_login(client, "alice", PASSWORD).status_code == 429


def test_a_forged_forwarded_for_header_or_another_spelling_does_not_reset_the_count(alice):
    # NUM_PROXIES is 0 by default: the peer address counts, never a header the client sets.
    for attempt in range(10):
        client = Client(headers={"X-Forwarded-For": f"203.0.113.{attempt}"})
        username = "alice" if attempt % 2 else "ALICE"
        assert _html_login(client, username, "wrong").status_code == 200
    client = Client(headers={"X-Forwarded-For": "198.51.100.7"})
    assert _html_login(client, "Alice", PASSWORD).status_code == 429
    assert _token_login(client, "alice", PASSWORD).status_code == 429
