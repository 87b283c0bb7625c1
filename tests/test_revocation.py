"""Revoking live console sessions: the deny statement IAM receives on the Target Role,
the session's record, the merge of concurrent revocations, pruning, failures, limits.

moto stands in for STS and IAM. It does not evaluate the deny (nothing here can show a
console refusing a revoked session); these tests hold the document that AWS evaluates
to AWS's documented shape (IAM User Guide, "Revoking IAM role temporary security
credentials").
"""

from __future__ import annotations

import io
import json
import threading
import time
from datetime import timedelta

import boto3
import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection
from django.test import Client
from rest_framework.test import APIClient

from accounts.tokens import token_create
from audit.models import AuditEvent
from resources.aws import iam
from sessions_app import revocation, services, tasks
from sessions_app.access import account_access
from sessions_app.models import ConsoleSession, Revocation, RevocationState, RoleLock, Status

from .factories import (
    CUSTOMER_ACCOUNT,
    TARGET_ROLE_ARN,
    AccountFactory,
    GrantFactory,
    GroupFactory,
    UserFactory,
)

TRUST = json.dumps(
    {
        "Version": "2012-10-17",
        "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
    }
)


def customer_iam():
    """IAM in the customer account, as the Resource Role's session sees it."""
    sts = boto3.client("sts", region_name="us-east-1")
    creds = sts.assume_role(
        RoleArn=f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/pam-resource", RoleSessionName="test"
    )["Credentials"]
    return boto3.client(
        "iam",
        region_name="us-east-1",
        aws_access_key_id=creds["AccessKeyId"],
        aws_secret_access_key=creds["SecretAccessKey"],
        aws_session_token=creds["SessionToken"],
    )


def policy(client, role: str = "pam-readonly") -> dict | None:
    try:
        answer = client.get_role_policy(RoleName=role, PolicyName=iam.POLICY_NAME)
    except client.exceptions.NoSuchEntityException:
        return None
    document = answer["PolicyDocument"]
    return json.loads(document) if isinstance(document, str) else document


@pytest.fixture
def target(aws):
    client = customer_iam()
    client.create_role(RoleName="pam-readonly", AssumeRolePolicyDocument=TRUST)
    return client


def access(account, user):
    return account_access(
        account=account,
        user=user,
        client_ip="192.0.2.1",
        user_agent="tests",
        issuer="https://pam.example.test/",
    ).session


@pytest.fixture
def live(federation, target, db):
    """Two users with an active console session each on the same Target Role."""
    account = AccountFactory(name="prod")
    people = [UserFactory(username="una"), UserFactory(username="vic")]
    for person in people:
        GrantFactory(account=account, user=person)
    sessions = [access(account, person) for person in people]
    assert all(s.status == Status.ACTIVE for s in sessions)
    return account, sessions


def test_activation_records_what_revocation_needs(live):
    _, (session, _) = live
    session.refresh_from_db()
    role_id, _, name = session.assumed_role_id.partition(":")
    assert role_id.startswith("AROA")
    assert name == session.role_session_name == "una@example.com"


def test_revoking_a_session_denies_exactly_its_credentials(live, target, alice):
    _, (una, vic) = live
    revoked = revocation.session_revoke(session=una, actor=alice, reason="left the team")

    assert revoked.status == Status.REVOKED
    assert revoked.revoked_by == alice and revoked.revoke_reason == "left the team"
    assert revoked.revoked_at is not None and revoked.ended_at is not None
    [statement] = policy(target)["Statement"]
    assert statement["Effect"] == "Deny"
    assert statement["Action"] == "*" and statement["Resource"] == "*"
    assert statement["Condition"]["StringEquals"] == {"aws:userid": una.assumed_role_id}
    assert statement["Condition"]["DateLessThan"] == {
        "aws:TokenIssueTime": revoked.revoked_at.strftime("%Y-%m-%dT%H:%M:%SZ")
    }
    vic.refresh_from_db()
    assert vic.status == Status.ACTIVE
    event = AuditEvent.objects.get(object_type="sessions_app.revocation")
    assert event.actor == alice and event.changes["sessions_revoked"] == [una.pk]
    # Filed under the account's project: its admins and auditors read who revoked it.
    assert event.project_id == una.account.resource.project_id


