"""CSRF: a session-authenticated POST without the token is refused, on pages and on the API.

Generated from the security matrix: every endpoint some signed-in role may POST to is tried as
that role, first without the token (403, nothing written), then with it (the matrix's status), so
the refusal is known to come from the CSRF check.
"""

import pytest
from django.db import transaction
from django.test import Client
from django.urls import reverse
from rest_framework.authtoken.models import Token

from annotate import models
from tests.conftest import ROLES, json_body, post_body, url_endpoints, url_kwargs
from tests.test_security_matrix import QUERIES, RULES

pytestmark = pytest.mark.django_db

# Takes no session, so a request can forge nothing: a browser signed in elsewhere needs no token.
CSRF_EXEMPT = {"api_token"}


def _allowed_poster(name: str) -> str | None:
    """The first signed-in role whose POST the matrix lets through (2xx or the endpoint's 302)."""
    statuses = dict(zip(ROLES, RULES[(name, "POST")], strict=True))
    return next((role for role in ROLES[1:] if statuses[role] < 400), None)


POSTABLE = [
    endpoint
    for endpoint in url_endpoints()
    if (endpoint.name, "POST") in RULES and _allowed_poster(endpoint.name) is not None
]


def _token_for(client: Client) -> str:
    # Any page with a form sets the cookie; the project list has the log-out form.
    assert client.get(reverse("project_list")).status_code == 200
    return client.cookies["csrftoken"].value


@pytest.mark.parametrize("endpoint", POSTABLE, ids=lambda endpoint: endpoint.name)
def test_a_session_post_without_the_csrf_token_is_refused(world, endpoint):
    role = _allowed_poster(endpoint.name)
    client = Client(enforce_csrf_checks=True)
    client.force_login(world.users[role])
    url = reverse(endpoint.name, kwargs=url_kwargs(endpoint.kwargs, world))
    url += QUERIES.get(endpoint.name, "")
    before = (models.Rating.objects.count(), models.PromptSet.objects.count())
    with transaction.atomic():
        response = client.post(url, **post_body(endpoint.name, world))
        transaction.set_rollback(True)
    if endpoint.name in CSRF_EXEMPT:
        assert response.status_code == 200
        return
    assert response.status_code == 403, f"{role} posted to {url} without a CSRF token"
    assert "CSRF" in response.content.decode()
    assert (models.Rating.objects.count(), models.PromptSet.objects.count()) == before

    token = _token_for(client)
    response = client.post(url, **post_body(endpoint.name, world), headers={"X-CSRFToken": token})
    expected = dict(zip(ROLES, RULES[(endpoint.name, "POST")], strict=True))[role]
    assert response.status_code == expected


def test_the_login_form_itself_needs_the_token(alice):
    client = Client(enforce_csrf_checks=True)
    body = {"username": "alice", "password": "pw-concord-1"}
    assert client.post(reverse("login"), body).status_code == 403
    assert "_auth_user_id" not in client.session
    client.get(reverse("login"))
    body["csrfmiddlewaretoken"] = client.cookies["csrftoken"].value
    assert client.post(reverse("login"), body).status_code == 302
    assert client.session["_auth_user_id"] == str(alice.pk)


def test_token_authenticated_api_calls_need_no_csrf_token(world):
    """A token is sent deliberately, never attached by the browser, so there is nothing to forge."""
    alice = world.users["labeler"]
    token = Token.objects.create(user=alice)
    client = Client(enforce_csrf_checks=True, headers={"Authorization": f"Token {token.key}"})
    url = reverse("api_rating_submit", args=[world.assignment.pk])
    body = json_body({"ratings": {"helpfulness": 2, "truthfulness": 7}, "rationale": ""})
    assert client.post(url, **body).status_code == 200
    assert models.Rating.objects.filter(user=alice).count() == 2
