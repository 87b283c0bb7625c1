"""Every API endpoint and method, for each kind of caller: the exact status, and that no
list shows anything outside the caller's scope."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from accounts.tokens import token_create

from .factories import (
    AccountFactory,
    ConsoleSessionFactory,
    GrantFactory,
    ProjectFactory,
    ResourceFactory,
    UserFactory,
)

ROLES = ["admin", "ops", "member", "outsider", "anonymous"]


@pytest.fixture
def world(db, alice, bob, charlie):
    """Project P / resource R / accounts A (granted to bob) and B (granted to dave);
    project Q with nothing of bob's. Sessions of bob on A and of dave on B."""
    ops = UserFactory(username="olga")
    ops_group = Group.objects.create(name="ops")
    ops_group.permissions.add(Permission.objects.get(codename="view_consolesession"))
    ops.groups.add(ops_group)
    dave = UserFactory(username="dave")
    p = ProjectFactory(name="P")
    q = ProjectFactory(name="Q")
    r = ResourceFactory(project=p, name="R")
    s = ResourceFactory(project=q, name="S")
    a = AccountFactory(resource=r, name="A")
    b = AccountFactory(resource=r, name="B")
    c = AccountFactory(resource=s, name="C")
    grant_a = GrantFactory(account=a, user=bob)
    grant_b = GrantFactory(account=b, user=dave)
    return {
        "users": {
            "admin": alice,
            "ops": ops,
            "member": bob,
            "outsider": charlie,
            "anonymous": None,
        },
        "P": p,
        "Q": q,
        "R": r,
        "S": s,
        "A": a,
        "B": b,
        "C": c,
        "grant_a": grant_a,
        "grant_b": grant_b,
        "bob_session": ConsoleSessionFactory(user=bob, account=a),
        "dave_session": ConsoleSessionFactory(user=dave, account=b),
        "bob_token": token_create(user=bob, name="bob's script")[0],
        "dave_token": token_create(user=dave, name="dave's script")[0],
    }


def client_for(world, role):
    client = APIClient()
    user = world["users"][role]
    if user is not None:
        client.force_login(user)
    return client


def ids(response):
    assert response.status_code == 200, response.content
    return {row["id"] for row in response.json()["results"]}


# (url, expected ids per role) for every list endpoint
LISTS = {
    "/api/v1/projects/": {"admin": {"P", "Q"}, "ops": set(), "member": {"P"}, "outsider": set()},
    "/api/v1/resources/": {"admin": {"R", "S"}, "ops": set(), "member": {"R"}, "outsider": set()},
    "/api/v1/accounts/": {
        "admin": {"A", "B", "C"},
        "ops": set(),
        "member": {"A"},
        "outsider": set(),
    },
    "/api/v1/grants/": {
        "admin": {"grant_a", "grant_b"},
        "ops": set(),
        "member": {"grant_a"},
        "outsider": set(),
    },
    "/api/v1/sessions/": {
        "admin": {"bob_session", "dave_session"},
        "ops": {"bob_session", "dave_session"},
        "member": {"bob_session"},
        "outsider": set(),
    },
    # Admins (here the superuser) see everyone's tokens; everyone else their own.
    "/api/v1/tokens/": {
        "admin": {"bob_token", "dave_token"},
        "ops": set(),
        "member": {"bob_token"},
        "outsider": set(),
    },
}


@pytest.mark.parametrize("url", LISTS)
@pytest.mark.parametrize("role", ROLES)
def test_lists_show_exactly_the_callers_scope(world, url, role):
    response = client_for(world, role).get(url)
    if role == "anonymous":
        assert response.status_code == 401
        return
    assert ids(response) == {world[key].pk for key in LISTS[url][role]}


