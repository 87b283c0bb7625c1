"""`POST /api/v1/accounts/<id>/credentials/`: the Access chain without its federation step,
answering the AWS CLI's credential_process JSON, for accounts with allow_cli_credentials.
(The `pam` command that calls it, end to end with botocore: tests/test_cli.py.)"""

from __future__ import annotations

import logging
from datetime import timedelta

import pytest
from rest_framework.test import APIClient

from access_requests import services as request_services
from accounts import services as account_services
from accounts.tokens import token_create
from audit.models import AuditEvent
from sessions_app.models import ConsoleSession, FailureStep, Kind, Status

from .celery_helpers import published
from .factories import AccountFactory, GrantFactory

KEYS = ["Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration"]


def url(account) -> str:
    return f"/api/v1/accounts/{account.pk}/credentials/"


def token_client(user, scope: str = "access") -> APIClient:
    _, raw = token_create(user=user, name="laptop", scope=scope)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.fixture
def cli_account(account, alice):
    """bob's standing account, with CLI credentials turned on (through the service, as
    the admin form and the API do)."""
    return account_services.account_update(account=account, actor=alice, allow_cli_credentials=True)


def test_the_answer_is_hop_2s_keys_as_credential_process_json(aws, federation, cli_account, bob):
    response = token_client(bob).post(url(cli_account))

    assert response.status_code == 200, response.content
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    assert list(body) == KEYS and body["Version"] == 1
    # Exactly the Target Role's credentials as STS issued them (hop 2), not hop 1's.
    _hop1, hop2 = aws.answers
    issued = hop2["Credentials"]
    assert hop2["AssumedRoleUser"]["Arn"].split("/")[1] == "pam-readonly"
    assert (body["AccessKeyId"], body["SecretAccessKey"], body["SessionToken"]) == (
        issued["AccessKeyId"],
        issued["SecretAccessKey"],
        issued["SessionToken"],
    )
    assert body["Expiration"] == issued["Expiration"].strftime("%Y-%m-%dT%H:%M:%SZ")
    assert federation.calls == []  # no sign-in token: no federation step at all

    session = ConsoleSession.objects.get()
    assert (session.kind, session.status) == (Kind.CREDENTIALS, Status.ACTIVE)
    # AWS's expiry, the key id CloudTrail records and the `aws:userid` a revocation
    # denies: as for a console session.
    assert session.expires_at == issued["Expiration"]
    assert session.access_key_id == issued["AccessKeyId"]
    assert session.assumed_role_id == hop2["AssumedRoleUser"]["AssumedRoleId"]
    assert (session.region, session.service) == ("", "")
    # Both hops named after the user, with the project's External ID.
    calls = aws.assume_role_calls()
    assert [c.params["RoleSessionName"] for c in calls] == ["bob@example.com"] * 2
    assert {c.params["ExternalId"] for c in calls} == {cli_account.resource.project.external_id}


def test_history_shows_the_kind(aws, federation, cli_account, bob):
    client = token_client(bob)
    assert client.post(url(cli_account)).status_code == 200
    assert client.post(f"/api/v1/accounts/{cli_account.pk}/access/").status_code == 200
    rows = client.get("/api/v1/sessions/").json()["results"]
    assert [row["kind"] for row in rows] == ["console", "credentials"]


@pytest.mark.django_db(transaction=True)
def test_the_expiry_task_is_published_once_committed(aws, federation, bob, alice):
    account = AccountFactory(allow_cli_credentials=True)
    GrantFactory(account=account, user=bob)
    with published() as messages:
        assert token_client(bob).post(url(account)).status_code == 200
    session = ConsoleSession.objects.get()
    (message,) = messages
    assert message["headers"]["task"] == "sessions_app.tasks.expire_session"
    assert message["body"][0] == [session.pk]
    assert message["headers"]["eta"] == session.expires_at.isoformat()


def test_off_by_default_refused_naming_the_setting_before_any_aws_call(
    aws, federation, account, bob, caplog
):
    assert account.allow_cli_credentials is False
    caplog.set_level(logging.INFO)
    response = token_client(bob).post(url(account))

    assert response.status_code == 403
    assert "allow_cli_credentials" in response.json()["detail"]
    assert aws.calls == [] and federation.calls == []
    # Nothing was attempted, so no Console Session; the audit log keeps the refusal.
    assert not ConsoleSession.objects.exists()
    refused = AuditEvent.objects.get(action="access_refused")
    assert (refused.actor_id, refused.object_id) == (bob.pk, str(account.pk))
    assert refused.changes == {"rule": "allow_cli_credentials", "kind": "credentials"}
    assert refused.project_id == account.resource.project_id
    assert "allow_cli_credentials off" in caplog.text


def test_a_token_never_gets_keys_of_a_require_mfa_account(aws, federation, bob, alice):
    account = AccountFactory(allow_cli_credentials=True, require_mfa=True)
    GrantFactory(account=account, user=bob)
    response = token_client(bob).post(url(account))
    assert response.status_code == 403
    assert "require_mfa" in response.json()["detail"]
    assert aws.calls == [] and not ConsoleSession.objects.exists()
    assert AuditEvent.objects.get(action="access_refused").changes["rule"] == "require_mfa"


@pytest.mark.parametrize(("scope", "status"), [("read", 403), ("access", 200), ("admin", 200)])
def test_the_token_needs_scope_access(aws, federation, cli_account, bob, scope, status):
    response = token_client(bob, scope).post(url(cli_account))
    assert response.status_code == status
    if scope == "read":
        assert 'needs scope "access"' in response.json()["detail"]


