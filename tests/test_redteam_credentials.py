"""Red team: `POST /api/v1/accounts/<id>/credentials/` as an attacker holding each kind of
credential, the hand-written grant check against the ORM, and the publishes a request
defers until its response is out (pam_project/publishing.py).

Each refusal is checked where it matters: no keys in the answer, nothing sent to AWS.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from datetime import timedelta

import pytest
import sentry_sdk
from django.core.wsgi import get_wsgi_application
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.test import Client
from django.urls import include, path
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services as account_services
from accounts.models import ApiToken, GrantKind
from accounts.selectors import accounts_for_user, granted_account
from accounts.tokens import token_create, token_revoke
from pam_demo.servers import serve_wsgi
from sessions_app import services
from sessions_app.models import ConsoleSession, Kind, Status
from sessions_app.scheduling import schedule_expiry

from .celery_helpers import published
from .factories import (
    AccountFactory,
    GrantFactory,
    GroupFactory,
    ProjectRoleFactory,
    UserFactory,
)
from .test_error_reporting import sentry_endpoint  # noqa: F401 (a fixture)
from .test_secrets import spellings


def url(account_id: object) -> str:
    return f"/api/v1/accounts/{account_id}/credentials/"


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def token_client(user, scope: str = "access") -> tuple[APIClient, ApiToken]:
    token, raw = token_create(user=user, name="laptop", scope=scope)
    return bearer(raw), token


def refused_without_keys(response, status: int, aws) -> None:
    assert response.status_code == status, response.content
    assert "SecretAccessKey" not in response.content.decode()
    assert aws.calls == []


@pytest.fixture
def cli(db, bob):
    account = AccountFactory(allow_cli_credentials=True)
    GrantFactory(account=account, user=bob)
    return account


# --- who gets keys -------------------------------------------------------------------------


def test_a_dead_token_gets_nothing(aws, federation, cli, bob):
    """Revoked, expired, after a password change, of a deactivated user (and still dead
    once reactivated): 401 before the view, no row."""
    revoked, token = token_client(bob)
    token_revoke(token=token, actor=bob)
    refused_without_keys(revoked.post(url(cli.pk)), 401, aws)

    expired, token = token_client(bob)
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    refused_without_keys(expired.post(url(cli.pk)), 401, aws)

    before_password, _ = token_client(bob)
    bob.set_password("another long passphrase, new")
    bob.save()
    refused_without_keys(before_password.post(url(cli.pk)), 401, aws)

    deactivated, _ = token_client(bob)
    bob.is_active = False
    bob.save()
    refused_without_keys(deactivated.post(url(cli.pk)), 401, aws)
    bob.is_active = True
    bob.save()
    refused_without_keys(deactivated.post(url(cli.pk)), 401, aws)
    assert not ConsoleSession.objects.exists()


@pytest.mark.parametrize("role", ["admin", "approver", "auditor"])
def test_a_project_role_is_not_a_grant(aws, federation, cli, role):
    """Seeing the account (403, it exists for them) is not being granted it."""
    person = UserFactory()
    ProjectRoleFactory(project=cli.resource.project, user=person, role=role)
    client, _ = token_client(person, "admin")
    refused_without_keys(client.post(url(cli.pk)), 403, aws)
    assert not ConsoleSession.objects.exists()


def test_group_grants_give_keys_until_the_group_or_membership_goes(db, aws, federation):
    account = AccountFactory(allow_cli_credentials=True)
    person, team = UserFactory(), GroupFactory()
    person.groups.add(team)
    grant = GrantFactory(account=account, group=team)
    client, _ = token_client(person)
    assert client.post(url(account.pk)).status_code == 200

    person.groups.remove(team)
    aws.calls.clear()
    refused_without_keys(client.post(url(account.pk)), 404, aws)
    person.groups.add(team)
    assert client.post(url(account.pk)).status_code == 200
    grant.delete()
    team.delete()
    aws.calls.clear()
    refused_without_keys(client.post(url(account.pk)), 404, aws)


def test_a_browser_session_needs_csrf_and_a_fresh_second_factor(aws, federation, cli, bob):
    web = APIClient(enforce_csrf_checks=True)
    web.force_login(bob)
    refused_without_keys(web.post(url(cli.pk)), 403, aws)

    mfa = AccountFactory(allow_cli_credentials=True, require_mfa=True)
    GrantFactory(account=mfa, user=bob)
    web = APIClient()
    web.force_login(bob)
    refused = web.post(url(mfa.pk))
    refused_without_keys(refused, 403, aws)
    assert "require_mfa" in refused.json()["detail"]
    assert not ConsoleSession.objects.exists()


@pytest.mark.parametrize(
    "account_id", ["99999999999999999999", "9223372036854775808", "-1", "0", "1e3", "abc", "%20"]
)
def test_odd_account_ids_are_404(aws, cli, bob, account_id):
    client, _ = token_client(bob)
    refused_without_keys(client.post(url(account_id)), 404, aws)


def test_an_eligible_grant_after_its_window_closed_gets_no_keys(
    aws, federation, jit, bob, approver, alice
):
    from access_requests import services as request_services

    account_services.account_update(account=jit, actor=alice, allow_cli_credentials=True)
    made = request_services.request_create(
        requester=bob, account=jit, reason="deploy", duration_seconds=20 * 60
    )
    request_services.request_decide(request=made, approver=approver, approve=True)
    client, _ = token_client(bob)
    assert client.post(url(jit.pk)).status_code == 200
    request_services.request_revoke(request=made, actor=approver, comment="done")
    aws.calls.clear()
    refused = client.post(url(jit.pk))
    refused_without_keys(refused, 403, aws)
    assert refused.json()["code"] == "NoOpenWindow"


# --- the hand-written grant check ----------------------------------------------------------


def test_granted_account_agrees_with_the_orm_for_superusers_groups_and_odd_ids(db):
    account = AccountFactory()
    other = AccountFactory()
    superuser = UserFactory(is_superuser=True, is_staff=True)
    member, outsider = UserFactory(), UserFactory()
    team, second, unrelated = GroupFactory(), GroupFactory(), GroupFactory()
    member.groups.add(team, second)
    outsider.groups.add(unrelated)
    GrantFactory(account=account, group=team, kind=GrantKind.ELIGIBLE)
    GrantFactory(account=other, group=second)  # standing, but on another account
    GrantFactory(account=other, group=unrelated)

    def same(user, account_id) -> None:
        fast = granted_account(user, account_id)
        slow = accounts_for_user(user).filter(pk=account_id).first()
        assert (fast and (fast.pk, fast.standing)) == (slow and (slow.pk, slow.standing))

    for user in (superuser, member, outsider):
        for account_id in (account.pk, other.pk, str(account.pk), f" {account.pk} "):
            same(user, account_id)
    assert granted_account(member, account.pk).standing is False  # the eligible grant only
    assert granted_account(member, other.pk).standing is True
    team.delete()
    same(member, account.pk)
    assert granted_account(member, account.pk) is None
    member.groups.remove(second)
    same(member, other.pk)
    assert granted_account(member, other.pk) is None


# --- recorded, revocable, expiring ---------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_a_credentials_session_expires_like_any(aws, federation, bob):
    account = AccountFactory(allow_cli_credentials=True)
    GrantFactory(account=account, user=bob)
    with published() as messages:
        assert token_client(bob)[0].post(url(account.pk)).status_code == 200
    session = ConsoleSession.objects.get()
    assert [m["body"][0] for m in messages] == [[session.pk]]
    assert not services.session_expire(session_id=session.pk)  # early: nothing
    assert services.session_expire(session_id=session.pk, now=session.expires_at)
    session.refresh_from_db()
    assert (session.kind, session.status) == (Kind.CREDENTIALS, Status.EXPIRED)


# --- error reports -------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_an_error_after_the_keys_were_issued_reports_no_key(
    aws,
    sentry_endpoint,  # noqa: F811 (the fixture, imported)
    monkeypatch,
):
    """A bug between hop 2 and the answer: the report carries the frames' locals (the
    keys among them) through Sentry's scrubber; none of the secrets leaves."""
    from sessions_app import access, api

    account = AccountFactory(allow_cli_credentials=True)
    person = UserFactory()
    GrantFactory(account=account, user=person)
    _, raw = token_create(user=person, name="laptop", scope="access")

    def broken(*args: object, **kwargs: object) -> None:
        raise RuntimeError("the answer could not be built")

    server = serve_wsgi(get_wsgi_application())
    try:
        for where in ("view", "activate"):
            with monkeypatch.context() as patch:
                if where == "view":
                    patch.setattr(api, "Response", broken)
                else:
                    patch.setattr(access.services, "session_activate", broken)
                request = urllib.request.Request(  # noqa: S310 (http, loopback)
                    f"{server.url}{url(account.pk)}",
                    method="POST",
                    headers={"Authorization": f"Bearer {raw}"},
                )
                with pytest.raises(urllib.error.HTTPError) as answer:
                    urllib.request.urlopen(request, timeout=30)  # noqa: S310 (loopback)
                assert answer.value.code == 500
        sentry_sdk.flush(timeout=5)
    finally:
        server.stop()

    sent = "\n".join(sentry_endpoint)
    assert sent.count("the answer could not be built") >= 2
    assert "hop2" in sent and "keys" in sent  # the locals were there, by name
    secrets = {"api token": raw}
    for n, answer in enumerate(aws.answers):
        secrets[f"secret key #{n}"] = answer["Credentials"]["SecretAccessKey"]
        secrets[f"session token #{n}"] = answer["Credentials"]["SessionToken"]
    assert len(aws.answers) == 4  # two Access attempts, two hops each
    for what, secret in secrets.items():
        for spelling in spellings(secret):
            assert spelling not in sent, f"{what} found in the report"


