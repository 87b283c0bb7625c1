"""Single sign-on through a real OpenID provider on loopback (oidc-provider-mock), and the
ID tokens a provider must never get past us (a forged provider, at the HTTP level)."""

from __future__ import annotations

import html
import logging
import socket
import threading

import pytest
import responses
from cryptography.hazmat.primitives.asymmetric import rsa
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from django.urls import reverse

from audit.models import AuditEvent
from identity import oidc
from identity.admin import PamUserChangeForm
from identity.models import IdpGroup, SsoIdentity

from .factories import PASSWORD, AccountFactory, GrantFactory, UserFactory
from .idp import (
    CLIENT_ID,
    CLIENT_SECRET,
    ForgedIdp,
    RealIdp,
    issuer_of,
    pkce_challenge,
    query,
    start_real_idp,
)
from .test_secrets import every_table_as_text, spellings

User = get_user_model()


def configure(settings, issuer: str, **more) -> None:
    settings.PAM_OIDC_ISSUER = issuer
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.PAM_OIDC_NAME = "Example IdP"
    settings.PAM_LOCAL_LOGIN = "superusers"
    settings.PAM_PUBLIC_URL = ""
    for name, value in more.items():
        setattr(settings, name, value)
    oidc.reset()


@pytest.fixture(scope="module")
def idp_server():
    with start_real_idp() as server:
        yield server


@pytest.fixture
def idp(idp_server, settings, db) -> RealIdp:
    configure(settings, issuer_of(idp_server))
    yield RealIdp(issuer_of(idp_server))
    oidc.reset()


@pytest.fixture
def forged(settings, db):
    idp = ForgedIdp()
    configure(settings, idp.issuer)
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        idp.install(mock)
        yield idp
    oidc.reset()


def text(response) -> str:
    """The page as a person reads it (entities such as &quot; decoded)."""
    return html.unescape(response.content.decode())


def signed_in_user(client: Client):
    response = client.get(reverse("home"))
    return response.wsgi_request.user


# --- The flow through the real provider -------------------------------------------------


def test_first_sign_in_creates_a_person_with_no_access_and_mirrors_groups(idp, client):
    idp.set_person("dana-1", email="Dana@Example.com", name="Dana Scully", groups=["ops"])
    response = idp.sign_in(client, "dana-1", next_url="/sessions/")

    assert response.status_code == 302
    assert response["Location"] == "/sessions/"
    user = signed_in_user(client)
    assert user.is_authenticated
    assert (user.email, user.first_name, user.last_name) == ("Dana@Example.com", "Dana", "Scully")
    assert not user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert SsoIdentity.objects.get(user=user).subject == "dana-1"
    group = Group.objects.get(name="ops")
    assert IdpGroup.objects.get(group=group).issuer == idp.issuer
    assert list(user.groups.all()) == [group]
    # No access until someone grants it: the home page lists no account.
    assert b"Access" not in client.get(reverse("home")).content.split(b"<main")[1]
    events = AuditEvent.objects.filter(via="idp").order_by("pk")
    # Under the channel idp, acting as nobody: the IdP said so, not a signed-in admin.
    assert [(e.action, e.object_type, e.actor) for e in events] == [
        ("create", "auth.user", None),
        ("create", "identity.ssoidentity", None),
        ("create", "auth.group", None),
        ("create", "identity.idpgroup", None),
        ("update", "auth.user", None),
    ]
    assert events[0].changes["is_staff"] is False and not events[0].changes["usable_password"]
    assert events[1].changes["subject"] == "dana-1"
    assert events[4].changes == {"groups": [[], ["ops"]]}


def test_a_grant_to_an_idp_group_gives_access_until_the_idp_removes_the_group(idp, client, request):
    idp.set_person("erin-1", email="erin@example.com", groups=["ops", "dev"])
    idp.sign_in(client, "erin-1")
    account = AccountFactory(name="prod-readonly")
    GrantFactory(account=account, user=None, group=Group.objects.get(name="ops"))
    detail = reverse("account-detail", args=[account.pk])
    assert client.get(detail).status_code == 200

    request.getfixturevalue("federation")  # AWS from here on; the IdP is done
    access = client.post(reverse("account-access", args=[account.pk]))
    assert access.status_code == 302
    assert access["Location"].startswith("https://signin.aws.amazon.com/federation")

    # The IdP admin takes erin out of "ops"; her next sign-in takes the grant away.
    idp.set_person("erin-1", email="erin@example.com", groups=["dev"])
    client.logout()
    idp.sign_in(client, "erin-1")
    user = signed_in_user(client)
    assert [g.name for g in user.groups.all()] == ["dev"]
    assert client.get(detail).status_code == 404
    assert client.post(reverse("account-access", args=[account.pk])).status_code == 404
    change = AuditEvent.objects.filter(via="idp", changes__has_key="groups").latest("pk")
    assert change.changes == {"groups": [["dev", "ops"], ["dev"]]}


