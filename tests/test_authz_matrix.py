"""The authorization matrix (issue 16): every URL of the URL conf (the pages, every API
endpoint the DRF router makes, every page the admin site makes for each registered
ModelAdmin) x eight personas, with the exact answer each one gets.

Personas (short names used in the tables):

    su    a superuser (staff)
    adm   an admin of project A (staff)
    apr   an approver in project A (staff)
    aud   an auditor of project A (staff)
    ops   staff holding only sessions_app.view_consolesession, sessions_app.
          revoke_consolesession and access_requests.view_accessrequest
    grt   a standing grant on an account of project A (not staff)
    out   signed in, no role, no grant (not staff)
    anon  nobody signed in

"Inside" objects belong to project A; "outside" ones to project B, where nobody but the
superuser has a role; `{missing}` is an id that names no row.

Each row is one request (method, URL, body) and the answer each persona must get: a
status, LOGIN / ADMIN_LOGIN (a redirect to the site's or the admin's sign-in page), or
Ids(...) (200, listing exactly those objects: a list endpoint or an admin changelist).
Write rows also say which personas' requests must really change something (`writers`,
checked by `effect`), and what an answer must say (`says`). Each persona's request runs
in a savepoint rolled back afterwards, so every persona meets the same world.

`test_every_url_pattern_has_expectations` walks the URL conf and fails listing every
pattern no row reaches: a new URL without a row here turns the suite red.
"""

from __future__ import annotations

import copy
import csv
import io
import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from html.parser import HTMLParser
from typing import Any

import pytest
import responses
from django.contrib import admin
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import transaction
from django.urls import URLPattern, URLResolver, get_resolver, resolve
from django.urls.exceptions import Resolver404
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential
from moto import mock_aws
from rest_framework.test import APIClient

from access_requests import services as request_services
from access_requests.models import AccessRequest, RequestStatus
from accounts.models import AccountGrant, ApiToken, Favourite, GrantKind, PamAccount
from accounts.tokens import token_create
from audit.models import AuditEvent
from identity.models import Preferences
from mfa import services as mfa_services
from mfa.models import RecoveryCodeSet, TotpDevice
from resources.aws import PARTITIONS
from resources.models import AwsIamResource, Project, ProjectRole
from sessions_app.models import ConsoleSession

from .aws_fakes import FederationFake
from .factories import (
    RESOURCE_ROLE_ARN,
    TARGET_ROLE_ARN,
    AccountFactory,
    ConsoleSessionFactory,
    GrantFactory,
    GroupFactory,
    ProjectFactory,
    ResourceFactory,
    UserFactory,
)

PERSONAS = ("su", "adm", "apr", "aud", "ops", "grt", "out", "anon")
STAFF = ("su", "adm", "apr", "aud", "ops")
SIGNED_IN = PERSONAS[:-1]
LOGIN = "302 to /login/"
ADMIN_LOGIN = "302 to /admin/login/"
MISSING_ID = 999_999
# Answers to an admin POST that saved (302 onwards) or showed the form again (200).
SAVED, FORM_AGAIN = 302, 200


class Ids(frozenset):
    """200, listing exactly these objects (names in the world)."""

    def __new__(cls, *names: str) -> Ids:
        return super().__new__(cls, names)

    def __repr__(self) -> str:
        return f"200 listing {{{', '.join(sorted(self))}}}"


def E(default: Any, **by_persona: Any) -> dict[str, Any]:
    """`default` for every persona, but the named ones."""
    unknown = set(by_persona) - set(PERSONAS)
    assert not unknown, unknown
    return {**dict.fromkeys(PERSONAS, default), **by_persona}


def api(default: Any = 404, **by_persona: Any) -> dict[str, Any]:
    """An API answer: anonymous is always 401."""
    return E(default, anon=401, **by_persona)


def refused(seen_by: tuple[str, ...], **allowed: Any) -> dict[str, Any]:
    """An API configuration write: 403 for who sees the object but may not change it,
    404 for who does not see it, 401 anonymous; `allowed` says what the others get."""
    return api(404, **{**dict.fromkeys(seen_by, 403), **allowed})


def page(default: Any = 404, **by_persona: Any) -> dict[str, Any]:
    """A page outside the admin: anonymous is sent to sign in."""
    return E(default, anon=LOGIN, **by_persona)


def staff(default: Any = 403, **by_persona: Any) -> dict[str, Any]:
    """An admin page: who is not staff is sent to the admin's sign-in."""
    unknown = set(by_persona) - set(STAFF)
    assert not unknown, unknown
    return E(default, grt=ADMIN_LOGIN, out=ADMIN_LOGIN, anon=ADMIN_LOGIN, **by_persona)


@dataclass(frozen=True)
class Row:
    method: str
    url: str
    expected: dict[str, Any]
    body: Any = None
    # Personas whose request must change what `effect` reads (True after, False before);
    # for every other persona `effect` must stay False.
    writers: frozenset[str] | None = None
    effect: Callable[[dict], bool] | None = None
    # persona -> a text the answer must contain.
    says: dict[str, str] = field(default_factory=dict)
    # An admin POST: the form as the superuser's browser would send it, from this page
    # (a URL), with the body's fields changed.
    form_from: str | None = None
    label: str = ""

    @property
    def id(self) -> str:
        return f"{self.method.upper()} {self.url}" + (f" [{self.label}]" if self.label else "")


def writes(*personas: str) -> frozenset[str]:
    return frozenset(personas)


# --- The world ---------------------------------------------------------------------------


def build_world() -> dict[str, Any]:
    """Projects A and B. In A: resource RA with accounts AA (grt's standing grant; a live
    session of grt), AJ (rita may request it: her pending request, and a session) and AW
    (rita's approved window); A's admin, approver and auditor are personas. In B (where
    only the superuser holds a role): resource RB, account AB with bea's eligible grant,
    her live session and her pending request. Tokens of grt and bea; bea's second
    factors; three audit events (A's, B's, and one of no project)."""
    now = timezone.now()
    users = {
        "su": UserFactory(username="sue", is_staff=True, is_superuser=True),
        "adm": UserFactory(username="adam", is_staff=True),
        "apr": UserFactory(username="april", is_staff=True),
        "aud": UserFactory(username="audrey", is_staff=True),
        "ops": UserFactory(username="otto", is_staff=True),
        "grt": UserFactory(username="grace"),
        "out": UserFactory(username="oscar"),
    }
    users["ops"].user_permissions.add(
        Permission.objects.get(
            content_type__app_label="sessions_app", codename="view_consolesession"
        ),
        Permission.objects.get(
            content_type__app_label="sessions_app", codename="revoke_consolesession"
        ),
        Permission.objects.get(
            content_type__app_label="access_requests", codename="view_accessrequest"
        ),
    )
    rita, bea = UserFactory(username="rita"), UserFactory(username="bea")
    w: dict[str, Any] = dict(users, rita=rita, bea=bea)
    w["A"], w["B"] = ProjectFactory(name="alpha"), ProjectFactory(name="beta")
    w["RA"] = ResourceFactory(project=w["A"], name="ra")
    w["RB"] = ResourceFactory(project=w["B"], name="rb")
    for name, resource in (("AA", "RA"), ("AJ", "RA"), ("AW", "RA"), ("AB", "RB")):
        w[name] = AccountFactory(resource=w[resource], name=name.lower())
    # AA and AB also hand out CLI credentials (`pam credentials`): who may have them is
    # then the grants' question alone.
    PamAccount.objects.filter(pk__in=[w["AA"].pk, w["AB"].pk]).update(allow_cli_credentials=True)
    w["g_grt"] = GrantFactory(account=w["AA"], user=users["grt"])
    w["g_rita"] = GrantFactory(account=w["AJ"], user=rita, kind=GrantKind.ELIGIBLE)
    w["g_rita_w"] = GrantFactory(account=w["AW"], user=rita, kind=GrantKind.ELIGIBLE)
    w["g_bea"] = GrantFactory(account=w["AB"], user=bea, kind=GrantKind.ELIGIBLE)
    for persona, role in (("adm", "admin"), ("apr", "approver"), ("aud", "auditor")):
        w[f"r_{persona}"] = ProjectRole.objects.create(
            project=w["A"], user=users[persona], role=role
        )
    w["r_b"] = ProjectRole.objects.create(project=w["B"], user=users["su"], role="admin")
    live = {
        "status": "active",
        "activated_at": now - timedelta(minutes=5),
        "expires_at": now + timedelta(minutes=25),
    }
    w["s_grt"] = ConsoleSessionFactory(user=users["grt"], account=w["AA"], **live)
    w["s_rita"] = ConsoleSessionFactory(user=rita, account=w["AJ"])
    w["s_b"] = ConsoleSessionFactory(user=bea, account=w["AB"], **live)

    def ask(user, account):
        return request_services.request_create(
            requester=user, account=account, reason="matrix", duration_seconds=3600
        )

    w["q_pending"] = ask(rita, w["AJ"])
    w["q_window"] = request_services.request_decide(
        request=ask(rita, w["AW"]), approver=users["su"], approve=True
    )
    w["q_b"] = ask(bea, w["AB"])
    w["t_grt"] = token_create(user=users["grt"], name="grace's script")[0]
    w["t_bea"] = token_create(user=bea, name="bea's script")[0]
    w["grp"] = GroupFactory(name="a-team")
    w["totp_bea"] = TotpDevice.objects.create(user=bea, name="phone", sealed_key="v1:x")
    w["passkey_bea"] = WebAuthnCredential.objects.create(
        user=bea, name="laptop", credential_id=b"id", public_key=b"key", credential_id_sha256="a"
    )
    mfa_services.recovery_codes_generate(user=bea)
    w["codes_bea"] = RecoveryCodeSet.objects.get(user=bea)
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    seen = {"username": "bea", "ip_address": "192.0.2.1", "user_agent": "x", "http_accept": "*/*"}
    w["attempt"] = AccessAttempt.objects.create(
        **seen, path_info="/login/", get_data="", post_data="", failures_since_start=1
    )
    w["access_log"] = AccessLog.objects.create(**seen, path_info="/login/")
    w["failure_log"] = AccessFailureLog.objects.create(**seen, path_info="/login/")
    # Exactly three events: A's, B's and one of no project (a user's).
    AuditEvent.objects.all().delete()
    event = {"actor_name": "someone", "action": "update", "changes": {}, "via": "admin"}
    w["ev_a"] = AuditEvent.objects.create(
        **event, object_type="accounts.pamaccount", object_id=str(w["AA"].pk), project_id=w["A"].pk
    )
    w["ev_b"] = AuditEvent.objects.create(
        **event, object_type="accounts.pamaccount", object_id=str(w["AB"].pk), project_id=w["B"].pk
    )
    w["ev_none"] = AuditEvent.objects.create(
        **event, object_type="auth.user", object_id=str(bea.pk), project_id=None
    )
    w["ct_account"] = ContentType.objects.get_for_model(PamAccount)
    w["now"] = now.strftime("%Y-%m-%dT%H:%M:%SZ")  # no "+": it goes in a query string
    return w