def test_revoking_twice_changes_nothing_and_expiry_never_overwrites_it(live, target, alice):
    _, (una, _) = live
    revocation.session_revoke(session=una, actor=alice, reason="incident")
    again = revocation.session_revoke(session=una, actor=alice, reason="incident again")
    assert again.revoke_reason == "incident"
    assert len(policy(target)["Statement"]) == 1
    assert Revocation.objects.count() == 1

    with time_machine.travel(una.expires_at + timedelta(seconds=1)):
        assert services.session_expire(session_id=una.pk) is False
        services.sessions_sweep()
    una.refresh_from_db()
    assert una.status == Status.REVOKED


def test_revocations_of_one_role_are_merged_into_one_policy(live, target, alice):
    _, (una, vic) = live
    revocation.session_revoke(session=una, actor=alice, reason="one")
    revocation.session_revoke(session=vic, actor=alice, reason="two")
    user_ids = [s["Condition"]["StringEquals"]["aws:userid"] for s in policy(target)["Statement"]]
    assert user_ids == [una.assumed_role_id, vic.assumed_role_id]


@pytest.mark.django_db(transaction=True)
def test_20_concurrent_revocations_on_one_role_lose_no_statement(
    federation, target, alice, monkeypatch
):
    assert connection.vendor == "postgresql"  # the row lock is what is under test
    # Revokers arrive one after another while IAM is slow, and the first to read (the
    # fewest statements) is the last to write: without the per-role lock its put would
    # drop every later statement.
    write = iam.write_revocations
    arrivals = iter(range(100))

    def slow_write(**kwargs):
        time.sleep(max(0.0, 0.6 - 0.03 * next(arrivals)))
        return write(**kwargs)

    monkeypatch.setattr(iam, "write_revocations", slow_write)
    account = AccountFactory(name="prod")
    people = [UserFactory(username=f"p{i}") for i in range(20)]
    for person in people:
        GrantFactory(account=account, user=person)
    sessions = [access(account, person) for person in people]
    RoleLock.objects.create(target_role_arn=TARGET_ROLE_ARN)  # as after a first revocation
    errors = []

    def revoke(session):
        try:
            revocation.session_revoke(session=session, actor=alice, reason="incident")
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=revoke, args=(s,)) for s in sessions]
    for thread in threads:
        thread.start()
        time.sleep(0.02)
    for thread in threads:
        thread.join()
    assert errors == []
    written = {s["Condition"]["StringEquals"]["aws:userid"] for s in policy(target)["Statement"]}
    assert len(written) == 20
    assert written == {s.assumed_role_id for s in ConsoleSession.objects.all()}
    assert set(ConsoleSession.objects.values_list("status", flat=True)) == {Status.REVOKED}


def test_revoke_all_sessions_of_an_account(live, target, alice):
    account, sessions = live
    rev = revocation.account_sessions_revoke(account=account, actor=alice, reason="breach")
    [statement] = policy(target)["Statement"]
    assert "StringEquals" not in statement["Condition"]  # AWSRevokeOlderSessions' shape
    assert rev.state == RevocationState.WRITTEN
    for session in sessions:
        session.refresh_from_db()
        assert session.status == Status.REVOKED and session.revoke_reason == "breach"
    # Access after the revocation gets credentials issued later: not covered.
    later = access(account, sessions[0].user)
    later.refresh_from_db()
    assert later.status == Status.ACTIVE


def test_statements_are_pruned_when_nothing_they_cover_can_live(live, target, alice):
    _, (una, vic) = live
    revocation.session_revoke(session=una, actor=alice, reason="one")
    with time_machine.travel(timedelta(minutes=30)):
        revocation.session_revoke(session=vic, actor=alice, reason="two")
    first, second = Revocation.objects.order_by("pk")

    with time_machine.travel(first.prune_after + timedelta(seconds=1)):
        assert revocation.revocations_sweep() == 1
        [left] = policy(target)["Statement"]
        assert left["Sid"] == second.sid
    with time_machine.travel(second.prune_after + timedelta(seconds=1)):
        revocation.revocations_sweep()
        assert policy(target) is None  # deleted once empty
        assert revocation.revocations_sweep() == 0  # and nothing left to do
    states = set(Revocation.objects.values_list("state", flat=True))
    assert states == {RevocationState.PRUNED}