def test_a_person_is_matched_by_subject_and_their_email_and_name_follow_the_idp(idp, client):
    idp.set_person("finn-1", email="finn@example.com", name="Finn")
    idp.sign_in(client, "finn-1")
    first = signed_in_user(client)
    client.logout()

    idp.set_person("finn-1", email="finn.new@example.com", name="Finn Mertens")
    idp.sign_in(client, "finn-1")
    again = signed_in_user(client)
    assert again.pk == first.pk
    assert (again.email, again.first_name, again.last_name) == (
        "finn.new@example.com",
        "Finn",
        "Mertens",
    )
    update = AuditEvent.objects.get(via="idp", changes__has_key="email", action="update")
    assert update.changes["email"] == ["finn@example.com", "finn.new@example.com"]


def test_an_email_that_belongs_to_another_user_is_refused_and_nothing_is_overwritten(idp, client):
    local = UserFactory(username="gina", email="gina@example.com", is_superuser=True)
    idp.set_person("someone-else", email="GINA@example.com", groups=["admins"])
    response = idp.sign_in(client, "someone-else")

    assert response.status_code == 409
    assert 'already belongs to user "gina"' in text(response)
    assert not signed_in_user(client).is_authenticated
    assert not SsoIdentity.objects.exists()
    assert not Group.objects.filter(name="admins").exists()
    local.refresh_from_db()
    assert local.email == "gina@example.com" and local.is_superuser


def test_a_deactivated_person_is_refused(idp, client):
    idp.set_person("hal-1", email="hal@example.com")
    idp.sign_in(client, "hal-1")
    user = signed_in_user(client)
    client.logout()
    user.is_active = False
    user.save()

    response = idp.sign_in(client, "hal-1")
    assert response.status_code == 403
    assert "deactivated" in text(response)
    assert not signed_in_user(client).is_authenticated


def test_the_authorization_request_carries_pkce_state_and_nonce(idp, client):
    start = client.get("/oidc/authenticate/")
    params = query(start["Location"])
    assert start["Location"].startswith(f"{idp.issuer}/oauth2/authorize?")
    assert params["code_challenge_method"] == "S256"
    assert params["client_id"] == CLIENT_ID
    assert params["redirect_uri"] == "http://testserver/oidc/callback/"
    assert set(params["scope"].split()) >= {"openid", "email", "profile"}
    kept = client.session["oidc_states"][params["state"]]
    assert kept["nonce"] == params["nonce"]
    assert pkce_challenge(kept["code_verifier"]) == params["code_challenge"]


def test_a_wrong_state_is_refused(idp, client):
    idp.set_person("ivy-1", email="ivy@example.com")
    start = client.get("/oidc/authenticate/")
    callback = query(idp.approve(start["Location"], "ivy-1"))
    response = client.get("/oidc/callback/", {"code": callback["code"], "state": "not-mine"})
    assert response.status_code == 400
    assert "used already, has expired, or was started in another browser" in (text(response))
    assert not signed_in_user(client).is_authenticated


def test_a_callback_without_a_sign_in_in_progress_is_refused(idp, client):
    response = client.get("/oidc/callback/", {"code": "x", "state": "y"})
    assert response.status_code == 400
    assert not signed_in_user(client).is_authenticated


def test_a_replayed_code_is_refused_by_us_and_by_the_provider(idp, client):
    idp.set_person("jo-1", email="jo@example.com")
    start = client.get("/oidc/authenticate/")
    callback = query(idp.approve(start["Location"], "jo-1"))
    assert client.get("/oidc/callback/", callback).status_code == 302

    # The same callback again: its state was used up.
    other = Client()
    assert other.get("/oidc/callback/", callback).status_code == 400
    # The code with a fresh state of the attacker's own: the provider refuses it.
    state = query(other.get("/oidc/authenticate/")["Location"])["state"]
    replay = other.get("/oidc/callback/", {"code": callback["code"], "state": state})
    assert replay.status_code == 502
    assert "refused to exchange the sign-in code" in text(replay)
    assert not signed_in_user(other).is_authenticated


def test_a_cancelled_sign_in_at_the_idp_shows_its_answer(idp, client):
    start = client.get("/oidc/authenticate/")
    state = query(start["Location"])["state"]
    response = client.get("/oidc/callback/", {"error": "access_denied", "state": state})
    assert response.status_code == 403
    assert "access_denied" in text(response)
    assert state not in client.session.get("oidc_states", {})


# --- The provider down, slow, or lying --------------------------------------------------