@pytest.fixture(scope="module")
def _built(django_db_setup, django_db_blocker):
    """The world, built once per worker (it is the slow part) inside a transaction
    rolled back at the end; each test runs in a savepoint of it (`db`), and each
    persona's request in a savepoint of that. AWS (moto) and the federation endpoint
    are faked around it all, as tests/conftest.py's `aws` and `federation` do."""
    with (
        django_db_blocker.unblock(),
        mock_aws(),
        responses.RequestsMock(assert_all_requests_are_fired=False) as mock,
    ):
        fake = FederationFake()
        for partition in PARTITIONS.values():
            mock.add_callback(
                responses.GET, f"https://{partition.signin_host}/federation", callback=fake
            )
        outer = transaction.atomic()
        outer.__enter__()
        try:
            world = build_world()
            yield world, clients_for(world)
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


@pytest.fixture
def world(_built, db, no_retry_delay):
    return _built[0]


@pytest.fixture
def clients(_built, db):
    return _built[1]


def ref(world: dict, name: str, me: User | None) -> Any:
    if name == "me":
        return me.pk if me is not None else None
    if name == "missing":
        return MISSING_ID
    value = world[name]
    return getattr(value, "pk", value)


def fill(template: Any, world: dict, me: User | None = None) -> Any:
    """{name} -> the world's object's id ({me}: the persona's own; {missing}: none)."""
    if isinstance(template, dict):
        return {fill(k, world, me): fill(v, world, me) for k, v in template.items()}
    if isinstance(template, list):
        return [fill(v, world, me) for v in template]
    if not isinstance(template, str):
        return template
    whole = re.fullmatch(r"\{(\w+)\}", template)
    if whole:
        return ref(world, whole.group(1), me)
    return re.sub(r"\{(\w+)\}", lambda m: str(ref(world, m.group(1), me)), template)


# --- Pages outside the admin and the API ----------------------------------------------

A_HISTORY = ("su", "adm", "apr", "aud", "ops")  # who reads A's requests and sessions


def request_status(name: str, status: str) -> Callable[[dict], bool]:
    return lambda w: AccessRequest.objects.get(pk=w[name].pk).status == status


PAGES = [
    Row("get", "/healthz", E(200)),
    Row("get", "/readyz", E(200)),
    Row("get", "/favicon.ico", E(301)),
    # Only a scraper with PAM_METRICS_TOKEN or from PAM_METRICS_ALLOWED_IPS (neither set
    # here; tests/test_operations.py has both): a 404 for every persona, superusers too.
    Row("get", "/metrics", E(404)),
    Row("get", "/login/", E(200)),
    # No IdP configured: the OpenID Connect endpoints do not exist.
    Row("get", "/oidc/authenticate/", E(404)),
    Row("get", "/oidc/callback/", E(404)),
    Row("post", "/logout/", E(LOGIN)),
    Row("get", "/admin/login/", E(LOGIN)),
    Row("get", "/", page(200)),
    Row("get", "/accounts/{AA}/", page(404, grt=200)),
    Row("get", "/accounts/{AB}/", page(404)),
    Row("get", "/accounts/{missing}/", page(404)),
    Row("post", "/accounts/{AA}/access/", page(404, grt=302)),
    Row("post", "/accounts/{AB}/access/", page(404)),
    # The star: only on an account granted to one (a favourite confers nothing, but an
    # account one may not see stays a 404).
    Row(
        "post",
        "/accounts/{AA}/favourite/",
        page(404, grt=302),
        body={"state": "on"},
        writers=writes("grt"),
        effect=lambda w: Favourite.objects.filter(account=w["AA"]).exists(),
    ),
    Row(
        "post",
        "/accounts/{AB}/favourite/",
        page(404),
        body={"state": "on"},
        writers=writes(),
        effect=lambda w: Favourite.objects.filter(account=w["AB"]).exists(),
    ),
    Row("get", "/sessions/", page(200)),
    # One's own preferences (sign out of the previous console first): everyone's own.
    Row("get", "/preferences/", page(200)),
    Row(
        "post",
        "/preferences/",
        page(302),
        body={"logout_first": "on"},
        writers=writes(*SIGNED_IN),
        effect=lambda w: Preferences.objects.filter(logout_first=True).exists(),
    ),
    # The sessions page is one's own: its Revoke is for one's own sessions.
    Row("post", "/sessions/{s_grt}/revoke/", page(404, grt=302), body={"reason": "matrix"}),
    Row("post", "/sessions/{s_b}/revoke/", page(404), body={"reason": "matrix"}),
    Row("get", "/requests/", page(200)),
    Row("get", "/approvals/", page(200)),
    # Nobody of the cast is eligible for AJ (rita is): the form is a 404.
    Row("get", "/requests/new/?account={AJ}", page(404)),
    Row("get", "/requests/{q_pending}/", page(404, **dict.fromkeys(A_HISTORY, 200))),
    Row("get", "/requests/{q_b}/", page(404, su=200, ops=200)),
    Row("get", "/requests/{missing}/", page(404)),
    # Who sees the request is sent back with a message (done, or the rule that said no).
    Row(
        "post",
        "/requests/{q_pending}/approve/",
        page(404, **dict.fromkeys(A_HISTORY, 302)),
        writers=writes("su", "apr"),
        effect=request_status("q_pending", RequestStatus.APPROVED),
    ),
    Row(
        "post",
        "/requests/{q_pending}/deny/",
        page(404, **dict.fromkeys(A_HISTORY, 302)),
        writers=writes("su", "apr"),
        effect=request_status("q_pending", RequestStatus.DENIED),
    ),
    Row(
        "post",
        "/requests/{q_pending}/cancel/",
        page(404, **dict.fromkeys(A_HISTORY, 302)),
        writers=writes(),  # only rita, its requester
        effect=request_status("q_pending", RequestStatus.CANCELLED),
    ),
    Row(
        "post",
        "/requests/{q_window}/revoke/",
        page(404, **dict.fromkeys(A_HISTORY, 302)),
        writers=writes("su", "apr"),
        effect=request_status("q_window", RequestStatus.REVOKED),
    ),
    Row(
        "post",
        "/requests/{q_b}/approve/",
        page(404, su=302, ops=302),
        writers=writes("su"),
        effect=request_status("q_b", RequestStatus.APPROVED),
    ),
    # Second factors: one's own only (bea's device is nobody's of the cast).
    Row("get", "/security/", page(200)),
    Row("get", "/security/verify/", page(302)),  # no device yet: sent to add one
    Row("get", "/security/totp/", page(200)),
    Row("post", "/security/recovery-codes/", page(302)),
    Row(
        "post",
        "/security/devices/totp/{totp_bea}/remove/",
        page(404),
        writers=writes(),
        effect=lambda w: not TotpDevice.objects.filter(pk=w["totp_bea"].pk).exists(),
    ),
    Row("post", "/security/passkeys/registration/begin/", E(200, anon=403)),
    Row("post", "/security/passkeys/registration/complete/", E(400, anon=403)),
    Row("post", "/security/passkeys/authentication/begin/", E(200, anon=403)),
    Row("post", "/security/passkeys/authentication/complete/", E(400, anon=403)),
    Row("get", "/security/passkeys/jsi18n/", E(200)),
]