def test_a_failed_write_is_recorded_never_reported_done_and_retried(live, target, alice):
    _, (una, _) = live
    target.delete_role(RoleName="pam-readonly")  # IAM now refuses the put
    with pytest.raises(revocation.RevocationFailed) as failed:
        revocation.session_revoke(session=una, actor=alice, reason="incident")
    assert failed.value.error.code == "NoSuchEntity"
    una.refresh_from_db()
    assert una.status == Status.ACTIVE
    assert "NoSuchEntity" in una.revocation_error
    assert Revocation.objects.get().state == RevocationState.FAILED
    failed_event = AuditEvent.objects.get(object_type="sessions_app.revocation")
    assert failed_event.changes["state"] == ["pending", "failed"]
    assert "NoSuchEntity" in failed_event.changes["error"]

    target.create_role(RoleName="pam-readonly", AssumeRolePolicyDocument=TRUST)
    assert revocation.revocations_sweep() == 1
    una.refresh_from_db()
    assert una.status == Status.REVOKED and una.revocation_error == ""
    assert len(policy(target)["Statement"]) == 1


def test_past_iams_size_limit_nothing_is_written(live, target, alice, monkeypatch):
    _, (una, vic) = live
    revocation.session_revoke(session=una, actor=alice, reason="one")
    before = policy(target)
    monkeypatch.setattr(iam, "ROLE_INLINE_POLICY_LIMIT", iam.policy_size(before) + 10)
    with pytest.raises(revocation.RevocationFailed) as failed:
        revocation.session_revoke(session=vic, actor=alice, reason="two")
    assert failed.value.error.code == "LimitExceeded"
    assert "Nothing was written" in failed.value.error.message
    assert policy(target) == before
    vic.refresh_from_db()
    assert vic.status == Status.ACTIVE and "LimitExceeded" in vic.revocation_error


def test_a_role_holds_three_dozen_live_session_revocations():
    """What IAM's limit means here: about 38 sessions of one role revoked within the
    same hour and 5 minutes (longer session names, fewer); past that, revoke all."""
    sample = iam.Revocation(
        sid="PamRevocation1234567",
        before=iam.datetime(2026, 1, 1, tzinfo=iam.UTC),
        user_id="AROA" + "X" * 17 + ":" + "a" * 64,
    )
    per_statement = iam.policy_size(iam.policy_document([sample, sample])) - iam.policy_size(
        iam.policy_document([sample])
    )
    assert iam.ROLE_INLINE_POLICY_LIMIT // per_statement >= 36


@pytest.mark.parametrize(
    ("change", "says"),
    [
        ({"reason": "  "}, "reason: say why"),
        ({"reason": "x" * 501}, "at most 500"),
    ],
)
def test_bad_input_is_refused_naming_the_rule(live, alice, change, says):
    _, (una, _) = live
    with pytest.raises(revocation.RevocationRefused, match=says):
        revocation.session_revoke(session=una, actor=alice, **change)


def test_only_an_active_session_with_revocation_allowed_can_be_revoked(live, alice):
    account, (una, vic) = live
    ConsoleSession.objects.filter(pk=una.pk).update(status=Status.EXPIRED)
    una.refresh_from_db()
    with pytest.raises(revocation.RevocationRefused, match="Only an active session"):
        revocation.session_revoke(session=una, actor=alice, reason="late")
    account.resource.allow_revocation = False
    account.resource.save()
    vic.refresh_from_db()
    with pytest.raises(revocation.RevocationRefused, match="Revocation is off"):
        revocation.session_revoke(session=vic, actor=alice, reason="x")
    assert not Revocation.objects.exists()


def test_the_permissions_policy_grants_the_iam_calls_on_the_target_roles_only():
    from resources.policies import resource_role_permissions_policy

    resource_role = f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/pam-resource"
    off = resource_role_permissions_policy(account_id=CUSTOMER_ACCOUNT)
    on = resource_role_permissions_policy(
        account_id=CUSTOMER_ACCOUNT,
        allow_revocation=True,
        resource_role_arn=resource_role,
        target_role_arns=[TARGET_ROLE_ARN, TARGET_ROLE_ARN],
    )
    assert len(off["Statement"]) == 1
    allow, deny = on["Statement"][1:]
    assert allow["Action"] == ["iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy"]
    # Never role/*: PutRolePolicy there would let hop 1 grant itself anything.
    assert allow["Resource"] == TARGET_ROLE_ARN
    assert deny["Effect"] == "Deny" and deny["Resource"] == resource_role


# --- The API contract: POST sessions/<id>/revoke/, POST accounts/<id>/revoke_sessions/ ---


def token_client(user, scope):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {token_create(user=user, name='t', scope=scope)[1]}"
    )
    return client