def test_an_idp_that_is_down_gets_a_page_naming_the_step(settings, client, db):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    configure(settings, f"http://127.0.0.1:{port}")
    response = client.get("/oidc/authenticate/")
    assert response.status_code == 502
    body = text(response)
    assert "could not be reached" in body and "could not connect" in body
    assert "PAM_OIDC_ISSUER" in body


def test_a_slow_idp_is_given_up_on_within_the_timeout(settings, client, db):
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(5)
    accepted = []
    threading.Thread(target=lambda: accepted.append(silent.accept()), daemon=True).start()
    configure(settings, f"http://127.0.0.1:{silent.getsockname()[1]}", PAM_OIDC_TIMEOUT=0.5)
    try:
        response = client.get("/oidc/authenticate/")
    finally:
        silent.close()
    assert response.status_code == 502
    assert "no answer within 0.5 s" in text(response)


def test_a_discovery_document_for_another_issuer_is_refused(settings, client, db):
    configure(settings, "https://idp.example.test")
    with responses.RequestsMock() as mock:
        mock.add(
            responses.GET,
            "https://idp.example.test/.well-known/openid-configuration",
            json={"issuer": "https://evil.example.test", "authorization_endpoint": "x"},
        )
        response = client.get("/oidc/authenticate/")
    assert response.status_code == 502
    assert "https://evil.example.test" in text(response)


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"overrides": {"aud": "another-app"}}, "issued for another application"),
        ({"overrides": {"iss": "https://evil.example.test"}}, "another issuer"),
        ({"overrides": {"exp": 1_000_000_000, "iat": 999_999_000}}, "has expired"),
        ({"drop": ("sub",)}, 'no "sub" claim'),
        ({"drop": ("exp",)}, 'no "exp" claim'),
        ({"overrides": {"nonce": "from-another-sign-in"}}, "does not belong to this sign-in"),
        ({"signing_key": rsa.generate_private_key(65537, 2048)}, "signature is not valid"),
        ({"algorithm": "HS256", "signing_key": CLIENT_SECRET}, '"HS256", which this app refuses'),
        (
            {"overrides": {"aud": ["another-app", CLIENT_ID], "azp": "another-app"}},
            "meant for several parties",
        ),
        ({"drop": ("email",)}, 'no "email" claim'),
        ({"overrides": {"email_verified": False}}, "does not say"),
        ({"userinfo": {"sub": "someone-else"}}, "for another subject"),
        ({"token_status": 400}, "invalid_grant"),
        ({"token_body": ["not", "an", "object"]}, "holds no ID token"),
        ({"token_body": {"access_token": "x"}}, "holds no ID token"),
        ({"overrides": {"email_verified": None}}, "does not say"),
        ({"userinfo": {"sub": None}}, "for another subject"),
        ({"overrides": {"groups": [f"g{i}" for i in range(201)]}}, "at most 200"),
    ],
)
def test_an_id_token_that_fails_a_check_is_refused(forged, client, change, says):
    for name, value in change.items():
        setattr(forged, name, value)
    if "email" in change.get("drop", ()):
        forged.userinfo = {}
    response = forged.sign_in(client)

    assert response.status_code in (400, 502), response.content
    assert says in text(response)
    assert not signed_in_user(client).is_authenticated
    assert not User.objects.filter(sso_identities__isnull=False).exists()


def test_the_forged_idp_signs_in_when_nothing_is_wrong(forged, client):
    """The control for the cases above: they fail for the reason they name."""
    response = forged.sign_in(client)
    assert response.status_code == 302
    assert signed_in_user(client).email == "forged@example.com"


@pytest.mark.django_db(transaction=True)
def test_no_idp_token_or_client_secret_is_written_anywhere(forged, client, caplog):
    caplog.set_level(logging.DEBUG)
    assert forged.sign_in(client).status_code == 302
    forged.overrides = {"aud": "another-app"}
    assert forged.sign_in(Client()).status_code == 400

    written = every_table_as_text() + caplog.text
    for secret in [*forged.issued, CLIENT_SECRET]:
        for spelling in spellings(secret):
            assert spelling not in written


# --- Passwords beside SSO (PAM_LOCAL_LOGIN) -------------------------------------------


def password_sign_in(client: Client, username: str):
    return client.post(reverse("login"), {"username": username, "password": PASSWORD})


@pytest.fixture
def admin(db):
    return UserFactory(username="root", is_superuser=True, is_staff=True)


@pytest.fixture
def member(db):
    return UserFactory(username="kim")