# --- The API -------------------------------------------------------------------------

SEE_A = ("su", "adm", "apr", "aud", "grt")  # project A, account AA
SEE_RA = ("su", "adm", "aud", "grt")  # resource RA, grant g_grt (approvers: not theirs)
SEE_ROLE = ("su", "adm", "apr", "aud")  # r_apr: A's admins and auditors, and its holder
SEE_SESSION = ("su", "adm", "apr", "aud", "ops", "grt")  # s_grt
ONLY_SU = ("su",)
MAY_REVOKE_A = ("su", "adm", "apr", "ops")  # A's admins and approvers, ops, superusers

NOT_MINE = "Select a valid choice"
SELF = "another admin must do it"


def exists(model: type, **lookup: Any) -> Callable[[dict], bool]:
    return lambda w: model.objects.filter(**fill(lookup, w)).exists()


def gone(model: type, name: str) -> Callable[[dict], bool]:
    return lambda w: not model.objects.filter(pk=w[name].pk).exists()


API = [
    Row("get", "/api/v1/", api(200)),
    Row("get", "/api/schema/", E(200)),
    Row("get", "/api/docs/", E(200)),
    Row("get", "/api/redoc/", E(200)),
    # Projects: seen by everyone with a role in them or granted one of their accounts;
    # changed by their admins; created and deleted only by superusers.
    Row(
        "get",
        "/api/v1/projects/",
        api(
            su=Ids("A", "B"),
            adm=Ids("A"),
            apr=Ids("A"),
            aud=Ids("A"),
            ops=Ids(),
            grt=Ids("A"),
            out=Ids(),
        ),
    ),
    Row("get", "/api/v1/projects/{A}/", api(404, **dict.fromkeys(SEE_A, 200))),
    Row("get", "/api/v1/projects/{B}/", api(404, su=200)),
    Row("get", "/api/v1/projects/{missing}/", api(404)),
    Row(
        "post",
        "/api/v1/projects/",
        api(403, su=201),
        body={"name": "gamma"},
        writers=writes("su"),
        effect=exists(Project, name="gamma"),
    ),
    Row(
        "patch",
        "/api/v1/projects/{A}/",
        refused(SEE_A, su=200, adm=200),
        body={"description": "changed"},
        writers=writes("su", "adm"),
        effect=exists(Project, pk="{A}", description="changed"),
    ),
    Row(
        "patch",
        "/api/v1/projects/{B}/",
        refused(ONLY_SU, su=200),
        body={"description": "changed"},
        writers=writes("su"),
        effect=exists(Project, pk="{B}", description="changed"),
    ),
    Row("patch", "/api/v1/projects/{missing}/", api(404), body={"description": "x"}),
    # Still holding resources: past the rules, a conflict.
    Row("delete", "/api/v1/projects/{A}/", refused(SEE_A, su=409)),
    Row("delete", "/api/v1/projects/{B}/", refused(ONLY_SU, su=409)),
    # Resources (creating one assumes its Resource Role: moto answers).
    Row(
        "get",
        "/api/v1/resources/",
        api(
            su=Ids("RA", "RB"),
            adm=Ids("RA"),
            apr=Ids(),
            aud=Ids("RA"),
            ops=Ids(),
            grt=Ids("RA"),
            out=Ids(),
        ),
    ),
    Row("get", "/api/v1/resources/{RA}/", api(404, **dict.fromkeys(SEE_RA, 200))),
    Row("get", "/api/v1/resources/{RB}/", api(404, su=200)),
    Row("get", "/api/v1/resources/{missing}/", api(404)),
    Row(
        "post",
        "/api/v1/resources/",
        api(403, su=201, adm=201),
        body={"project": "{A}", "name": "rc", "resource_role_arn": RESOURCE_ROLE_ARN},
        writers=writes("su", "adm"),
        effect=exists(AwsIamResource, name="rc"),
        label="in A",
    ),
    Row(
        "post",
        "/api/v1/resources/",
        api(403, su=201, adm=400),
        body={"project": "{B}", "name": "rc", "resource_role_arn": RESOURCE_ROLE_ARN},
        writers=writes("su"),
        effect=exists(AwsIamResource, name="rc"),
        says={"adm": NOT_MINE},
        label="in B",
    ),
    Row(
        "patch",
        "/api/v1/resources/{RA}/",
        refused(SEE_RA, su=200, adm=200),
        body={"name": "renamed"},
        writers=writes("su", "adm"),
        effect=exists(AwsIamResource, pk="{RA}", name="renamed"),
    ),
    Row(
        "patch",
        "/api/v1/resources/{RB}/",
        refused(ONLY_SU, su=200),
        body={"name": "renamed"},
        writers=writes("su"),
        effect=exists(AwsIamResource, pk="{RB}", name="renamed"),
    ),
    Row("delete", "/api/v1/resources/{RA}/", refused(SEE_RA, su=409, adm=409)),
    Row("delete", "/api/v1/resources/{RB}/", refused(ONLY_SU, su=409)),
    # Accounts (creating one assumes both roles: moto answers).
    Row(
        "get",
        "/api/v1/accounts/",
        api(
            su=Ids("AA", "AJ", "AW", "AB"),
            adm=Ids("AA", "AJ", "AW"),
            apr=Ids("AA", "AJ", "AW"),
            aud=Ids("AA", "AJ", "AW"),
            ops=Ids(),
            grt=Ids("AA"),
            out=Ids(),
        ),
    ),
    Row("get", "/api/v1/accounts/{AA}/", api(404, **dict.fromkeys(SEE_A, 200))),
    Row("get", "/api/v1/accounts/{AB}/", api(404, su=200)),
    Row("get", "/api/v1/accounts/{missing}/", api(404)),
    Row(
        "post",
        "/api/v1/accounts/",
        api(403, su=201, adm=201),
        body={
            "resource": "{RA}",
            "name": "ac",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": "30m",
        },
        writers=writes("su", "adm"),
        effect=exists(PamAccount, name="ac"),
        label="in A",
    ),
    Row(
        "post",
        "/api/v1/accounts/",
        api(403, su=201, adm=400),
        body={
            "resource": "{RB}",
            "name": "ac",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": "30m",
        },
        writers=writes("su"),
        effect=exists(PamAccount, name="ac"),
        says={"adm": NOT_MINE},
        label="in B",
    ),
    Row(
        "patch",
        "/api/v1/accounts/{AA}/",
        refused(SEE_A, su=200, adm=200),
        body={"description": "changed"},
        writers=writes("su", "adm"),
        effect=exists(PamAccount, pk="{AA}", description="changed"),
    ),
    Row(
        "patch",
        "/api/v1/accounts/{AA}/",
        refused(SEE_A, su=400, adm=400),
        body={"approver_users": ["{me}"]},
        writers=writes(),
        effect=lambda w: w["AA"].approver_users.exists(),
        says={"su": SELF, "adm": SELF},
        label="oneself an approver",
    ),
    Row(
        "patch",
        "/api/v1/accounts/{AB}/",
        refused(ONLY_SU, su=200),
        body={"description": "changed"},
        writers=writes("su"),
        effect=exists(PamAccount, pk="{AB}", description="changed"),
    ),
    # History is kept: an account with sessions cannot be deleted.
    Row("delete", "/api/v1/accounts/{AA}/", refused(SEE_A, su=409, adm=409)),
    Row("delete", "/api/v1/accounts/{AB}/", refused(ONLY_SU, su=409)),
    # Access: only the granted; who sees the account otherwise is told they are not.
    Row(
        "post",
        "/api/v1/accounts/{AA}/access/",
        api(404, su=403, adm=403, apr=403, aud=403, grt=200),
    ),
    Row("post", "/api/v1/accounts/{AB}/access/", api(404, su=403)),
    # CLI credentials: the same answers as Access (the chain without its federation step).
    Row(
        "post",
        "/api/v1/accounts/{AA}/credentials/",
        api(404, su=403, adm=403, apr=403, aud=403, grt=200),
        says={"grt": '"Version":1', "adm": "not granted"},
        writers=writes("grt"),
        effect=exists(ConsoleSession, account="{AA}", kind="credentials", status="active"),
    ),
    Row("post", "/api/v1/accounts/{AB}/credentials/", api(404, su=403)),
    # Revoke every session of the Target Role: past the rules, IAM (moto has no such
    # role) refuses the write: 502. The global revoke permission acts everywhere (SPEC
    # "Separation of duties"), so ops get past the rules on A's and B's accounts too.
    Row(
        "post",
        "/api/v1/accounts/{AA}/revoke_sessions/",
        refused(("aud", "grt"), **dict.fromkeys(MAY_REVOKE_A, 502)),
        body={"reason": "matrix"},
    ),
    Row(
        "post",
        "/api/v1/accounts/{AB}/revoke_sessions/",
        api(404, su=502, ops=502),
        body={"reason": "matrix"},
    ),
    # Grants.
    Row(
        "get",
        "/api/v1/grants/",
        api(
            su=Ids("g_grt", "g_rita", "g_rita_w", "g_bea"),
            adm=Ids("g_grt", "g_rita", "g_rita_w"),
            apr=Ids(),
            aud=Ids("g_grt", "g_rita", "g_rita_w"),
            ops=Ids(),
            grt=Ids("g_grt"),
            out=Ids(),
        ),
    ),
    Row("get", "/api/v1/grants/{g_grt}/", api(404, **dict.fromkeys(SEE_RA, 200))),
    Row("get", "/api/v1/grants/{g_bea}/", api(404, su=200)),
    Row("get", "/api/v1/grants/{missing}/", api(404)),
    Row(
        "post",
        "/api/v1/grants/",
        api(403, su=201, adm=201),
        body={"account": "{AA}", "user": "{out}"},
        writers=writes("su", "adm"),
        effect=exists(AccountGrant, account="{AA}", user="{out}"),
        label="A's account to the outsider",
    ),
    Row(
        "post",
        "/api/v1/grants/",
        api(403, su=201, adm=400),
        body={"account": "{AB}", "user": "{out}"},
        writers=writes("su"),
        effect=exists(AccountGrant, account="{AB}", user="{out}"),
        says={"adm": NOT_MINE},
        label="B's account to the outsider",
    ),
    Row(
        "post",
        "/api/v1/grants/",
        api(403, su=400, adm=400),
        body={"account": "{AA}", "user": "{me}", "kind": "eligible"},
        writers=writes(),
        effect=exists(AccountGrant, account="{AA}", kind="eligible"),
        says={"su": SELF, "adm": SELF},
        label="to oneself",
    ),
    Row(
        "delete",
        "/api/v1/grants/{g_grt}/",
        refused(SEE_RA, su=204, adm=204),
        writers=writes("su", "adm"),
        effect=gone(AccountGrant, "g_grt"),
    ),
    Row(
        "delete",
        "/api/v1/grants/{g_bea}/",
        refused(ONLY_SU, su=204),
        writers=writes("su"),
        effect=gone(AccountGrant, "g_bea"),
    ),
    # Project roles: given (never to oneself) and taken back by the project's admins.
    Row(
        "get",
        "/api/v1/project-roles/",
        api(
            su=Ids("r_adm", "r_apr", "r_aud", "r_b"),
            adm=Ids("r_adm", "r_apr", "r_aud"),
            apr=Ids("r_apr"),
            aud=Ids("r_adm", "r_apr", "r_aud"),
            ops=Ids(),
            grt=Ids(),
            out=Ids(),
        ),
    ),
    Row("get", "/api/v1/project-roles/{r_apr}/", api(404, **dict.fromkeys(SEE_ROLE, 200))),
    Row("get", "/api/v1/project-roles/{r_b}/", api(404, su=200)),
    Row("get", "/api/v1/project-roles/{missing}/", api(404)),
    Row(
        "post",
        "/api/v1/project-roles/",
        api(403, su=201, adm=201),
        body={"project": "{A}", "role": "auditor", "user": "{out}"},
        writers=writes("su", "adm"),
        effect=exists(ProjectRole, project="{A}", user="{out}"),
        label="in A for the outsider",
    ),
    Row(
        "post",
        "/api/v1/project-roles/",
        api(403, su=201, adm=400),
        body={"project": "{B}", "role": "auditor", "user": "{out}"},
        writers=writes("su"),
        effect=exists(ProjectRole, project="{B}", user="{out}"),
        says={"adm": NOT_MINE},
        label="in B for the outsider",
    ),
    Row(
        "post",
        "/api/v1/project-roles/",
        api(403, su=400, adm=400),
        body={"project": "{A}", "role": "approver", "user": "{me}"},
        writers=writes(),
        effect=exists(
            ProjectRole, project="{A}", role="approver", user__username__in=["sue", "adam"]
        ),
        says={"su": SELF, "adm": SELF},
        label="for oneself",
    ),
    Row(
        "delete",
        "/api/v1/project-roles/{r_apr}/",
        refused(SEE_ROLE, su=204, adm=204),
        writers=writes("su", "adm"),
        effect=gone(ProjectRole, "r_apr"),
    ),
    Row(
        "delete",
        "/api/v1/project-roles/{r_b}/",
        refused(ONLY_SU, su=204),
        writers=writes("su"),
        effect=gone(ProjectRole, "r_b"),
    ),
    # Sessions: history, read by ops everywhere and by A's roles in A.
    Row(
        "get",
        "/api/v1/sessions/",
        api(
            su=Ids("s_grt", "s_rita", "s_b"),
            adm=Ids("s_grt", "s_rita"),
            apr=Ids("s_grt", "s_rita"),
            aud=Ids("s_grt", "s_rita"),
            ops=Ids("s_grt", "s_rita", "s_b"),
            grt=Ids("s_grt"),
            out=Ids(),
        ),
    ),
    Row("get", "/api/v1/sessions/{s_grt}/", api(404, **dict.fromkeys(SEE_SESSION, 200))),
    Row("get", "/api/v1/sessions/{s_b}/", api(404, su=200, ops=200)),
    Row("get", "/api/v1/sessions/{missing}/", api(404)),
    Row("delete", "/api/v1/sessions/{s_grt}/", api(405)),
    Row(
        "get",
        "/api/v1/sessions/who_had_access/?account={AA}&at={now}",
        api(**dict.fromkeys(SEE_SESSION, Ids("s_grt")), out=Ids()),
    ),
    Row(
        "get",
        "/api/v1/sessions/who_had_access/?account={AB}&at={now}",
        api(Ids(), su=Ids("s_b"), ops=Ids("s_b")),
    ),
    # Past the rules, the session has no recorded assumed role id: 400 naming that rule.
    Row(
        "post",
        "/api/v1/sessions/{s_grt}/revoke/",
        api(404, **dict.fromkeys((*MAY_REVOKE_A, "grt"), 400), aud=403),
        body={"reason": "matrix"},
    ),
    Row(
        "post",
        "/api/v1/sessions/{s_b}/revoke/",
        api(404, su=400, ops=400),
        body={"reason": "matrix"},
    ),
    # Access requests: decided by approvers (A's approver: AJ and AW name nobody).
    Row(
        "get",
        "/api/v1/requests/",
        api(
            su=Ids("q_pending", "q_window", "q_b"),
            adm=Ids("q_pending", "q_window"),
            apr=Ids("q_pending", "q_window"),
            aud=Ids("q_pending", "q_window"),
            ops=Ids("q_pending", "q_window", "q_b"),
            grt=Ids(),
            out=Ids(),
        ),
    ),
    Row("get", "/api/v1/requests/{q_pending}/", api(404, **dict.fromkeys(A_HISTORY, 200))),
    Row("get", "/api/v1/requests/{q_b}/", api(404, su=200, ops=200)),
    Row("get", "/api/v1/requests/{missing}/", api(404)),
    Row(
        "post",
        "/api/v1/requests/",
        api(404),  # nobody of the cast is eligible for AJ
        body={"account": "{AJ}", "reason": "matrix", "duration": "1h"},
    ),
    Row(
        "post",
        "/api/v1/requests/{q_pending}/approve/",
        api(404, su=200, apr=200, adm=403, aud=403, ops=403),
        writers=writes("su", "apr"),
        effect=request_status("q_pending", RequestStatus.APPROVED),
    ),
    Row(
        "post",
        "/api/v1/requests/{q_pending}/deny/",
        api(404, su=200, apr=200, adm=403, aud=403, ops=403),
        writers=writes("su", "apr"),
        effect=request_status("q_pending", RequestStatus.DENIED),
    ),
    Row(
        "post",
        "/api/v1/requests/{q_pending}/cancel/",
        api(404, **dict.fromkeys(A_HISTORY, 403)),
        writers=writes(),
        effect=request_status("q_pending", RequestStatus.CANCELLED),
    ),
    Row(
        "post",
        "/api/v1/requests/{q_window}/revoke/",
        api(404, su=200, apr=200, adm=403, aud=403, ops=403),
        writers=writes("su", "apr"),
        effect=request_status("q_window", RequestStatus.REVOKED),
    ),
    Row(
        "post",
        "/api/v1/requests/{q_b}/approve/",
        api(404, su=200, ops=403),
        writers=writes("su"),
        effect=request_status("q_b", RequestStatus.APPROVED),
    ),
    Row("post", "/api/v1/requests/{missing}/deny/", api(404)),
    # API tokens: one's own; superusers see and revoke everyone's.
    Row("get", "/api/v1/tokens/", api(Ids(), su=Ids("t_grt", "t_bea"), grt=Ids("t_grt"))),
    Row("get", "/api/v1/tokens/{t_grt}/", api(404, su=200, grt=200)),
    Row("get", "/api/v1/tokens/{t_bea}/", api(404, su=200)),
    Row("get", "/api/v1/tokens/{missing}/", api(404)),
    Row(
        "post",
        "/api/v1/tokens/",
        api(201),
        body={"name": "matrix"},
        writers=writes(*SIGNED_IN),
        effect=exists(ApiToken, name="matrix"),
    ),
    Row(
        "delete",
        "/api/v1/tokens/{t_grt}/",
        api(404, su=204, grt=204),
        writers=writes("su", "grt"),
        effect=exists(ApiToken, pk="{t_grt}", revoked_at__isnull=False),
    ),
    Row(
        "delete",
        "/api/v1/tokens/{t_bea}/",
        api(404, su=204),
        writers=writes("su"),
        effect=exists(ApiToken, pk="{t_bea}", revoked_at__isnull=False),
    ),
    # The audit log: superusers all of it, A's admins and auditors A's events, everyone
    # else (ops too: they do not hold audit.view_auditevent) nothing.
    Row(
        "get",
        "/api/v1/audit/",
        api(Ids(), su=Ids("ev_a", "ev_b", "ev_none"), adm=Ids("ev_a"), aud=Ids("ev_a")),
    ),
    Row(
        "get",
        "/api/v1/audit/?format=jsonl",
        api(Ids(), su=Ids("ev_a", "ev_b", "ev_none"), adm=Ids("ev_a"), aud=Ids("ev_a")),
    ),
    Row(
        "get",
        "/api/v1/audit/?format=csv",
        api(Ids(), su=Ids("ev_a", "ev_b", "ev_none"), adm=Ids("ev_a"), aud=Ids("ev_a")),
    ),
    Row("get", "/api/v1/audit/{ev_a}/", api(404, su=200, adm=200, aud=200)),
    Row("get", "/api/v1/audit/{ev_b}/", api(404, su=200)),
    Row("get", "/api/v1/audit/{missing}/", api(404)),
    Row("delete", "/api/v1/audit/{ev_a}/", api(405)),
]


