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
        {"admin": 200, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
    ),
    (
        "put",
        "/api/v1/projects/{Q}/",
        {"name": "Q2", "description": ""},
        {"admin": 200, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/projects/{P}/",
        None,  # still has resources
        {"admin": 409, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
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
        {"admin": 200, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/resources/{R}/",
        None,  # still has accounts
        {"admin": 409, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
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
        {"admin": 200, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/accounts/{A}/",
        None,  # has sessions: history is kept
        {"admin": 409, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/accounts/{C}/",
        None,  # never used
        {"admin": 204, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
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
        "post",
        "/api/v1/grants/",
        {"account": "{C}", "user": "{member}", "kind": "eligible"},
        {"admin": 201, "ops": 403, "member": 403, "outsider": 403, "anonymous": 401},
    ),
    # Just-in-time configuration of an account: admins only, validated before anything.
    (
        "patch",
        "/api/v1/accounts/{A}/",
        {
            "approver_users": ["{outsider}"],
            "approver_groups": [],
            "approvals_required": 2,
            "max_window": "2h",
            "break_glass": True,
        },
        {"admin": 200, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
    ),
    (
        "patch",
        "/api/v1/accounts/{A}/",
        {"max_window": "13h"},
        {"admin": 400, "ops": 404, "member": 403, "outsider": 404, "anonymous": 401},
    ),
    (
        "patch",
        "/api/v1/accounts/{B}/",
        {"approvals_required": 3},
        {"admin": 400, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
    ),
    (
        "delete",
        "/api/v1/grants/{grant_b}/",
        None,
        {"admin": 204, "ops": 404, "member": 404, "outsider": 404, "anonymous": 401},
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
    if isinstance(template, list):
        return [fill(v, world) for v in template]
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


# --- Just-in-time access requests -------------------------------------------------------
# Their own cast: the requester (bob, eligible), the account's two approvers, ops with the
# request history permission, the admin (a superuser: may decide anyone's request but
# their own), an outsider, nobody; and tokens of scope read.
REQUEST_ROLES = [
    "requester",
    "approver",
    "second approver",
    "ops",
    "admin",
    "outsider",
    "anonymous",
    "requester read token",
    "approver read token",
]


@pytest.fixture
def jit_world(world):
    """On resource R: accounts E, G, H that bob is eligible for, decided by pat and
    quinn. bob has a pending request on E and an approved window on G; dave a pending
    request on F (on S, approved by nobody in the cast). H is free for a new request."""
    from access_requests import services
    from access_requests.models import AccessRequest
    from accounts.models import GrantKind

    bob, dave = world["users"]["member"], world["dave_session"].user
    world["users"]["ops"].user_permissions.add(
        Permission.objects.get(codename="view_accessrequest")
    )
    pat = UserFactory(username="pat")
    quinn = UserFactory(username="quinn")
    accounts = {}
    for name in ("E", "G", "H"):
        accounts[name] = AccountFactory(resource=world["R"], name=name)
        GrantFactory(account=accounts[name], user=bob, kind=GrantKind.ELIGIBLE)
        accounts[name].approver_users.add(pat, quinn)
    accounts["F"] = AccountFactory(resource=world["S"], name="F")
    GrantFactory(account=accounts["F"], user=dave, kind=GrantKind.ELIGIBLE)

    def ask(user, account):
        return services.request_create(
            requester=user, account=account, reason="matrix", duration_seconds=3600
        )

    window = services.request_decide(request=ask(bob, accounts["G"]), approver=pat, approve=True)
    users = {
        "requester": bob,
        "approver": pat,
        "second approver": quinn,
        "ops": world["users"]["ops"],
        "admin": world["users"]["admin"],
        "outsider": world["users"]["outsider"],
        "anonymous": None,
    }
    refs = {
        "E": accounts["E"].pk,
        "G": accounts["G"].pk,
        "H": accounts["H"].pk,
        "bob_request": ask(bob, accounts["E"]).pk,
        "bob_window": window.pk,
        "dave_request": ask(dave, accounts["F"]).pk,
    }
    assert AccessRequest.objects.count() == 3
    return {"users": users, "refs": refs}


def request_client(jit_world, role):
    client = APIClient()
    if role.endswith("read token"):
        user = jit_world["users"][role.removesuffix(" read token")]
        _, raw = token_create(user=user, name="matrix", scope="read")
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    elif jit_world["users"][role] is not None:
        client.force_login(jit_world["users"][role])
    return client


def _everyone(answer, **exceptions):
    """`answer` for every signed-in role, 401 for nobody, with the named exceptions
    (role names with spaces written with underscores)."""
    expected = {role: answer for role in REQUEST_ROLES}
    expected["anonymous"] = 401
    expected.update({role.replace("_", " "): code for role, code in exceptions.items()})
    return expected


REQUEST_LISTS = {
    "requester": {"bob_request", "bob_window"},
    "approver": {"bob_request", "bob_window"},
    "second approver": {"bob_request", "bob_window"},
    "ops": {"bob_request", "bob_window", "dave_request"},
    "admin": {"bob_request", "bob_window", "dave_request"},
    "outsider": set(),
    "requester read token": {"bob_request", "bob_window"},
    "approver read token": {"bob_request", "bob_window"},
}


@pytest.mark.parametrize("role", REQUEST_ROLES)
def test_the_request_list_shows_exactly_the_callers_scope(jit_world, role):
    response = request_client(jit_world, role).get("/api/v1/requests/")
    if role == "anonymous":
        assert response.status_code == 401
        return
    assert ids(response) == {jit_world["refs"][key] for key in REQUEST_LISTS[role]}


# Deciding: the requester never decides their own (403); ops see but may not decide
# (403); the outsider does not see (404); a read token may look but not act (403); a
# request no longer pending is a conflict (409) for those who may decide it.
DECIDE = {"requester": 403, "ops": 403, "outsider": 404}
READ_TOKENS = {"requester_read_token": 403, "approver_read_token": 403}
REQUEST_DETAIL = [
    ("get", "/api/v1/requests/{bob_request}/", None, _everyone(200, outsider=404)),
    (
        "get",
        "/api/v1/requests/{dave_request}/",
        None,
        _everyone(404, ops=200, admin=200),
    ),
    (
        "post",
        "/api/v1/requests/",
        {"account": "{H}", "reason": "matrix", "duration": "1h"},
        # Only an eligible person may ask: for anyone else the account is a 404.
        _everyone(404, requester=201, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/",
        {"account": "{H}", "reason": "matrix", "duration": "13h"},
        _everyone(404, requester=400, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/{bob_request}/approve/",
        {"comment": "ok"},
        _everyone(200, **DECIDE, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/{bob_request}/deny/",
        {"comment": "no"},
        _everyone(200, **DECIDE, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/{bob_window}/approve/",
        None,
        _everyone(409, **DECIDE, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/{dave_request}/approve/",
        None,
        # Only the admin may decide it (the global decide permission); ops see it.
        _everyone(404, admin=200, ops=403, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/{bob_request}/cancel/",
        None,
        _everyone(403, requester=200, outsider=404, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/{bob_request}/revoke/",
        None,
        # Pending, not a window: those who may revoke get 409.
        _everyone(409, **DECIDE, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/{bob_window}/revoke/",
        {"comment": "incident over"},
        _everyone(200, **DECIDE, **READ_TOKENS),
    ),
    (
        "post",
        "/api/v1/requests/{bob_window}/cancel/",
        None,
        _everyone(403, requester=200, outsider=404, **READ_TOKENS),
    ),
    # Never edited or deleted; wrong methods tell nothing about existence (a read token
    # is refused a write by its scope first).
    ("delete", "/api/v1/requests/{bob_request}/", None, _everyone(405, **READ_TOKENS)),
    ("patch", "/api/v1/requests/{bob_request}/", {"reason": "x"}, _everyone(405, **READ_TOKENS)),
    ("get", "/api/v1/requests/{bob_request}/approve/", None, _everyone(405)),
]


@pytest.mark.parametrize(
    ("method", "url", "body", "expected"),
    REQUEST_DETAIL,
    ids=[
        f"{m.upper()} {u}" + (f" {b['duration']}" if b and "duration" in b else "")
        for m, u, b, _ in REQUEST_DETAIL
    ],
)
@pytest.mark.parametrize("role", REQUEST_ROLES)
def test_every_request_endpoint_answers_each_caller_exactly(
    jit_world, method, url, body, expected, role
):
    refs = jit_world["refs"]
    path = url.format(**refs)
    if isinstance(body, dict):
        body = {k: refs[v[1:-1]] if str(v).startswith("{") else v for k, v in body.items()}
    response = getattr(request_client(jit_world, role), method)(path, body, format="json")
    assert response.status_code == expected[role], response.content