# --- publishes deferred until the response is out ------------------------------------------


def publishes_then_raises(request: HttpRequest) -> HttpResponse:
    schedule_expiry(101, timezone.now())
    raise RuntimeError("after the publish")


def publishes_then_streams(request: HttpRequest) -> StreamingHttpResponse:
    schedule_expiry(102, timezone.now())
    return StreamingHttpResponse(iter([b"a", b"b"]))


def publishes_in_a_rolled_back_transaction(request: HttpRequest) -> HttpResponse:
    try:
        with transaction.atomic():
            transaction.on_commit(lambda: schedule_expiry(103, timezone.now()))
            raise ValueError
    except ValueError:
        pass
    return HttpResponse("ok")


urlpatterns = [
    path("raises/", publishes_then_raises),
    path("streams/", publishes_then_streams),
    path("rolled-back/", publishes_in_a_rolled_back_transaction),
    path("", include("pam_project.urls")),
]


def ids(messages: list[dict]) -> list:
    return [m["body"][0] for m in messages]


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_a_publish_is_sent_once_after_an_error_or_a_stream_and_never_when_rolled_back():
    client = Client(raise_request_exception=False)
    with published() as messages:
        assert client.get("/raises/").status_code == 500
        assert ids(messages) == [[101]]
        streamed = client.get("/streams/")
        assert ids(messages) == [[101]]  # not before the stream is out
        assert b"".join(streamed.streaming_content) == b"ab"
        streamed.close()
        assert ids(messages) == [[101], [102]]
        assert client.get("/rolled-back/").status_code == 200
        assert client.get("/healthz").status_code == 200
    assert ids(messages) == [[101], [102]]