# --- The admin -----------------------------------------------------------------------


@dataclass(frozen=True)
class AdminModel:
    """What each staff persona may do with one registered ModelAdmin. `restricted`:
    a RestrictedAdmin (rows outside one's scope are 404); otherwise Django's own model
    permissions (403 for staff without them). Who is not staff always goes to sign in."""

    label: str
    inside: str
    lists: dict[str, Any]  # staff persona -> Ids(...) or a status (403)
    sees: tuple[str, ...]  # the inside object's change and history pages
    adds: tuple[str, ...] = ()
    deletes: tuple[str, ...] = ()  # the inside object's delete page
    outside: str | None = None
    sees_outside: tuple[str, ...] = ONLY_SU
    deletes_outside: tuple[str, ...] = ()
    restricted: bool = True


A_ROLES = Ids("r_adm", "r_apr", "r_aud")
ADMIN_MODELS = [
    AdminModel(
        "resources.project",
        inside="A",
        outside="B",
        lists={"su": Ids("A", "B"), "adm": Ids("A"), "apr": Ids("A"), "aud": Ids("A"), "ops": 403},
        sees=("su", "adm", "apr", "aud"),
        adds=ONLY_SU,
        deletes=ONLY_SU,
        deletes_outside=ONLY_SU,
    ),
    AdminModel(
        "resources.awsiamresource",
        inside="RA",
        outside="RB",
        lists={"su": Ids("RA", "RB"), "adm": Ids("RA"), "apr": 403, "aud": Ids("RA"), "ops": 403},
        sees=("su", "adm", "aud"),
        adds=("su", "adm"),
        deletes=("su", "adm"),
        deletes_outside=ONLY_SU,
    ),
    AdminModel(
        "resources.projectrole",
        inside="r_apr",
        outside="r_b",
        lists={"su": Ids(*A_ROLES, "r_b"), "adm": A_ROLES, "apr": 403, "aud": A_ROLES, "ops": 403},
        sees=("su", "adm", "apr", "aud"),  # the approver: their own role
        adds=("su", "adm"),
        deletes=("su", "adm"),
        deletes_outside=ONLY_SU,
    ),
    AdminModel(
        "accounts.pamaccount",
        inside="AA",
        outside="AB",
        lists={
            "su": Ids("AA", "AJ", "AW", "AB"),
            "adm": Ids("AA", "AJ", "AW"),
            "apr": Ids("AA", "AJ", "AW"),
            "aud": Ids("AA", "AJ", "AW"),
            "ops": 403,
        },
        sees=("su", "adm", "apr", "aud"),
        adds=("su", "adm"),
        deletes=("su", "adm"),
        deletes_outside=ONLY_SU,
    ),
    AdminModel(
        "access_requests.accessrequest",
        inside="q_pending",
        outside="q_b",
        lists={
            "su": Ids("q_pending", "q_window", "q_b"),
            "adm": Ids("q_pending", "q_window"),
            "apr": Ids("q_pending", "q_window"),
            "aud": Ids("q_pending", "q_window"),
            "ops": Ids("q_pending", "q_window", "q_b"),
        },
        sees=A_HISTORY,
        sees_outside=("su", "ops"),
    ),
    AdminModel(
        "sessions_app.consolesession",
        inside="s_grt",
        outside="s_b",
        lists={
            "su": Ids("s_grt", "s_rita", "s_b"),
            "adm": Ids("s_grt", "s_rita"),
            "apr": Ids("s_grt", "s_rita"),
            "aud": Ids("s_grt", "s_rita"),
            "ops": Ids("s_grt", "s_rita", "s_b"),
        },
        sees=A_HISTORY,
        sees_outside=("su", "ops"),
    ),
    AdminModel(
        "audit.auditevent",
        inside="ev_a",
        outside="ev_b",
        lists={
            "su": Ids("ev_a", "ev_b", "ev_none"),
            "adm": Ids("ev_a"),
            "apr": 403,
            "aud": Ids("ev_a"),
            "ops": 403,
        },
        sees=("su", "adm", "aud"),
    ),
    # Not of any project: Django's model permissions, which only the superuser holds.
    AdminModel(
        "accounts.apitoken",
        inside="t_grt",
        outside="t_bea",
        lists={"su": Ids("t_grt", "t_bea"), **dict.fromkeys(STAFF[1:], 403)},
        sees=ONLY_SU,
        restricted=False,
    ),
    AdminModel(
        "auth.user",
        inside="grt",
        lists={"su": 200, **dict.fromkeys(STAFF[1:], 403)},
        sees=ONLY_SU,
        adds=ONLY_SU,
        deletes=ONLY_SU,
        restricted=False,
    ),
    AdminModel(
        "auth.group",
        inside="grp",
        lists={"su": 200, **dict.fromkeys(STAFF[1:], 403)},
        sees=ONLY_SU,
        adds=ONLY_SU,
        deletes=ONLY_SU,
        restricted=False,
    ),
    *(
        AdminModel(
            label,
            inside=inside,
            lists={"su": 200, **dict.fromkeys(STAFF[1:], 403)},
            sees=ONLY_SU,
            deletes=ONLY_SU,
            restricted=False,
        )
        for label, inside in (
            ("axes.accessattempt", "attempt"),
            ("axes.accesslog", "access_log"),
            ("axes.accessfailurelog", "failure_log"),
            ("mfa.totpdevice", "totp_bea"),
            ("mfa.recoverycodeset", "codes_bea"),
            ("django_otp_webauthn.webauthncredential", "passkey_bea"),
        )
    ),
]