# (method, url template, body, expected status per role)
DETAIL = [
    (
        "get",
        "/api/v1/projects/{P}/",
        None,
        {"admin": 200, "ops": 404, "member": 200, "outsider": 404, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/projects/{Q}/",
        None,
        {"admin": 200, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "post",
        "/api/v1/projects/",
        {"name": "new-project"},
        {"admin": 201, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "patch",
        "/api/v1/projects/{P}/",
        {"description": "changed"},
        {"admin": 200, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "put",
        "/api/v1/projects/{Q}/",
        {"name": "Q2", "description": ""},
        {"admin": 200, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/projects/{P}/",
        None,  # still has resources
        {"admin": 409, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/resources/{R}/",
        None,
        {"admin": 200, "ops": 404, "member": 200, "outsider": 404, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/resources/{S}/",
        None,
        {"admin": 200, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "patch",
        "/api/v1/resources/{R}/",
        {"name": "R-renamed"},
        {"admin": 200, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/resources/{R}/",
        None,  # still has accounts
        {"admin": 409, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/accounts/{A}/",
        None,
        {"admin": 200, "ops": 404, "member": 200, "outsider": 404, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/accounts/{B}/",
        None,
        {"admin": 200, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "patch",
        "/api/v1/accounts/{A}/",
        {"description": "changed"},
        {"admin": 200, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/accounts/{A}/",
        None,  # has sessions: history is kept
        {"admin": 409, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/accounts/{C}/",
        None,  # never used
        {"admin": 204, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "post",
        "/api/v1/accounts/{A}/access/",
        None,
        {"admin": 403, "ops": 404, "member": 200, "outsider": 404, "anonymous": 401},
    ),
    (
        "post",
        "/api/v1/accounts/{B}/access/",
        None,
        {"admin": 403, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    # Wrong methods are refused before any lookup, so they tell nothing about existence.
    (
        "get",
        "/api/v1/accounts/{A}/access/",
        None,
        {"admin": 405, "ops": 405, "member": 405, "outsider": 405, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/grants/{grant_a}/",
        None,
        {"admin": 200, "ops": 404, "member": 200, "outsider": 404, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/grants/{grant_b}/",
        None,
        {"admin": 200, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "post",
        "/api/v1/grants/",
        {"account": "{C}", "user": "{member}"},
        {"admin": 201, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/grants/{grant_b}/",
        None,
        {"admin": 204, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/sessions/{bob_session}/",
        None,
        {"admin": 200, "ops": 200, "member": 200, "outsider": 404, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/sessions/{dave_session}/",
        None,
        {"admin": 200, "ops": 200, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/sessions/{bob_session}/",
        None,
        {"admin": 405, "ops": 405, "member": 405, "outsider": 405, "anonymous": 401},
    ),
    (
        "post",
        "/api/v1/tokens/",
        {"name": "script"},
        {"admin": 201, "ops": 201, "member": 201, "outsider": 201, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/tokens/",
        None,
        {"admin": 200, "ops": 200, "member": 200, "outsider": 200, "anonymous": 401},
    ),
    (
        "get",
        "/api/v1/tokens/{dave_token}/",
        None,
        {"admin": 200, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/tokens/{dave_token}/",
        None,
        {"admin": 204, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    # Revocation. bob_session has no recorded assumed role id, so a caller who may revoke
    # it gets 400 naming that rule; A's Target Role does not exist in moto, so revoking
    # all of A's sessions reaches IAM and fails there (502): both past authorization.
    (
        "post",
        "/api/v1/sessions/{bob_session}/revoke/",
        {"reason": "matrix"},
        {"admin": 400, "ops": 403, "member": 400, "outsider": 404, "anonymous": 401},
    ),
    (
        "post",
        "/api/v1/sessions/{dave_session}/revoke/",
        {"reason": "matrix"},
        {"admin": 400, "ops": 403, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "post",
        "/api/v1/accounts/{A}/revoke_sessions/",
        {"reason": "matrix"},
        {"admin": 502, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
    ),
    (
        "get",
        "/api/schema/",
        None,
        {"admin": 200, "ops": 200, "member": 200, "outsider": 200, "anonymous": 200},
    ),
]


def fill(template, world):
    refs = {key: getattr(value, "pk", None) for key, value in world.items() if key != "users"}
    refs.update({role: getattr(user, "pk", None) for role, user in world["users"].items()})
    if isinstance(template, dict):
        return {k: fill(v, world) for k, v in template.items()}
    if isinstance(template, str) and template.startswith("{") and template.endswith("}"):
        return refs[template[1:-1]]
    return template.format(**refs) if isinstance(template, str) else template


@pytest.mark.parametrize(
    ("method", "url", "body", "expected"),
    DETAIL,
    ids=[f"{m.upper()} {u}" for m, u, _, _ in DETAIL],
)
@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_answers_each_caller_exactly(
    world, federation, method, url, body, expected, role
):
    client = client_for(world, role)
    response = getattr(client, method)(fill(url, world), fill(body, world), format="json")
    assert response.status_code == expected[role], response.content


# Access to an account that requires MFA: nobody gets it through the API without a fresh
# second-factor check in the browser session, and a token never does (tests/test_mfa.py).
MFA_ACCESS = {"admin": 403, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401}


@pytest.mark.parametrize("role", [*ROLES, "member token"])
def test_access_to_a_require_mfa_account_answers_each_caller_exactly(world, federation, role):
    mfa = AccountFactory(resource=world["R"], name="D", require_mfa=True)
    GrantFactory(account=mfa, user=world["users"]["member"])
    if role == "member token":
        _, raw = token_create(user=world["users"]["member"], name="mfa", scope="access")
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    else:
        client = client_for(world, role)
    response = client.post(f"/api/v1/accounts/{mfa.pk}/access/")
    assert response.status_code == MFA_ACCESS.get(role, 403), response.content
    if role.startswith("member"):
        assert "require_mfa" in response.json()["detail"]