def test_a_user_revokes_their_own_session_with_an_access_token(live, target):
    _, (una, _) = live
    url = f"/api/v1/sessions/{una.pk}/revoke/"
    refused = token_client(una.user, "read").post(url, {"reason": "done"}, format="json")
    assert refused.status_code == 403 and 'needs scope "access"' in refused.json()["detail"]

    client = token_client(una.user, "access")
    assert client.post(url, {}, format="json").json() == {
        "reason": ["Say why the access is being revoked."]
    }
    response = client.post(url, {"reason": "done for today"}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] == "revoked" and body["revoke_reason"] == "done for today"
    assert body["revoked_by_name"] == una.user.email
    assert len(policy(target)["Statement"]) == 1


def test_others_sessions_need_the_revoke_permission_and_an_admin_scope(live, target):
    _, (una, vic) = live
    url = f"/api/v1/sessions/{una.pk}/revoke/"
    # vic cannot even see una's session.
    assert token_client(vic.user, "admin").post(url, {"reason": "x"}).status_code == 404
    ops = UserFactory(username="olga")
    ops.user_permissions.add(
        Permission.objects.get(codename="view_consolesession"),
        Permission.objects.get(codename="revoke_consolesession"),
    )
    assert token_client(ops, "access").post(url, {"reason": "x"}).status_code == 403
    viewer = UserFactory(username="vera")
    viewer.user_permissions.add(Permission.objects.get(codename="view_consolesession"))
    assert token_client(viewer, "admin").post(url, {"reason": "x"}).status_code == 403
    response = token_client(ops, "admin").post(url, {"reason": "incident 42"}, format="json")
    assert response.status_code == 200 and response.json()["status"] == "revoked"


def test_revoke_sessions_of_an_account_through_the_api(live, target, alice):
    account, sessions = live
    client = APIClient()
    client.force_login(alice)
    response = client.post(
        f"/api/v1/accounts/{account.pk}/revoke_sessions/", {"reason": "breach"}, format="json"
    )
    assert response.status_code == 200
    assert sorted(response.json()["revoked"]) == sorted(s.pk for s in sessions)
    member = APIClient()
    member.force_login(sessions[0].user)
    refused = member.post(f"/api/v1/accounts/{account.pk}/revoke_sessions/", {"reason": "x"})
    assert refused.status_code == 403


def test_an_iam_failure_is_a_502_naming_it_and_the_session_says_so(live, target):
    _, (una, _) = live
    target.delete_role(RoleName="pam-readonly")
    response = token_client(una.user, "access").post(
        f"/api/v1/sessions/{una.pk}/revoke/", {"reason": "x"}, format="json"
    )
    assert response.status_code == 502
    assert response.json()["code"] == "NoSuchEntity"
    shown = token_client(una.user, "read").get(f"/api/v1/sessions/{una.pk}/").json()
    assert shown["status"] == "active" and "NoSuchEntity" in shown["revocation_error"]


# --- Automatic: access that ends takes its live sessions with it ------------------------


def test_a_removed_grant_revokes_the_live_session_and_asks_a_worker_at_once(
    live, target, monkeypatch, django_capture_on_commit_callbacks
):
    from sessions_app import signals

    asked = []
    monkeypatch.setattr(signals, "schedule_lost_access_check", lambda: asked.append(1))
    account, (una, vic) = live
    with django_capture_on_commit_callbacks(execute=True):
        account.grants.get(user=una.user).delete()
    assert asked == [1]

    assert tasks.revoke_lost_access.apply().get() == 1
    una.refresh_from_db()
    vic.refresh_from_db()
    assert una.status == Status.REVOKED and vic.status == Status.ACTIVE
    assert una.revoke_reason == "Access ended: no grant covers this account any more"
    assert una.revoked_by is None and una.revoked_by_name == "system"


def test_deactivation_and_leaving_the_granted_group_revoke_in_the_sweep(live, target):
    account, (una, vic) = live
    group = GroupFactory(name="ops")
    account.grants.filter(user=vic.user).delete()
    GrantFactory(account=account, user=None, group=group)
    vic.user.groups.add(group)
    una.user.is_active = False
    una.user.save()
    services.sessions_sweep()
    tasks.sweep_sessions.apply()
    una.refresh_from_db()
    vic.refresh_from_db()
    assert una.status == Status.REVOKED and una.revoke_reason == "Access ended: user deactivated"
    assert vic.status == Status.ACTIVE  # still covered, through the group

    vic.user.groups.remove(group)
    tasks.sweep_sessions.apply()
    vic.refresh_from_db()
    assert vic.status == Status.REVOKED