def _object_pages(model: AdminModel, name: str, sees: tuple, deletes: tuple) -> list[Row]:
    base = f"/admin/{model.label.replace('.', '/')}/{{{name}}}"
    hidden = 404 if model.restricted else 403
    view = staff(hidden, **dict.fromkeys(sees, 200))
    if model.restricted:
        delete = staff(404, **{**dict.fromkeys(sees, 403), **dict.fromkeys(deletes, 200)})
    else:
        delete = staff(403, **dict.fromkeys(deletes, 200))
    return [
        Row("get", f"{base}/change/", view),
        Row("get", f"{base}/history/", view),
        Row("get", f"{base}/delete/", delete),
        # The bare object URL redirects to its change page (which decides).
        Row("get", f"{base}/", staff(302)),
    ]


def admin_rows(model: AdminModel) -> list[Row]:
    prefix = f"/admin/{model.label.replace('.', '/')}"
    rows = [
        Row("get", f"{prefix}/", staff(**model.lists)),
        Row("get", f"{prefix}/add/", staff(403, **dict.fromkeys(model.adds, 200))),
        *_object_pages(model, model.inside, model.sees, model.deletes),
    ]
    if model.outside:
        rows += _object_pages(model, model.outside, model.sees_outside, model.deletes_outside)[:3]
    if model.restricted:
        # RestrictedAdmin.get_object: no row, or not one's, is a 404 (superusers too).
        missing = {"change": staff(404), "history": staff(404), "delete": staff(404)}
    else:
        # Django: the permission first (403), then "doesn't exist" (302 to the index);
        # the history page looks the row up first, but for tokens (ApiTokenAdmin checks
        # the permission first there too: their list is narrowed to one's own).
        first = model.label == "accounts.apitoken"
        missing = {
            "change": staff(403, **dict.fromkeys(model.sees, 302)),
            "history": staff(403, **dict.fromkeys(model.sees, 302)) if first else staff(302),
            "delete": staff(403, **dict.fromkeys(model.deletes, 302)),
        }
    rows += [Row("get", f"{prefix}/{{missing}}/{page}/", e) for page, e in missing.items()]
    return rows