def tasks(messages: list[dict]) -> list[tuple[str, str]]:
    return [(m["headers"]["task"], json.dumps(m["body"][0])) for m in messages]


@pytest.mark.django_db(transaction=True)
def test_the_admin_and_the_api_publish_once_after_their_redirect_or_answer(jit, alice, bob):
    """An approval in the admin (a 302: the window's end, its notice, the requester's
    mail) and a grant deleted through the API (a 204: revoke the sessions of lost
    access): each task once, none again on the next requests."""
    from django.urls import reverse

    from access_requests import services as request_services

    made = request_services.request_create(
        requester=bob, account=jit, reason="deploy", duration_seconds=3600
    )
    grant = GrantFactory(user=bob)
    admin = Client()
    admin.force_login(alice)
    api = APIClient()
    api.force_login(alice)
    with published() as messages:
        changelist = reverse("admin:access_requests_accessrequest_changelist")
        approved = admin.post(
            changelist, {"action": "approve_selected", "_selected_action": [made.pk]}
        )
        assert approved.status_code == 302
        after_admin = tasks(messages)
        assert api.delete(f"/api/v1/grants/{grant.pk}/").status_code == 204
        after_api = tasks(messages)
        assert admin.get(reverse("admin:index")).status_code == 200
        assert api.get("/api/v1/grants/").status_code == 200
    made.refresh_from_db()
    assert made.status == "approved"
    names = {task for task, _ in after_admin}
    assert {"access_requests.tasks.end_window", "access_requests.tasks.notify"} <= names
    assert len(after_admin) == len(set(after_admin))  # nothing twice
    assert after_api[len(after_admin) :] == [("sessions_app.tasks.revoke_lost_access", "[]")]
    assert tasks(messages) == after_api  # the next requests sent nothing again