def test_the_admin_action_asks_why_then_revokes(live, target, alice):
    _, (una, vic) = live
    client = Client()
    client.force_login(alice)
    url = "/admin/sessions_app/consolesession/"
    chosen = {"action": "revoke_sessions", "_selected_action": [una.pk]}
    ask = client.post(url, chosen)
    assert ask.status_code == 200
    assert "Reason (recorded and audited)" in ask.content.decode()
    assert una.user_email in ask.content.decode()
    nothing = client.post(url, {**chosen, "confirm": "yes", "reason": " "})
    assert "say why the access is being revoked" in nothing.content.decode()

    done = client.post(url, {**chosen, "confirm": "yes", "reason": "offboarding"}, follow=True)
    assert f"#{una.pk} revoked." in done.content.decode()
    una.refresh_from_db()
    vic.refresh_from_db()
    assert una.status == Status.REVOKED and una.revoke_reason == "offboarding"
    assert vic.status == Status.ACTIVE


def test_ops_without_the_revoke_permission_get_no_revoke_action(live):
    ops = UserFactory(username="olga", is_staff=True)
    ops.user_permissions.add(Permission.objects.get(codename="view_consolesession"))
    client = Client()
    client.force_login(ops)
    page = client.get("/admin/sessions_app/consolesession/").content.decode()
    assert "export_csv" in page and "revoke_sessions" not in page


def test_the_command_line_revokes_and_says_what_went_wrong(live, target, alice):
    account, (una, vic) = live
    out, err = io.StringIO(), io.StringIO()
    call_command("revoke", str(una.pk), reason="incident", actor="alice", stdout=out)
    assert f"Console session {una.pk} revoked." in out.getvalue()
    una.refresh_from_db()
    assert una.status == Status.REVOKED and una.revoked_by == alice
    with pytest.raises(CommandError, match="no console session 999999"):
        call_command("revoke", "999999", reason="x")
    with pytest.raises(CommandError, match="one"):
        call_command("revoke", str(vic.pk), user="vic", reason="x")
    # An already revoked session again is fine; a session that is not live is refused.
    ConsoleSession.objects.filter(pk=vic.pk).update(status=Status.EXPIRED)
    with pytest.raises(CommandError, match="1 of 2 not revoked"):
        call_command("revoke", str(una.pk), str(vic.pk), reason="x", stdout=out, stderr=err)
    assert "NOT revoked: Only an active session" in err.getvalue()
    ConsoleSession.objects.filter(pk=vic.pk).update(status=Status.ACTIVE)
    call_command("revoke", user=vic.user.username, reason="offboarding", stdout=out)
    vic.refresh_from_db()
    assert vic.status == Status.REVOKED and vic.revoked_by_name == "system"
    call_command("revoke", account=account.pk, reason="breach", stdout=out)
    assert "All sessions of" in out.getvalue()


def test_what_iam_would_deny_after_each_kind_of_revocation(live, target, alice):
    """The written statements, evaluated as IAM does (the demo console's evaluator):
    the revoked session is denied; another user's session on the same role is not; the
    same user's later Access is not; "revoke all" denies everyone issued before."""
    from pam_demo.aws_standin import revocation_denial

    account, (una, vic) = live

    def denied(session) -> bool:
        session.refresh_from_db()
        return revocation_denial(session.access_key_id, session.activated_at) is not None

    revocation.session_revoke(session=una, actor=alice, reason="one")
    assert denied(una) and not denied(vic)
    with time_machine.travel(timedelta(seconds=2)):
        later = access(account, una.user)
        assert not denied(later)
        revocation.account_sessions_revoke(account=account, actor=alice, reason="all")
    assert denied(vic) and denied(later)
    with time_machine.travel(timedelta(seconds=4)):
        after_all = access(account, vic.user)
        assert not denied(after_all)