# An app's index lists the models one may see; with none, Django answers 404.
APP_INDEX = {
    "auth": ONLY_SU,
    "axes": ONLY_SU,
    "resources": ("su", "adm", "apr", "aud"),
    "accounts": ("su", "adm", "apr", "aud"),
    "access_requests": STAFF,
    "sessions_app": STAFF,
    "audit": ("su", "adm", "aud"),
    "mfa": ONLY_SU,
    "django_otp_webauthn": ONLY_SU,
}

SESSION_LISTS = ADMIN_MODELS[5].lists
ADMIN_SITE = [
    Row("get", "/admin/", staff(200)),
    # Signs staff out, to the site's sign-in; Django's admin sends anyone else to its index
    # (admin_view's rule for the logout URL), changing nothing.
    Row("post", "/admin/logout/", E(LOGIN, grt=302, out=302, anon=302)),
    Row("get", "/admin/password_change/", staff(200)),
    Row("get", "/admin/password_change/done/", staff(200)),
    Row("get", "/admin/jsi18n/", staff(200)),
    # No model here has a page on the site: "view on site" is a 404 for every object.
    Row("get", "/admin/r/{ct_account}/{AB}/", staff(404)),
    Row("get", "/admin/r/{ct_account}/{missing}/", staff(404)),
    Row("get", "/admin/no-such-page/", staff(404)),
    # A select2 box offers only what one may choose there: projects one administers...
    Row(
        "get",
        "/admin/autocomplete/?app_label=resources&model_name=awsiamresource&field_name=project",
        staff(su=Ids("A", "B"), adm=Ids("A"), apr=Ids(), aud=Ids(), ops=403),
    ),
    # ... and people, for project admins (to pick grantees, approvers, role holders).
    Row(
        "get",
        "/admin/autocomplete/?app_label=accounts&model_name=pamaccount&field_name=approver_users",
        staff(403, su=200, adm=200),
    ),
    Row("get", "/admin/auth/user/{grt}/password/", staff(403, su=200)),
    Row("get", "/admin/auth/user/{missing}/password/", staff(403, su=404)),
    Row("get", "/admin/sessions_app/consolesession/export.csv", staff(**SESSION_LISTS)),
    Row(
        "get",
        "/admin/sessions_app/consolesession/{s_grt}/revoke/",
        staff(404, **dict.fromkeys(MAY_REVOKE_A, 200), aud=403),
    ),
    Row("get", "/admin/sessions_app/consolesession/{s_b}/revoke/", staff(404, su=200, ops=200)),
    Row("get", "/admin/sessions_app/consolesession/{missing}/revoke/", staff(404)),
    *(
        Row("get", f"/admin/{app}/", staff(404, **dict.fromkeys(seen_by, 200)))
        for app, seen_by in APP_INDEX.items()
    ),
]


def add_grant(user: str) -> dict[str, str]:
    """The inline's extra row of the account's change page, granting `user`."""
    return {"grants-EXTRA-user": user, "grants-EXTRA-kind": "standing"}