def test_with_an_idp_only_superusers_may_use_a_password(idp, client, admin, member):
    page = text(client.get(reverse("login")))
    assert page.index("Sign in with Example IdP") < page.index('name="password"')
    assert "break-glass administrators only" in page

    refused = password_sign_in(client, "kim")
    assert refused.status_code == 200
    assert "signs in with Example IdP only" in text(refused)
    assert not signed_in_user(client).is_authenticated

    assert password_sign_in(client, "root").status_code == 302
    assert signed_in_user(client) == admin


def test_local_login_all_and_off(idp, client, admin, member, settings):
    settings.PAM_LOCAL_LOGIN = "all"
    assert password_sign_in(client, "kim").status_code == 302
    client.logout()

    settings.PAM_LOCAL_LOGIN = "off"
    page = text(client.get(reverse("login")))
    assert "Sign in with Example IdP" in page and 'name="password"' not in page
    password_sign_in(client, "root")
    assert not signed_in_user(client).is_authenticated


def test_a_password_session_ends_when_the_policy_stops_allowing_it(client, member, settings):
    password_sign_in(client, "kim")
    assert signed_in_user(client) == member
    settings.PAM_OIDC_ISSUER = "https://idp.example.test"
    settings.PAM_LOCAL_LOGIN = "superusers"
    assert not signed_in_user(client).is_authenticated


def test_without_an_idp_the_page_has_no_sso_button_and_the_endpoints_404(client, db):
    assert "Sign in with" not in client.get(reverse("login")).content.decode()
    assert client.get("/oidc/authenticate/").status_code == 404
    assert client.get("/oidc/callback/", {"code": "x", "state": "y"}).status_code == 404


def test_the_admin_login_is_the_site_sign_in_page(client, db):
    response = client.get("/admin/login/", {"next": "/admin/accounts/"})
    assert response.status_code == 302
    assert response["Location"] == "/login/?next=%2Fadmin%2Faccounts%2F"
    elsewhere = client.get("/admin/login/", {"next": "https://evil.example.test/"})
    assert elsewhere["Location"] == "/login/?next=%2Fadmin%2F"


# --- IdP groups in the admin ------------------------------------------------------------


def test_the_admin_cannot_edit_idp_group_membership_and_saving_keeps_it(idp, client):
    idp.set_person("lee-1", email="lee@example.com", groups=["ops"])
    idp.sign_in(client, "lee-1")
    user = User.objects.get(email="lee@example.com")
    local = Group.objects.create(name="local-helpers")
    ops = Group.objects.get(name="ops")

    form = PamUserChangeForm(instance=user)
    assert list(form.fields["groups"].queryset) == [local]
    data = {
        **{k: v for k, v in form.initial.items() if v is not None and k != "groups"},
        "username": user.username,
        "date_joined_0": "2026-01-01",
        "date_joined_1": "00:00:00",
        "groups": [local.pk, ops.pk],  # ops is not a choice: refused
    }
    assert not PamUserChangeForm(data, instance=user).is_valid()
    data["groups"] = [local.pk]
    form = PamUserChangeForm(data, instance=user)
    assert form.is_valid(), form.errors
    form.save()
    assert set(user.groups.values_list("name", flat=True)) == {"ops", "local-helpers"}


def test_the_group_admin_says_who_sets_the_members(idp, client, admin):
    idp.set_person("mo-1", email="mo@example.com", groups=["ops"])
    idp.sign_in(client, "mo-1")
    Group.objects.create(name="local-helpers")
    admin_client = Client()
    admin_client.force_login(admin)
    page = admin_client.get("/admin/auth/group/").content.decode()
    assert f"the identity provider ({idp.issuer})" in page
    assert "administrators" in page


def test_a_local_group_with_the_idp_groups_name_is_left_alone(idp, client):
    local = Group.objects.create(name="ops")
    member = UserFactory(username="nia")
    member.groups.add(local)
    idp.set_person("oz-1", email="oz@example.com", groups=["ops"])
    idp.sign_in(client, "oz-1")
    user = User.objects.get(email="oz@example.com")
    assert [g.name for g in user.groups.all()] == ["ops (IdP)"]
    assert list(local.user_set.all()) == [member]


def test_a_deactivated_person_loses_their_current_sign_in_at_once(idp, client):
    idp.set_person("pat-1", email="pat@example.com")
    idp.sign_in(client, "pat-1")
    user = signed_in_user(client)
    assert user.is_authenticated
    user.is_active = False
    user.save()
    assert not signed_in_user(client).is_authenticated
    assert client.get("/security/").status_code == 302  # to the sign-in page


def test_an_idp_that_never_sends_email_verified_can_be_allowed(forged, client, settings):
    settings.PAM_OIDC_REQUIRE_EMAIL_VERIFIED = False
    forged.overrides = {"email_verified": None}
    forged.drop = ("email_verified",)
    forged.userinfo = {"email_verified": None}
    assert forged.sign_in(client).status_code == 302