def test_saving_an_account_checks_the_resource_role_may_read_the_target_roles_policies(
    aws, alice, monkeypatch
):
    from accounts import services as account_services
    from resources.aws import AwsStepError, Step

    from .factories import ResourceFactory

    resource = ResourceFactory()
    assert resource.allow_revocation  # on for new resources
    read = []
    monkeypatch.setattr(iam, "read_revocation_policy", lambda **kw: read.append(kw) or {})
    account_services.account_create(
        resource=resource,
        name="ok",
        target_role_arn=TARGET_ROLE_ARN,
        session_duration=900,
        actor=alice,
    )
    assert read[0]["target_role"].arn == TARGET_ROLE_ARN

    def denied(**kwargs):
        raise AwsStepError(Step.TARGET_ROLE, "AccessDenied", "not authorized: iam:GetRolePolicy")

    monkeypatch.setattr(iam, "read_revocation_policy", denied)
    with pytest.raises(ValidationError) as refused:
        account_services.account_create(
            resource=resource,
            name="denied",
            target_role_arn=TARGET_ROLE_ARN,
            session_duration=900,
            actor=alice,
        )
    message = refused.value.message_dict["target_role_arn"][0]
    assert '"Allow revocation" is on' in message and "iam:PutRolePolicy" in message
    assert "AccessDenied" in message

    resource.allow_revocation = False
    resource.save()
    account_services.account_create(
        resource=resource,
        name="no-revocation",
        target_role_arn=TARGET_ROLE_ARN,
        session_duration=900,
        actor=alice,
    )


def test_revoking_in_a_loop_cannot_fill_the_policy_or_block_revoke_all(
    live, target, alice, settings
):
    settings.PAM_ACCESS_RATE = (1000, 60)
    account, (una, vic) = live
    for _ in range(50):  # more than IAM's limit would hold as separate statements
        session = access(account, una.user)
        session.refresh_from_db()
        revocation.session_revoke(session=session, actor=una.user, reason="loop")
    [only] = policy(target)["Statement"]  # una's latest covers her 49 earlier ones
    assert only["Condition"]["StringEquals"]["aws:userid"] == una.assumed_role_id
    revocation.account_sessions_revoke(account=account, actor=alice, reason="incident")
    statements = policy(target)["Statement"]
    # Revoke-all covers every statement before it (una's last one may end a second later:
    # its time is her credentials' issue time by AWS's clock, plus one second).
    assert len(statements) <= 2
    assert any("StringEquals" not in st["Condition"] for st in statements)
    vic.refresh_from_db()
    assert vic.status == Status.REVOKED


def test_revoking_one_session_records_the_same_persons_other_sessions_of_the_role(
    live, target, alice
):
    account, (una, _) = live
    second_tab = access(account, una.user)
    revocation.session_revoke(session=una, actor=alice, reason="incident")
    second_tab.refresh_from_db()
    # The deny names una's aws:userid, which her other session shares: IAM denies it too.
    assert second_tab.status == Status.REVOKED


def test_a_failing_write_is_retried_not_multiplied(live, target):
    account, (una, _) = live
    target.delete_role(RoleName="pam-readonly")
    account.grants.get(user=una.user).delete()
    for _ in range(5):
        revocation.revocations_sweep()
    with pytest.raises(revocation.RevocationFailed):
        revocation.session_revoke(session=una, actor=una.user, reason="again")
    assert Revocation.objects.filter(session=una).count() == 1


def test_the_admin_detail_page_revokes_its_session(live, target, alice):
    _, (una, _) = live
    client = Client()
    client.force_login(alice)
    page = client.get(f"/admin/sessions_app/consolesession/{una.pk}/change/").content.decode()
    assert "Revoke this session" in page
    url = f"/admin/sessions_app/consolesession/{una.pk}/revoke/"
    assert "Reason (recorded and audited)" in client.get(url).content.decode()
    done = client.post(url, {"confirm": "yes", "reason": "left"}, follow=True)
    assert f"#{una.pk} revoked." in done.content.decode()
    una.refresh_from_db()
    assert una.status == Status.REVOKED
    again = client.get(f"/admin/sessions_app/consolesession/{una.pk}/change/").content.decode()
    assert "Revoke this session" not in again
    viewer = UserFactory(username="vera", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_consolesession"))
    client.force_login(viewer)
    assert client.get(url).status_code == 403


def test_a_write_that_never_took_is_marked_never_in_force_not_pruned(live, target):
    _, (una, _) = live
    target.delete_role(RoleName="pam-readonly")
    with pytest.raises(revocation.RevocationFailed):
        revocation.session_revoke(session=una, actor=una.user, reason="x")
    row = Revocation.objects.get()
    target.create_role(RoleName="pam-readonly", AssumeRolePolicyDocument=TRUST)
    with time_machine.travel(row.prune_after + timedelta(seconds=1)):
        revocation.revocations_sweep()
    row.refresh_from_db()
    assert row.state == RevocationState.ABANDONED
    assert AuditEvent.objects.filter(
        object_type="sessions_app.revocation", action="update"
    ).exists()