PROJECT_ROLE_ADD = "/admin/resources/projectrole/add/"
ADMIN_WRITES = [
    Row(
        "post",
        "/admin/resources/project/add/",
        staff(403, su=SAVED),
        body={"name": "gamma"},
        form_from="/admin/resources/project/add/",
        writers=writes("su"),
        effect=exists(Project, name="gamma"),
    ),
    Row(
        "post",
        "/admin/resources/project/{A}/change/",
        staff(404, su=SAVED, adm=SAVED, apr=403, aud=403),
        body={"description": "changed"},
        form_from="/admin/resources/project/{A}/change/",
        writers=writes("su", "adm"),
        effect=exists(Project, pk="{A}", description="changed"),
    ),
    Row(
        "post",
        "/admin/resources/project/{B}/change/",
        staff(404, su=SAVED),
        body={"description": "changed"},
        form_from="/admin/resources/project/{B}/change/",
        writers=writes("su"),
        effect=exists(Project, pk="{B}", description="changed"),
    ),
    # Still holding resources: the superuser is shown what blocks it; nothing goes.
    Row(
        "post",
        "/admin/resources/project/{A}/delete/",
        staff(404, su=200, adm=403, apr=403, aud=403),
        body={"post": "yes"},
        writers=writes(),
        effect=gone(Project, "A"),
    ),
    Row(
        "post",
        "/admin/resources/awsiamresource/add/",
        staff(403, su=SAVED, adm=SAVED),
        body={"project": "{A}", "name": "rc", "resource_role_arn": RESOURCE_ROLE_ARN},
        form_from="/admin/resources/awsiamresource/add/",
        writers=writes("su", "adm"),
        effect=exists(AwsIamResource, name="rc"),
        label="in A",
    ),
    Row(
        "post",
        "/admin/resources/awsiamresource/add/",
        staff(403, su=SAVED, adm=FORM_AGAIN),
        body={"project": "{B}", "name": "rc", "resource_role_arn": RESOURCE_ROLE_ARN},
        form_from="/admin/resources/awsiamresource/add/",
        writers=writes("su"),
        effect=exists(AwsIamResource, name="rc"),
        says={"adm": NOT_MINE},
        label="in B",
    ),
    Row(
        "post",
        "/admin/resources/awsiamresource/{RA}/change/",
        staff(404, su=SAVED, adm=SAVED, aud=403),
        body={"name": "renamed"},
        form_from="/admin/resources/awsiamresource/{RA}/change/",
        writers=writes("su", "adm"),
        effect=exists(AwsIamResource, pk="{RA}", name="renamed"),
    ),
    Row(
        "post",
        "/admin/resources/awsiamresource/{RB}/change/",
        staff(404, su=SAVED),
        body={"name": "renamed"},
        form_from="/admin/resources/awsiamresource/{RB}/change/",
        writers=writes("su"),
        effect=exists(AwsIamResource, pk="{RB}", name="renamed"),
    ),
    Row(
        "post",
        PROJECT_ROLE_ADD,
        staff(403, su=SAVED, adm=SAVED),
        body={"project": "{A}", "role": "auditor", "user": "{out}"},
        form_from=PROJECT_ROLE_ADD,
        writers=writes("su", "adm"),
        effect=exists(ProjectRole, project="{A}", user="{out}"),
        label="in A for the outsider",
    ),
    Row(
        "post",
        PROJECT_ROLE_ADD,
        staff(403, su=SAVED, adm=FORM_AGAIN),
        body={"project": "{B}", "role": "auditor", "user": "{out}"},
        form_from=PROJECT_ROLE_ADD,
        writers=writes("su"),
        effect=exists(ProjectRole, project="{B}", user="{out}"),
        says={"adm": NOT_MINE},
        label="in B for the outsider",
    ),
    Row(
        "post",
        PROJECT_ROLE_ADD,
        staff(403, su=FORM_AGAIN, adm=FORM_AGAIN),
        body={"project": "{A}", "role": "approver", "user": "{me}"},
        form_from=PROJECT_ROLE_ADD,
        writers=writes(),
        effect=exists(
            ProjectRole, project="{A}", role="approver", user__username__in=["sue", "adam"]
        ),
        says={"su": SELF, "adm": SELF},
        label="for oneself",
    ),
    Row(
        "post",
        "/admin/resources/projectrole/{r_apr}/delete/",
        staff(404, su=SAVED, adm=SAVED, apr=403, aud=403),
        body={"post": "yes"},
        writers=writes("su", "adm"),
        effect=gone(ProjectRole, "r_apr"),
    ),
    Row(
        "post",
        "/admin/resources/projectrole/{r_b}/delete/",
        staff(404, su=SAVED),
        body={"post": "yes"},
        writers=writes("su"),
        effect=gone(ProjectRole, "r_b"),
    ),
    Row(
        "post",
        "/admin/accounts/pamaccount/add/",
        staff(403, su=SAVED, adm=SAVED),
        body={
            "resource": "{RA}",
            "name": "ac",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": "1h",
        },
        form_from="/admin/accounts/pamaccount/add/",
        writers=writes("su", "adm"),
        effect=exists(PamAccount, name="ac"),
        label="in A",
    ),
    Row(
        "post",
        "/admin/accounts/pamaccount/add/",
        staff(403, su=SAVED, adm=FORM_AGAIN),
        body={
            "resource": "{RB}",
            "name": "ac",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": "1h",
        },
        form_from="/admin/accounts/pamaccount/add/",
        writers=writes("su"),
        effect=exists(PamAccount, name="ac"),
        says={"adm": NOT_MINE},
        label="in B",
    ),
    # Grants are the account page's inline rows.
    Row(
        "post",
        "/admin/accounts/pamaccount/{AA}/change/",
        staff(404, su=SAVED, adm=SAVED, apr=403, aud=403),
        body=add_grant("{out}"),
        form_from="/admin/accounts/pamaccount/{AA}/change/",
        writers=writes("su", "adm"),
        effect=exists(AccountGrant, account="{AA}", user="{out}"),
        label="a grant for the outsider",
    ),
    Row(
        "post",
        "/admin/accounts/pamaccount/{AA}/change/",
        staff(404, su=FORM_AGAIN, adm=FORM_AGAIN, apr=403, aud=403),
        body=add_grant("{me}"),
        form_from="/admin/accounts/pamaccount/{AA}/change/",
        writers=writes(),
        effect=exists(AccountGrant, account="{AA}", user__username__in=["sue", "adam"]),
        says={"su": SELF, "adm": SELF},
        label="a grant for oneself",
    ),
    Row(
        "post",
        "/admin/accounts/pamaccount/{AB}/change/",
        staff(404, su=SAVED),
        body=add_grant("{out}"),
        form_from="/admin/accounts/pamaccount/{AB}/change/",
        writers=writes("su"),
        effect=exists(AccountGrant, account="{AB}", user="{out}"),
        label="a grant for the outsider",
    ),
    Row(
        "post",
        "/admin/accounts/pamaccount/{AA}/delete/",
        staff(404, su=200, adm=200, apr=403, aud=403),  # it has sessions: kept
        body={"post": "yes"},
        writers=writes(),
        effect=gone(PamAccount, "AA"),
    ),
    # History is read-only for everyone: no edit, no delete.
    Row(
        "post",
        "/admin/sessions_app/consolesession/{s_grt}/delete/",
        staff(404, **dict.fromkeys(A_HISTORY, 403)),
        body={"post": "yes"},
        writers=writes(),
        effect=gone(ConsoleSession, "s_grt"),
    ),
    Row(
        "post",
        "/admin/audit/auditevent/{ev_a}/delete/",
        staff(404, su=403, adm=403, aud=403),
        body={"post": "yes"},
        writers=writes(),
        effect=gone(AuditEvent, "ev_a"),
    ),
    # The changelist's actions: approving is for the account's approvers; anyone else has
    # no action on this list, so Django shows the list again and changes nothing.
    Row(
        "post",
        "/admin/access_requests/accessrequest/",
        staff(200, su=302, apr=302),
        body={"action": "approve_selected", "_selected_action": ["{q_pending}"]},
        writers=writes("su", "apr"),
        effect=request_status("q_pending", RequestStatus.APPROVED),
        label="approve selected",
    ),
]


# --- Putting the table together --------------------------------------------------------

FAKE_WORLD: dict[str, Any] = {}


class _Fake(dict):
    def __missing__(self, key: str) -> int:
        return 1


FAKE_WORLD = _Fake()


def route_of(url: str) -> str | None:
    """The URL pattern (its full route) a row's URL reaches; None: no pattern does."""
    try:
        return resolve(fill(url, FAKE_WORLD).partition("?")[0]).route
    except Resolver404:
        return None


ADMIN = [row for model in ADMIN_MODELS for row in admin_rows(model)] + ADMIN_SITE
ROWS = PAGES + API + ADMIN + ADMIN_WRITES


def _check_unique(rows: list[Row]) -> None:
    ids = [row.id for row in rows]
    doubles = {i for i in ids if ids.count(i) > 1}
    assert not doubles, f"two rows with the same id: {doubles}"


_check_unique(ROWS)


# --- Asking ----------------------------------------------------------------------------


def clients_for(world: dict) -> dict[str, APIClient]:
    clients = {}
    for persona in PERSONAS:
        client = APIClient()
        if persona != "anon":
            client.force_login(world[persona])
        clients[persona] = client
    return clients


def answer(response) -> Any:
    """The status, with a redirect to a sign-in page named as such."""
    if response.status_code == 302:
        location = response["Location"]
        if location.startswith("/admin/login/"):
            return ADMIN_LOGIN
        if location.startswith("/login/"):
            return LOGIN
    return response.status_code


def body_of(response) -> str:
    if getattr(response, "streaming", False):
        return b"".join(response.streaming_content).decode()
    return response.content.decode(errors="replace")


def listed(response, text: str) -> set[int]:
    """The ids an answer lists: an admin changelist, an API list (paged, streamed as JSON
    lines or CSV), who_had_access's sessions, an autocomplete box."""
    context = getattr(response, "context", None)
    if context is not None and "cl" in context:
        return {obj.pk for obj in context["cl"].result_list}
    kind = response.get("Content-Type", "")
    if "csv" in kind:
        return {int(row["id"]) for row in csv.DictReader(io.StringIO(text))}
    if "ndjson" in kind:
        return {json.loads(line)["id"] for line in text.splitlines() if line.strip()}
    data = json.loads(text)
    rows = data.get("results", data.get("sessions")) if isinstance(data, dict) else data
    return {int(row["id"]) for row in rows}