def test_who_may_not_access_the_account_gets_no_keys(aws, cli_account, alice, charlie):
    # The superuser sees the account (403: not granted); the outsider does not (404).
    assert token_client(alice).post(url(cli_account)).status_code == 403
    assert token_client(charlie).post(url(cli_account)).status_code == 404
    assert APIClient().post(url(cli_account)).status_code == 401
    assert aws.calls == [] and not ConsoleSession.objects.exists()


def test_the_client_cannot_send_credentials_or_a_region(aws, federation, cli_account, bob):
    """The body is ignored: keys, a duration or a region sent along change nothing."""
    sent = {
        "AccessKeyId": "ASIAFROMTHECLIENT000",
        "SecretAccessKey": "chosen-by-the-client",
        "SessionToken": "chosen-too",
        "duration_seconds": 43200,
        "region": "nowhere-1",
    }
    response = token_client(bob).post(url(cli_account), sent, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["AccessKeyId"] != sent["AccessKeyId"]
    assert body["SecretAccessKey"] != sent["SecretAccessKey"]
    session = ConsoleSession.objects.get()
    assert (session.duration_seconds, session.region) == (cli_account.session_duration, "")
    assert {c.params["DurationSeconds"] for c in aws.assume_role_calls()} == {"1800"}


def test_an_eligible_grant_needs_an_open_window_and_never_outlives_it(
    aws, federation, jit, bob, approver, alice
):
    account_services.account_update(account=jit, actor=alice, allow_cli_credentials=True)
    client = token_client(bob)
    refused = client.post(url(jit))
    assert refused.status_code == 403
    assert (refused.json()["step"], refused.json()["code"]) == ("window", "NoOpenWindow")
    failed = ConsoleSession.objects.get()
    assert (failed.kind, failed.status, failed.failure_step) == (
        Kind.CREDENTIALS,
        Status.FAILED,
        FailureStep.WINDOW,
    )
    assert aws.calls == []

    made = request_services.request_create(
        requester=bob, account=jit, reason="deploy", duration_seconds=20 * 60
    )
    window = request_services.request_decide(request=made, approver=approver, approve=True)
    granted = client.post(url(jit))
    assert granted.status_code == 200, granted.content
    session = ConsoleSession.objects.get(status=Status.ACTIVE)
    assert session.access_request_id == made.pk
    # The window's time left (about 20 minutes), not the account's 30.
    assert 18 * 60 <= session.duration_seconds <= 20 * 60
    assert session.expires_at <= window.ends_at + timedelta(seconds=1)


def test_failures_are_recorded_and_answered_like_access(aws, federation, cli_account, bob):
    aws.fail(cli_account.target_role_arn, code="AccessDenied", message="no trust")
    response = token_client(bob).post(url(cli_account))
    assert response.status_code == 502
    body = response.json()
    assert (body["step"], body["code"]) == ("target_role", "AccessDenied")
    session = ConsoleSession.objects.get(pk=body["session_id"])
    assert (session.kind, session.status) == (Kind.CREDENTIALS, Status.FAILED)
    assert "SecretAccessKey" not in response.content.decode()


def test_the_rate_limit_counts_credentials_like_any_access(
    aws, federation, cli_account, bob, settings
):
    settings.PAM_ACCESS_RATE = (2, 60)
    client = token_client(bob)
    assert client.post(f"/api/v1/accounts/{cli_account.pk}/access/").status_code == 200
    assert client.post(url(cli_account)).status_code == 200
    hops = len(aws.assume_role_calls())
    refused = client.post(url(cli_account))
    assert refused.status_code == 429
    assert refused.json()["step"] == "rate_limited"
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert len(aws.assume_role_calls()) == hops  # refused before AWS


def test_admins_turn_cli_credentials_on_through_the_api_audited(aws, federation, account, alice):
    admin = APIClient()
    admin.force_login(alice)
    path = f"/api/v1/accounts/{account.pk}/"
    assert admin.get(path).json()["allow_cli_credentials"] is False
    changed = admin.patch(path, {"allow_cli_credentials": True}, format="json")
    assert changed.status_code == 200, changed.content
    assert changed.json()["allow_cli_credentials"] is True
    event = AuditEvent.objects.filter(action="update", object_id=str(account.pk)).latest("pk")
    assert event.changes["allow_cli_credentials"] == [False, True]
    assert aws.calls == []  # a flag of the app's own: nothing to check in AWS


def test_the_admin_list_and_the_csv_export_show_the_kind(client, alice):
    import csv
    import io

    from django.urls import reverse

    from .factories import ConsoleSessionFactory

    keys = ConsoleSessionFactory(kind=Kind.CREDENTIALS)
    console = ConsoleSessionFactory()
    client.force_login(alice)
    changelist = reverse("admin:sessions_app_consolesession_changelist")
    page = client.get(changelist, {"kind__exact": "credentials"})
    assert [s.pk for s in page.context["cl"].result_list] == [keys.pk]
    assert "CLI credentials" in page.content.decode()
    export = client.get(reverse("admin:sessions_app_consolesession_export"))
    rows = csv.DictReader(io.StringIO(b"".join(export.streaming_content).decode()))
    assert {row["id"]: row["kind"] for row in rows} == {
        str(keys.pk): "credentials",
        str(console.pk): "console",
    }
