"""Just-in-time access over the REST API: asking, deciding, cancelling and revoking
requests (`/api/v1/requests/`), and the configuration it rests on (grant kinds, account
approvers, approvals_required, max_window, break_glass), validated and audited."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Group, Permission
from django.utils import timezone
from rest_framework.test import APIClient

from access_requests.models import AccessRequest, Decision, RequestStatus
from accounts.models import AccountGrant, GrantKind, PamAccount
from accounts.tokens import token_create
from audit.models import AuditEvent
from mfa import stepup

from .factories import AccountFactory, GrantFactory, GroupFactory, UserFactory

REQUESTS = "/api/v1/requests/"


def api_for(user):
    client = APIClient()
    client.force_login(user)
    return client


def token_client(user, scope):
    client = APIClient()
    client.credentials(
        HTTP_AUTHORIZATION=f"Bearer {token_create(user=user, name=scope, scope=scope)[1]}"
    )
    return client


def ask(client, target, **overrides):
    body = {"account": target.pk, "reason": "INC-7: the queue is stuck", "duration": "1h"}
    body.update(overrides)
    return client.post(REQUESTS, body, format="json")


def decide(client, request_id, verdict="approve", **body):
    return client.post(f"{REQUESTS}{request_id}/{verdict}/", body, format="json")


# --- The loop ------------------------------------------------------------------------


def test_the_whole_loop_request_approve_and_the_window_shows(jit, bob, approver):
    bob_api = api_for(bob)
    asked = ask(bob_api, jit, ticket="INC-7")
    assert asked.status_code == 201, asked.content
    body = asked.json()
    assert (body["status"], body["account"], body["requester"]) == ("pending", jit.pk, bob.pk)
    assert (body["duration"], body["duration_seconds"], body["ticket"]) == ("1h", 3600, "INC-7")
    assert body["requester_name"] == "bob@example.com"
    assert (body["starts_at"], body["ends_at"], body["decisions"]) == (None, None, [])
    assert body["approvals_required"] == 1 and body["break_glass"] is False
    assert body["expires_at"]

    # The approver sees it (they approve this account) and approves it, with a comment.
    approver_api = api_for(approver)
    assert [r["id"] for r in approver_api.get(REQUESTS).json()["results"]] == [body["id"]]
    approved = decide(approver_api, body["id"], comment="go ahead")
    assert approved.status_code == 200, approved.content
    assert approved.json()["status"] == "approved"

    shown = bob_api.get(f"{REQUESTS}{body['id']}/").json()
    assert shown["status"] == "approved"
    row = AccessRequest.objects.get()
    assert row.ends_at - row.starts_at == timedelta(hours=1)
    assert shown["starts_at"] and shown["ends_at"] and shown["decided_at"]
    (decision,) = shown["decisions"]
    assert decision["approver"] == approver.pk
    assert decision["approver_name"] == "dana@example.com"
    assert (decision["verdict"], decision["comment"]) == ("approve", "go ahead")
    assert list(
        AuditEvent.objects.filter(object_type="access_requests.accessrequest")
        .order_by("pk")
        .values_list("action", "via")
    ) == [("request", "api"), ("approve", "api")]


def test_two_approvals_from_two_different_people(jit, bob, approver, second_approver):
    jit.approvals_required = 2
    jit.save()
    request_id = ask(api_for(bob), jit).json()["id"]
    first = decide(api_for(approver), request_id)
    assert first.status_code == 200
    assert (first.json()["status"], len(first.json()["decisions"])) == ("pending", 1)
    # The same person again (a double click, or a second approval from oneself): 409,
    # and still one decision.
    again = decide(api_for(approver), request_id)
    assert again.status_code == 409
    assert "already approved" in again.json()["detail"]
    assert Decision.objects.count() == 1
    second = decide(api_for(second_approver), request_id)
    assert second.status_code == 200
    assert second.json()["status"] == "approved"
    assert [d["approver"] for d in second.json()["decisions"]] == [approver.pk, second_approver.pk]


def test_a_double_approve_is_409_and_records_one_decision(jit, bob, approver, second_approver):
    request_id = ask(api_for(bob), jit).json()["id"]
    assert decide(api_for(approver), request_id).status_code == 200
    twice = decide(api_for(approver), request_id)
    assert twice.status_code == 409
    late = decide(api_for(second_approver), request_id, "deny")
    assert late.status_code == 409
    assert "approved: nothing left to decide" in late.json()["detail"]
    assert Decision.objects.count() == 1
    assert AccessRequest.objects.get().status == RequestStatus.APPROVED


def test_nobody_approves_their_own_request_directly_or_through_a_group(jit, bob):
    jit.approver_users.add(bob)
    bob_api = api_for(bob)
    request_id = ask(bob_api, jit).json()["id"]
    direct = decide(bob_api, request_id)
    assert direct.status_code == 403
    assert "your own request" in direct.json()["detail"]

    jit.approver_users.remove(bob)
    group = GroupFactory(name="approvers")
    jit.approver_groups.add(group)
    bob.groups.add(group)
    through_group = decide(bob_api, request_id)
    assert through_group.status_code == 403
    assert "your own request" in through_group.json()["detail"]
    # ... nor as a superuser.
    bob.is_superuser = True
    bob.save()
    assert decide(bob_api, request_id).status_code == 403
    assert not Decision.objects.exists()
    assert AccessRequest.objects.get().status == RequestStatus.PENDING


def test_deciding_an_expired_request_is_409_and_records_the_expiry(jit, bob, approver):
    request_id = ask(api_for(bob), jit).json()["id"]
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        late = decide(api_for(approver), request_id)
    assert late.status_code == 409
    assert "expired" in late.json()["detail"]
    assert AccessRequest.objects.get().status == RequestStatus.EXPIRED
    assert not Decision.objects.exists()


def test_deny_cancel_and_revoke(jit, bob, approver, charlie):
    bob_api, approver_api = api_for(bob), api_for(approver)
    denied_id = ask(bob_api, jit).json()["id"]
    denied = decide(approver_api, denied_id, "deny", comment="not during the freeze")
    assert (denied.status_code, denied.json()["status"]) == (200, "denied")
    assert denied.json()["decisions"][0]["verdict"] == "deny"

    cancelled_id = ask(bob_api, jit).json()["id"]
    # Only the requester cancels: the approver gets 403, an outsider does not see it.
    assert decide(approver_api, cancelled_id, "cancel").status_code == 403
    assert decide(api_for(charlie), cancelled_id, "cancel").status_code == 404
    cancelled = decide(bob_api, cancelled_id, "cancel", comment="fixed by itself")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert cancelled.json()["end_reason"] == "fixed by itself"
    assert decide(bob_api, cancelled_id, "cancel").status_code == 409

    revoked_id = ask(bob_api, jit).json()["id"]
    # Only an approved window can be revoked; the requester may not revoke it.
    assert decide(approver_api, revoked_id, "revoke").status_code == 409
    assert decide(approver_api, revoked_id).status_code == 200
    assert decide(bob_api, revoked_id, "revoke").status_code == 403
    revoked = decide(approver_api, revoked_id, "revoke", comment="done early")
    assert revoked.status_code == 200
    body = revoked.json()
    assert (body["status"], body["end_reason"], body["ended_by_name"]) == (
        "revoked",
        "done early",
        "dana@example.com",
    )
    assert body["ended_at"]


def test_a_comment_is_checked(jit, bob, approver):
    request_id = ask(api_for(bob), jit).json()["id"]
    for comment in ("x" * 1001, ["a list"], "nul\x00"):
        response = decide(api_for(approver), request_id, comment=comment)
        assert response.status_code == 400, comment
        assert "comment" in response.json()
    assert not Decision.objects.exists()


# --- Bad input: 400 naming the field ---------------------------------------------------


@pytest.mark.parametrize(
    ("overrides", "field", "says"),
    [
        ({"duration": "5h"}, "duration", "at most 4h"),  # above the account's max_window
        ({"duration": "14m"}, "duration", "at least 15m"),
        ({"duration": "soon"}, "duration", "not a duration"),
        ({"duration": ""}, "duration", "Enter a duration"),
        ({"duration": 3600}, "duration", "Not a valid string"),
        ({"reason": ""}, "reason", "required"),
        ({"reason": "   "}, "reason", "required"),
        ({"reason": "x" * 2000}, "reason", "at most 1000"),
        ({"ticket": "T" * 101}, "ticket", "at most 100"),
        ({"starts_at": "-1h"}, "starts_at", "valid date/time"),
        ({"starts_at_delta": timedelta(hours=-1)}, "starts_at", "in the past"),
        ({"starts_at_delta": timedelta(days=7, hours=1)}, "starts_at", "7 days"),
        ({"break_glass": "maybe"}, "break_glass", "valid boolean"),
        ({"break_glass": True}, "break_glass", "off for this account"),
        ({"account": "abc"}, "account", "valid integer"),
        ({"account": None}, "account", "required"),
    ],
)
def test_bad_input_is_a_400_naming_the_field(jit, bob, overrides, field, says):
    overrides = dict(overrides)
    if "starts_at_delta" in overrides:
        overrides["starts_at"] = (timezone.now() + overrides.pop("starts_at_delta")).isoformat()
    response = ask(api_for(bob), jit, **overrides)
    assert response.status_code == 400, response.content
    errors = response.json()
    assert field in errors, errors
    assert says.lower() in " ".join(errors[field]).lower()
    assert not AccessRequest.objects.exists()


def test_a_window_within_max_window_and_a_later_start_are_accepted(jit, bob):
    jit.max_window = 8 * 3600
    jit.save()
    start = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    response = ask(api_for(bob), jit, duration="8h", starts_at=start.isoformat())
    assert response.status_code == 201, response.content
    assert response.json()["requested_start"].replace("Z", "+00:00") == start.isoformat()
    # A start given with an offset PostgreSQL would refuse is the same instant in UTC.
    AccessRequest.objects.all().delete()
    odd = (start + timedelta(hours=23, minutes=59)).isoformat().replace("+00:00", "+23:59")
    response = ask(api_for(bob), jit, starts_at=odd)
    assert response.status_code == 201, response.content
    assert AccessRequest.objects.get().requested_start == start


def test_one_open_request_per_account_names_the_account(jit, bob):
    assert ask(api_for(bob), jit).status_code == 201
    again = ask(api_for(bob), jit)
    assert again.status_code == 400
    assert "already have an open request" in again.json()["account"][0]


def test_an_account_one_may_not_request_is_404(jit, bob, charlie, account, alice):
    # Not eligible (charlie), a standing grant (bob on `account`), an account nobody can
    # see, an admin who sees everything but is not eligible: all 404, as for Access.
    assert ask(api_for(charlie), jit).status_code == 404
    assert ask(api_for(bob), account).status_code == 404
    assert ask(api_for(bob), AccountFactory()).status_code == 404
    assert ask(api_for(alice), jit).status_code == 404
    assert (
        api_for(bob)
        .post(REQUESTS, {"account": 2**70, "reason": "x", "duration": "1h"}, format="json")
        .status_code
        == 404
    )
    assert not AccessRequest.objects.exists()


def test_eligibility_through_a_group(jit, charlie):
    group = GroupFactory(name="oncall")
    charlie.groups.add(group)
    GrantFactory(account=jit, group=group, kind=GrantKind.ELIGIBLE)
    assert ask(api_for(charlie), jit).status_code == 201


def test_break_glass_needs_a_fresh_second_factor_from_the_web_session(jit, bob):
    jit.break_glass = True
    jit.save()
    token = token_client(bob, "access")
    refused = ask(token, jit, break_glass=True)
    assert refused.status_code == 400
    assert "second factor" in refused.json()["second_factor"][0]

    client = api_for(bob)
    session = client.session
    session[stepup.VERIFIED_AT] = timezone.now().timestamp()
    session[stepup.VERIFIED_USER] = bob.pk
    session.save()
    opened = ask(client, jit, break_glass=True, duration="30m")
    assert opened.status_code == 201, opened.content
    assert (opened.json()["status"], opened.json()["break_glass"]) == ("approved", True)
    assert opened.json()["ends_at"]


# --- Who sees what; filters --------------------------------------------------------------


def test_each_person_sees_their_own_and_those_they_approve(jit, bob, approver, charlie):
    other = AccountFactory(name="other")
    GrantFactory(account=other, user=charlie, kind=GrantKind.ELIGIBLE)
    bobs = ask(api_for(bob), jit).json()["id"]
    charlies = ask(api_for(charlie), other).json()["id"]

    def listed(user):
        return {r["id"] for r in api_for(user).get(REQUESTS).json()["results"]}

    assert listed(bob) == {bobs}
    assert listed(charlie) == {charlies}
    assert listed(approver) == {bobs}  # approves jit, not other
    assert api_for(approver).get(f"{REQUESTS}{charlies}/").status_code == 404
    assert decide(api_for(approver), charlies).status_code == 404

    ops = UserFactory(username="olga")
    ops.user_permissions.add(Permission.objects.get(codename="view_accessrequest"))
    assert listed(ops) == {bobs, charlies}
    # Seeing is not deciding.
    assert decide(api_for(ops), bobs).status_code == 403
    group = Group.objects.create(name="jit-approvers")
    jit.approver_groups.add(group)
    charlie.groups.add(group)
    assert listed(charlie) == {bobs, charlies}


def test_filters_status_account_requester(jit, bob, approver, charlie):
    other = AccountFactory(name="other")
    GrantFactory(account=other, user=charlie, kind=GrantKind.ELIGIBLE)
    other.approver_users.add(approver)
    pending = ask(api_for(bob), jit).json()["id"]
    approved = ask(api_for(charlie), other).json()["id"]
    decide(api_for(approver), approved)
    client = api_for(approver)

    def ids(**params):
        response = client.get(REQUESTS, params)
        assert response.status_code == 200, response.content
        return {r["id"] for r in response.json()["results"]}

    assert ids() == {pending, approved}
    assert ids(status="pending") == {pending}
    assert ids(status="approved") == {approved}
    assert ids(account=other.pk) == {approved}
    assert ids(requester=bob.pk) == {pending}
    assert ids(requester=bob.pk, status="approved") == set()
    assert ids(break_glass="true") == set()
    for params, field in (
        ({"status": "asleep"}, "status"),
        ({"account": "abc"}, "account"),
        ({"created_after": "yesterday"}, "created_after"),
    ):
        response = client.get(REQUESTS, params)
        assert response.status_code == 400
        assert field in response.json()


# --- Token scopes --------------------------------------------------------------------


def test_a_read_token_lists_but_cannot_ask_or_decide(jit, bob, approver):
    request_id = ask(api_for(bob), jit).json()["id"]
    bob_read = token_client(bob, "read")
    assert bob_read.get(REQUESTS).status_code == 200
    assert bob_read.get(f"{REQUESTS}{request_id}/").status_code == 200
    assert decide(bob_read, request_id, "cancel").status_code == 403
    approver_read = token_client(approver, "read")
    refused = decide(approver_read, request_id)
    assert refused.status_code == 403
    assert 'needs scope "access"' in refused.json()["detail"]
    assert ask(token_client(UserFactory(), "read"), jit).status_code == 403
    assert not Decision.objects.exists()

    # Scope access may: the approver's access token approves.
    assert decide(token_client(approver, "access"), request_id).status_code == 200
    AccessRequest.objects.update(status=RequestStatus.CANCELLED)
    assert ask(token_client(bob, "access"), jit).status_code == 201
    assert ask(token_client(bob, "read"), jit).status_code == 403


def test_anonymous_gets_401(jit):
    assert APIClient().get(REQUESTS).status_code == 401
    assert ask(APIClient(), jit).status_code == 401


# --- Configuration: grants and accounts ---------------------------------------------------


def test_grant_kind_via_the_api(alice, bob, charlie):
    account = AccountFactory()
    admin = api_for(alice)
    eligible = admin.post(
        "/api/v1/grants/",
        {"account": account.pk, "user": bob.pk, "kind": "eligible"},
        format="json",
    )
    assert eligible.status_code == 201, eligible.content
    assert eligible.json()["kind"] == "eligible"
    standing = admin.post(
        "/api/v1/grants/", {"account": account.pk, "user": charlie.pk}, format="json"
    )
    assert standing.json()["kind"] == "standing"  # the default
    bad = admin.post(
        "/api/v1/grants/",
        {"account": account.pk, "group": GroupFactory().pk, "kind": "always"},
        format="json",
    )
    assert bad.status_code == 400 and "kind" in bad.json()
    assert dict(AccountGrant.objects.values_list("user__username", "kind")) == {
        "bob": "eligible",
        "charlie": "standing",
    }
    created = AuditEvent.objects.filter(object_type="accounts.accountgrant", action="create")
    assert sorted(e.changes["kind"] for e in created) == ["eligible", "standing"]

    # Each caller's own kind shows on the account, beside `granted`.
    def seen_by(user):
        body = api_for(user).get(f"/api/v1/accounts/{account.pk}/").json()
        return body["granted"], body["grant_kind"]

    assert seen_by(bob) == (True, "eligible")
    assert seen_by(charlie) == (True, "standing")
    assert seen_by(alice) == (False, None)


def test_account_just_in_time_fields_are_read_and_written(alice, aws, approver, second_approver):
    account = AccountFactory()
    group = GroupFactory(name="approvers")
    admin = api_for(alice)
    url = f"/api/v1/accounts/{account.pk}/"
    body = admin.get(url).json()
    assert (body["approver_users"], body["approver_groups"]) == ([], [])
    assert (body["approvals_required"], body["max_window"], body["break_glass"]) == (1, "4h", False)
    assert body["max_window_seconds"] == 4 * 3600

    changed = admin.patch(
        url,
        {
            "approver_users": [second_approver.pk, approver.pk],
            "approver_groups": [group.pk],
            "approvals_required": 2,
            "max_window": "8h",
            "break_glass": True,
        },
        format="json",
    )
    assert changed.status_code == 200, changed.content
    body = changed.json()
    assert sorted(body["approver_users"]) == sorted([approver.pk, second_approver.pk])
    assert body["approver_groups"] == [group.pk]
    assert (body["approvals_required"], body["max_window"], body["break_glass"]) == (2, "8h", True)
    assert aws.assume_role_calls() == []  # who decides is not AWS's business
    account.refresh_from_db()
    assert account.max_window == 8 * 3600
    assert set(account.approver_users.all()) == {approver, second_approver}

    # The audit record names the approvers by id, in the same record as the rest.
    (event,) = AuditEvent.objects.filter(object_type="accounts.pamaccount", action="update")
    assert event.changes == {
        "approver_users": [[], sorted([approver.pk, second_approver.pk])],
        "approver_groups": [[], [group.pk]],
        "approvals_required": [1, 2],
        "max_window": [4 * 3600, 8 * 3600],
        "break_glass": [False, True],
    }
    assert (event.actor, event.via) == (alice, "api")

    # A PATCH of another field leaves the approvers alone and records only itself.
    assert admin.patch(url, {"description": "x"}, format="json").status_code == 200
    latest = AuditEvent.objects.filter(action="update").order_by("-pk").first()
    assert latest.changes == {"description": ["", "x"]}
    assert account.approver_users.count() == 2

    removed = admin.patch(url, {"approver_users": [approver.pk]}, format="json")
    assert removed.json()["approver_users"] == [approver.pk]
    latest = AuditEvent.objects.filter(action="update").order_by("-pk").first()
    assert latest.changes == {
        "approver_users": [sorted([approver.pk, second_approver.pk]), [approver.pk]]
    }


def test_creating_an_account_with_approvers(alice, aws, approver):
    from .factories import TARGET_ROLE_ARN, ResourceFactory

    resource = ResourceFactory()
    response = api_for(alice).post(
        "/api/v1/accounts/",
        {
            "resource": resource.pk,
            "name": "admin",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": "1h",
            "approver_users": [approver.pk],
            "max_window": "2h",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["approver_users"], body["max_window"], body["approvals_required"]) == (
        [approver.pk],
        "2h",
        1,
    )
    event = AuditEvent.objects.get(object_type="accounts.pamaccount", action="create")
    assert event.changes["approver_users"] == [approver.pk]
    assert event.changes["approver_groups"] == []
    assert event.changes["max_window"] == 7200


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("max_window", "13h", "at most 12h"),
        ("max_window", "10m", "at least 15m"),
        ("max_window", "soon", "not a duration"),
        ("max_window", 13 * 3600, "at most 12h"),
        ("approvals_required", 3, "not one of the available choices"),
        ("approvals_required", 0, "not one of the available choices"),
        ("approver_users", [999999], "not one of the available choices"),
        ("approver_groups", "1", "list of values"),
        ("break_glass", "perhaps", ""),
    ],
)
def test_account_configuration_is_validated(alice, aws, field, value, says):
    account = AccountFactory()
    response = api_for(alice).patch(
        f"/api/v1/accounts/{account.pk}/", {field: value}, format="json"
    )
    if field == "break_glass":
        # A form's checkbox reads any text as on; what matters: never a 500.
        assert response.status_code in (200, 400)
        return
    assert response.status_code == 400, response.content
    assert says in " ".join(response.json()[field])
    stored = PamAccount.objects.get()
    assert (stored.max_window, stored.approvals_required) == (4 * 3600, 1)
    assert not AuditEvent.objects.filter(action="update").exists()


def test_configuration_writes_need_a_token_with_scope_admin(alice, approver):
    account = AccountFactory()
    url = f"/api/v1/accounts/{account.pk}/"
    body = {"approver_users": [approver.pk]}
    assert token_client(alice, "access").patch(url, body, format="json").status_code == 403
    assert token_client(alice, "admin").patch(url, body, format="json").status_code == 200
