"""Every page outside the API, for each kind of caller: the exact status. Nobody sees an
account they are not granted (404, as if it did not exist), the admin is staff-only, and
the sign-in pages answer everyone. (The API's matrix: test_api_matrix.py; the second
factor's pages: test_mfa.py.)"""

from __future__ import annotations

import pytest
from django.test import Client

from .test_api_matrix import ROLES, fill, world  # noqa: F401 (world is a fixture)

ANYONE = dict.fromkeys(ROLES, 200)
SIGNED_IN = {"admin": 200, "ops": 200, "member": 200, "outsider": 200, "anonymous": 302}
STAFF = {"admin": 200, "ops": 302, "member": 302, "outsider": 302, "anonymous": 302}
GRANTED_A = {"admin": 404, "ops": 404, "member": 200, "outsider": 404, "anonymous": 302}
NOBODY = {"admin": 404, "ops": 404, "member": 404, "outsider": 404, "anonymous": 302}

PAGES = [
    ("get", "/", SIGNED_IN),
    ("get", "/sessions/", SIGNED_IN),
    ("get", "/accounts/{A}/", GRANTED_A),
    ("post", "/accounts/{A}/access/", {**GRANTED_A, "member": 302}),
    ("get", "/accounts/{B}/", NOBODY),
    ("post", "/accounts/{B}/access/", NOBODY),
    ("get", "/accounts/999999/", NOBODY),
    # Only one's own session (bob's here); the answer is back to the page, with a message.
    ("post", "/sessions/{bob_session}/revoke/", {**NOBODY, "member": 302}),
    ("post", "/sessions/{dave_session}/revoke/", NOBODY),
    ("get", "/sessions/{bob_session}/revoke/", dict.fromkeys(ROLES, 405)),
    # Just-in-time access (bob's grant on A is standing: nothing to request). The pages
    # with requests in them, for requester, approvers, ops and the rest, and every POST:
    # test_request_pages.py's own matrix.
    ("get", "/requests/", SIGNED_IN),
    ("get", "/approvals/", SIGNED_IN),
    ("get", "/requests/new/?account={A}", NOBODY),
    ("get", "/requests/new/?account={B}", NOBODY),
    ("get", "/requests/new/?account={A}&break_glass=1", NOBODY),
    ("get", "/requests/999999/", NOBODY),
    ("post", "/requests/999999/approve/", NOBODY),
    ("post", "/requests/999999/deny/", NOBODY),
    ("post", "/requests/999999/cancel/", NOBODY),
    ("post", "/requests/999999/revoke/", NOBODY),
    ("get", "/requests/999999/approve/", dict.fromkeys(ROLES, 405)),
    ("get", "/login/", ANYONE),
    ("get", "/admin/login/", dict.fromkeys(ROLES, 302)),
    # No IdP configured: the OpenID Connect endpoints do not exist (test_sso.py has them
    # with one).
    ("get", "/oidc/authenticate/", dict.fromkeys(ROLES, 404)),
    ("get", "/oidc/callback/", dict.fromkeys(ROLES, 404)),
    ("post", "/logout/", dict.fromkeys(ROLES, 302)),
    ("get", "/healthz", ANYONE),
    ("get", "/admin/", STAFF),
    ("get", "/admin/auth/user/{member}/change/", STAFF),
    ("get", "/admin/auth/group/", STAFF),
    ("get", "/admin/accounts/pamaccount/{A}/change/", STAFF),
    ("get", "/admin/sessions_app/consolesession/", STAFF),
    # Needs the revoke permission (admin: has it; staff without it: 403 in the admin).
    ("get", "/admin/sessions_app/consolesession/{bob_session}/revoke/", STAFF),
    ("get", "/admin/audit/auditevent/", STAFF),
]


@pytest.mark.parametrize(
    ("method", "url", "expected"), PAGES, ids=[f"{m.upper()} {u}" for m, u, _ in PAGES]
)
@pytest.mark.parametrize("role", ROLES)
def test_every_page_answers_each_caller_exactly(world, federation, method, url, expected, role):  # noqa: F811
    client = Client()
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    response = getattr(client, method)(fill(url, world))
    assert response.status_code == expected[role], (response.status_code, response.content[:300])
    if role == "member" and url == "/accounts/{A}/access/":
        assert response["Location"].startswith("https://signin.aws.amazon.com/federation")