class _FormFields(HTMLParser):
    """The fields a browser would submit from the admin's form (id="..._form")."""

    def __init__(self) -> None:
        super().__init__()
        self.fields: list[tuple[str, str]] = []
        self.in_form = False
        self.select: tuple[str, bool] | None = None
        self.options: list[tuple[str, bool]] = []
        self.textarea: str | None = None
        self.text = ""

    def handle_starttag(self, tag: str, attrs: list) -> None:
        a = {k: (v if v is not None else "") for k, v in attrs}
        if tag == "form" and a.get("id", "").endswith("_form"):
            self.in_form = True
            return
        if not self.in_form:
            return
        if tag == "option":
            if self.select is not None:
                self.options.append((a.get("value", ""), "selected" in a))
            return
        name = a.get("name", "")
        if not name or "__prefix__" in name:  # the inlines' template row
            self.select = None
            return
        if tag == "input":
            kind = a.get("type", "text")
            if kind in ("submit", "button", "file", "image", "reset"):
                return
            if kind in ("checkbox", "radio") and "checked" not in a:
                return
            self.fields.append((name, a.get("value", "on" if kind == "checkbox" else "")))
        elif tag == "select":
            self.select = (name, "multiple" in a)
            self.options = []
        elif tag == "textarea":
            self.textarea, self.text = name, ""

    def handle_data(self, data: str) -> None:
        if self.textarea is not None:
            self.text += data

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.in_form = False
        elif tag == "select" and self.select is not None:
            name, multiple = self.select
            chosen = [value for value, selected in self.options if selected]
            if not chosen and not multiple and self.options:
                chosen = [self.options[0][0]]
            self.fields += [(name, value) for value in chosen]
            self.select = None
        elif tag == "textarea" and self.textarea is not None:
            self.fields.append((self.textarea, self.text.removeprefix("\n")))
            self.textarea = None


def admin_form(client: APIClient, url: str) -> dict[str, Any]:
    response = client.get(url)
    assert response.status_code == 200, (url, response.status_code)
    parser = _FormFields()
    parser.feed(response.content.decode())
    data: dict[str, Any] = {}
    for name, value in parser.fields:
        data.setdefault(name, []).append(value)
    return {k: v if len(v) > 1 or k.startswith("_selected") else v[0] for k, v in data.items()}


def form_body(row: Row, world: dict, su_client: APIClient, me: User | None) -> dict:
    if row.form_from is None:
        body = fill(row.body, world, me) or {}
    else:
        with transaction.atomic():
            body = admin_form(su_client, fill(row.form_from, world))
            transaction.set_rollback(True)
        extra = body.get("grants-INITIAL_FORMS", "0")
        for key, value in fill(row.body, world, me).items():
            body[key.replace("EXTRA", extra)] = value
    return {k: ("" if v is None else v) for k, v in body.items()}


def ask(row: Row, world: dict, clients: dict[str, APIClient], persona: str) -> list[str]:
    """One persona's request, rolled back afterwards: what was wrong with the answer."""
    me = world.get(persona)
    client = clients[persona]
    url = fill(row.url, world, me)
    is_form = row.url.startswith("/admin/") or not row.url.startswith("/api/")
    wrong = []
    cookies = copy.deepcopy(client.cookies)  # a sign-out must not outlive its savepoint
    with transaction.atomic():
        if row.method == "get":
            response = client.get(url)
        elif is_form:
            response = getattr(client, row.method)(url, form_body(row, world, clients["su"], me))
        else:
            body = fill(row.body, world, me)
            response = getattr(client, row.method)(url, body, format="json")
        got, text = answer(response), body_of(response)
        expected = row.expected[persona]
        if isinstance(expected, Ids):
            if got != 200:
                wrong.append(f"{persona}: expected {expected!r}, got {got}: {text[:200]}")
            else:
                names = {getattr(v, "pk", None): k for k, v in world.items() if hasattr(v, "pk")}
                want = {world[name].pk for name in expected}
                seen = listed(response, text)
                if seen != want:
                    extra = sorted(names.get(pk, pk) for pk in seen - want)
                    lacking = sorted(names.get(pk, pk) for pk in want - seen)
                    wrong.append(
                        f"{persona}: expected {expected!r}; also listed {extra}, missing {lacking}"
                    )
        elif got != expected:
            # A form shown again says why in its error lists: those, not its <head>.
            errors = re.findall(r'class="errorlist[^"]*"[^>]*>(.*?)</ul>', text, re.S)
            shown = " | ".join(re.sub(r"<[^>]+>", " ", e).strip() for e in errors) or text[:300]
            wrong.append(f"{persona}: expected {expected}, got {got}: {shown!r}")
        if persona in row.says and row.says[persona] not in text:
            wrong.append(
                f"{persona}: the answer does not say {row.says[persona]!r}: {text[:300]!r}"
            )
        if row.effect is not None:
            changed = row.effect(world)
            should = persona in (row.writers or ())
            if changed != should:
                done = "changed it" if changed else "changed nothing"
                wrong.append(f"{persona}: {done} (should {'' if should else 'not '}have)")
        transaction.set_rollback(True)
    client.cookies = cookies
    return wrong


@pytest.mark.parametrize("row", ROWS, ids=[row.id for row in ROWS])
def test_every_url_answers_each_persona_exactly(world, clients, row):
    path = fill(row.url, world).partition("?")[0]
    try:
        match = resolve(path)
    except Resolver404:
        pytest.fail(f"{row.url}: the endpoint is missing (no URL pattern matches {path})")
    if match.route == "admin/(?P<url>.*)$" and "no-such-page" not in row.url:
        pytest.fail(f"{row.url}: only the admin's catch-all answers: the admin page is missing")
    wrong = [problem for persona in PERSONAS for problem in ask(row, world, clients, persona)]
    assert not wrong, f"{row.id}:\n" + "\n".join(wrong)


# --- The table covers the URL conf -------------------------------------------------------


def url_patterns(resolver: URLResolver | None = None, prefix: str = "") -> set[str]:
    """Every pattern of the URL conf, as its full route (the form ResolverMatch.route
    has): the pages, the admin's generated URLs, the DRF router's."""
    resolver = resolver or get_resolver()
    routes = set()
    for pattern in resolver.url_patterns:
        route = URLResolver._join_route(prefix, str(pattern.pattern))
        if isinstance(pattern, URLResolver):
            routes |= url_patterns(pattern, route)
        elif isinstance(pattern, URLPattern):
            routes.add(route)
    return routes


def test_every_url_pattern_has_expectations():
    covered, missing_endpoints = set(), []
    for row in ROWS:
        route = route_of(row.url)
        if route is None:
            missing_endpoints.append(row.url)
        covered.add(route)
    uncovered = sorted(url_patterns() - covered)
    assert not uncovered, "URL patterns without a row in tests/test_authz_matrix.py:\n" + "\n".join(
        uncovered
    )
    assert not missing_endpoints, "rows for endpoints that do not exist:\n" + "\n".join(
        missing_endpoints
    )


def test_every_registered_model_admin_has_a_row():
    labels = {model._meta.label_lower for model in admin.site._registry}
    declared = {model.label for model in ADMIN_MODELS}
    assert labels - declared == set(), f"ModelAdmins without expectations: {labels - declared}"
    assert set(APP_INDEX) == {label.split(".")[0] for label in labels}


# What each staff persona's admin index offers (the models of its sidebar and home).
INDEX = {
    "su": {model.label for model in ADMIN_MODELS},
    "adm": {
        "resources.project",
        "resources.awsiamresource",
        "resources.projectrole",
        "accounts.pamaccount",
        "access_requests.accessrequest",
        "sessions_app.consolesession",
        "audit.auditevent",
    },
    "apr": {
        "resources.project",
        "accounts.pamaccount",
        "access_requests.accessrequest",
        "sessions_app.consolesession",
    },
    "aud": {
        "resources.project",
        "resources.awsiamresource",
        "resources.projectrole",
        "accounts.pamaccount",
        "access_requests.accessrequest",
        "sessions_app.consolesession",
        "audit.auditevent",
    },
    "ops": {"access_requests.accessrequest", "sessions_app.consolesession"},
}


def test_the_admin_index_offers_each_persona_exactly_its_models(world, clients):
    wrong = []
    for persona, expected in INDEX.items():
        response = clients[persona].get("/admin/")
        offered = {
            f"{app['app_label']}.{model['object_name'].lower()}"
            for app in response.context["app_list"]
            for model in app["models"]
        }
        if offered != expected:
            wrong.append(f"{persona}: also {offered - expected}, missing {expected - offered}")
    assert not wrong, "\n".join(wrong)
