"""Just-in-time access in the Django admin: the account's approvers, approvals and
window (saved through the service, audited), grant kinds, and access requests: a
read-only history with "Approve / Deny / Revoke selected" under the services' rules."""

from __future__ import annotations

import html
import re
from datetime import timedelta

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from access_requests import services
from access_requests.models import AccessRequest, Decision, RequestStatus
from accounts.models import AccountGrant, GrantKind, PamAccount
from audit.models import AuditEvent

from .factories import AccountFactory, GrantFactory, GroupFactory, UserFactory

CHANGELIST = "admin:access_requests_accessrequest_changelist"


@pytest.fixture
def admin_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def approver(db):
    # Staff: the admin is theirs to open (conftest's `jit` names them).
    return UserFactory(username="dana", email="dana@example.com", is_staff=True)


@pytest.fixture
def second_approver(db):
    return UserFactory(username="erin", email="erin@example.com", is_staff=True)


def ask(account, user, **kwargs):
    values = {"reason": "INC-7: the queue is stuck", "duration_seconds": 3600}
    values.update(kwargs)
    return services.request_create(requester=user, account=account, **values)


def logged_in(user):
    client = Client()
    client.force_login(user)
    return client


def text(response):
    return html.unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))


def field_errors(response, field):
    page = response.content.decode()
    match = re.search(
        rf'<ul class="errorlist"[^>]*id="id_{field}_error"[^>]*>(.*?)</ul>', page, re.S
    )
    return html.unescape(re.sub(r"<[^>]+>", " ", match.group(1))) if match else ""


def account_form(account, **overrides):
    data = {
        "name": account.name,
        "description": account.description,
        "target_role_arn": account.target_role_arn,
        "session_duration": "30m",
        "approvals_required": "1",
        "max_window": "4h",
        "grants-TOTAL_FORMS": "0",
        "grants-INITIAL_FORMS": "0",
        "grants-MIN_NUM_FORMS": "0",
        "grants-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


# --- The account's just-in-time configuration ----------------------------------------


def test_the_account_page_has_a_just_in_time_section(admin_client, aws):
    account = AccountFactory(max_window=2 * 3600)
    page = admin_client.get(reverse("admin:accounts_pamaccount_change", args=[account.pk]))
    content = page.content.decode()
    assert "Just-in-time access" in content
    for name in ("approver_users", "approver_groups", "approvals_required", "break_glass"):
        assert f'name="{name}"' in content
    assert 'name="max_window"' in content and 'value="2h"' in content
    # Grants show their kind.
    assert 'name="grants-0-kind"' in content
    add = admin_client.get(reverse("admin:accounts_pamaccount_add")).content.decode()
    assert "Just-in-time access" in add and 'value="4h"' in add  # the default window


def test_approvers_and_window_saved_in_the_admin_go_through_the_service_and_audit(
    admin_client, aws, alice, approver, second_approver
):
    account = AccountFactory()
    group = GroupFactory(name="approvers")
    url = reverse("admin:accounts_pamaccount_change", args=[account.pk])
    response = admin_client.post(
        url,
        account_form(
            account,
            approver_users=[approver.pk, second_approver.pk],
            approver_groups=[group.pk],
            approvals_required="2",
            max_window="6h",
            break_glass="on",
        ),
    )
    assert response.status_code == 302, field_errors(response, "max_window")
    account.refresh_from_db()
    assert (account.approvals_required, account.max_window, account.break_glass) == (
        2,
        6 * 3600,
        True,
    )
    assert set(account.approver_users.all()) == {approver, second_approver}
    assert list(account.approver_groups.all()) == [group]
    assert aws.calls == []  # nothing AWS checks changed
    (event,) = AuditEvent.objects.filter(object_type="accounts.pamaccount", action="update")
    assert event.changes == {
        "approver_users": [[], sorted([approver.pk, second_approver.pk])],
        "approver_groups": [[], [group.pk]],
        "approvals_required": [1, 2],
        "max_window": [4 * 3600, 6 * 3600],
        "break_glass": [False, True],
    }
    assert (event.actor, event.via) == (alice, "admin")

    # Removing an approver is recorded too; saving unchanged records nothing.
    admin_client.post(
        url,
        account_form(
            account,
            approver_users=[approver.pk],
            approver_groups=[group.pk],
            approvals_required="2",
            max_window="6h",
            break_glass="on",
        ),
    )
    assert list(account.approver_users.all()) == [approver]
    latest = AuditEvent.objects.filter(action="update").order_by("-pk").first()
    assert latest.changes == {
        "approver_users": [sorted([approver.pk, second_approver.pk]), [approver.pk]]
    }
    count = AuditEvent.objects.count()
    admin_client.post(
        url,
        account_form(
            account,
            approver_users=[approver.pk],
            approver_groups=[group.pk],
            approvals_required="2",
            max_window="6h",
            break_glass="on",
        ),
    )
    assert AuditEvent.objects.count() == count


def test_creating_an_account_with_approvers_in_the_admin(admin_client, aws, approver):
    from .factories import TARGET_ROLE_ARN, ResourceFactory

    resource = ResourceFactory()
    data = {
        **account_form(AccountFactory.build(name="admin", target_role_arn=TARGET_ROLE_ARN)),
        "resource": resource.pk,
        "approver_users": [approver.pk],
        "max_window": "1h",
    }
    response = admin_client.post(reverse("admin:accounts_pamaccount_add"), data)
    assert response.status_code == 302, field_errors(response, "target_role_arn")
    account = PamAccount.objects.get()
    assert (list(account.approver_users.all()), account.max_window) == ([approver], 3600)
    event = AuditEvent.objects.get(object_type="accounts.pamaccount", action="create")
    assert (event.changes["approver_users"], event.changes["max_window"]) == ([approver.pk], 3600)


@pytest.mark.parametrize(
    ("field", "value", "says"),
    [
        ("max_window", "13h", "at most 12h"),
        ("max_window", "10m", "at least 15m"),
        ("max_window", "abc", "is not a duration"),
        ("approvals_required", "3", "not one of the available choices"),
    ],
)
def test_bad_configuration_is_shown_next_to_the_field(admin_client, aws, field, value, says):
    account = AccountFactory()
    response = admin_client.post(
        reverse("admin:accounts_pamaccount_change", args=[account.pk]),
        account_form(account, **{field: value}),
    )
    assert response.status_code == 200
    assert says in field_errors(response, field)
    stored = PamAccount.objects.get()
    assert (stored.max_window, stored.approvals_required) == (4 * 3600, 1)


def test_an_eligible_grant_from_the_admin_inline(admin_client, aws, bob):
    account = AccountFactory()
    url = reverse("admin:accounts_pamaccount_change", args=[account.pk])
    data = account_form(
        account,
        **{"grants-TOTAL_FORMS": "1", "grants-0-user": bob.pk, "grants-0-kind": "eligible"},
    )
    assert admin_client.post(url, data).status_code == 302
    grant = AccountGrant.objects.get()
    assert (grant.user, grant.kind) == (bob, GrantKind.ELIGIBLE)
    event = AuditEvent.objects.get(object_type="accounts.accountgrant", action="create")
    assert event.changes["kind"] == "eligible"

    # Making it standing is revoking it and granting anew: both audited.
    data = account_form(
        account,
        **{
            "grants-TOTAL_FORMS": "1",
            "grants-INITIAL_FORMS": "1",
            "grants-0-id": grant.pk,
            "grants-0-account": account.pk,
            "grants-0-user": bob.pk,
            "grants-0-kind": "standing",
        },
    )
    assert admin_client.post(url, data).status_code == 302
    assert list(AccountGrant.objects.values_list("kind", flat=True)) == ["standing"]
    assert AuditEvent.objects.filter(object_type="accounts.accountgrant", action="delete").exists()


# --- Access requests: read-only history ------------------------------------------------


def test_the_request_list_shows_status_window_and_flags_break_glass(admin_client, jit, bob):
    jit.break_glass = True
    jit.save()
    pending = ask(jit, bob)
    services.request_cancel(request=pending, actor=bob)
    glass = ask(jit, bob, break_glass=True, second_factor=True, duration_seconds=1800)
    page = admin_client.get(reverse(CHANGELIST))
    assert page.status_code == 200
    content = text(page)
    assert "bob@example.com" in content and "Cancelled" in content and "Approved" in content
    assert 'alt="True"' in page.content.decode()  # the break-glass flag

    def listed(query):
        response = admin_client.get(reverse(CHANGELIST) + query)
        assert response.status_code == 200
        return [r.pk for r in response.context["cl"].result_list]

    assert listed("?break_glass__exact=1") == [glass.pk]
    assert listed("?status__exact=cancelled") == [pending.pk]
    assert listed(f"?account__id__exact={jit.pk}") == [glass.pk, pending.pk]
    assert listed("?q=queue+is+stuck") == [glass.pk, pending.pk]
    assert listed("?q=nothing-like-it") == []


def test_a_request_page_is_read_only_with_its_decisions(admin_client, jit, bob, approver):
    request = services.request_decide(
        request=ask(jit, bob, ticket="INC-7"), approver=approver, approve=True, comment="ok"
    )
    url = reverse("admin:access_requests_accessrequest_change", args=[request.pk])
    page = admin_client.get(url)
    assert page.status_code == 200
    content = text(page)
    assert "INC-7: the queue is stuck" in content
    assert "dana@example.com" in content and "ok" in content  # the decision, inline
    assert 'name="reason"' not in page.content.decode()  # nothing to edit
    assert admin_client.post(url, {"reason": "changed"}).status_code == 403
    request.refresh_from_db()
    assert request.reason == "INC-7: the queue is stuck"
    assert admin_client.get(reverse("admin:access_requests_accessrequest_add")).status_code == 403
    delete = reverse("admin:access_requests_accessrequest_delete", args=[request.pk])
    assert admin_client.post(delete, {"post": "yes"}).status_code == 403
    assert AccessRequest.objects.filter(pk=request.pk).exists()
    assert Decision.objects.count() == 1


def test_each_staff_user_sees_only_what_restrict_shows(jit, bob, approver, charlie):
    request = ask(jit, bob)
    other = AccountFactory(name="other")
    GrantFactory(account=other, user=charlie, kind=GrantKind.ELIGIBLE)
    hidden = ask(other, charlie)
    page = logged_in(approver).get(reverse(CHANGELIST))
    assert page.status_code == 200
    assert page.context["cl"].result_count == 1
    assert [r.pk for r in page.context["cl"].result_list] == [request.pk]
    # The account filter names only the accounts of what they see.
    assert str(jit) in text(page) and str(other) not in text(page)
    detail = reverse("admin:access_requests_accessrequest_change", args=[hidden.pk])
    assert logged_in(approver).get(detail).status_code == 404  # as if it did not exist

    ops = UserFactory(username="olga", is_staff=True)
    ops.user_permissions.add(Permission.objects.get(codename="view_accessrequest"))
    listing = logged_in(ops).get(reverse(CHANGELIST))
    assert {r.pk for r in listing.context["cl"].result_list} == {request.pk, hidden.pk}
    # Seeing is not deciding: no decision actions for ops.
    assert "approve_selected" not in listing.content.decode()

    nobody = UserFactory(username="stan", is_staff=True)
    assert logged_in(nobody).get(reverse(CHANGELIST)).status_code == 403


# --- Actions through the services ---------------------------------------------------------


def act(client, name, *requests):
    return client.post(
        reverse(CHANGELIST),
        {"action": name, "_selected_action": [r.pk for r in requests]},
        follow=True,
    )


def messages_of(response):
    return [(m.level_tag, str(m)) for m in response.context["messages"]]


def test_approve_selected_reports_each_refusal_and_approves_the_rest(
    jit, bob, approver, second_approver, charlie
):
    jit.approver_users.add(charlie)
    GrantFactory(account=jit, user=approver, kind=GrantKind.ELIGIBLE)
    bobs = ask(jit, bob)
    danas_own = ask(jit, approver)
    response = act(logged_in(approver), "approve_selected", bobs, danas_own)
    assert response.status_code == 200
    said = messages_of(response)
    assert (
        "error",
        f"#{danas_own.pk}: You cannot decide your own request: another approver must.",
    ) in said
    assert ("success", f"Approved: #{bobs.pk}.") in said
    bobs.refresh_from_db()
    danas_own.refresh_from_db()
    assert (bobs.status, danas_own.status) == (RequestStatus.APPROVED, RequestStatus.PENDING)

    # Twice: a conflict, reported, nothing new recorded.
    again = act(logged_in(approver), "approve_selected", bobs)
    assert any(
        level == "error" and "nothing left to decide" in m for level, m in messages_of(again)
    )
    assert Decision.objects.filter(request=bobs).count() == 1


def test_deny_and_revoke_selected(jit, bob, approver, second_approver):
    denied = ask(jit, bob)
    act(logged_in(approver), "deny_selected", denied)
    denied.refresh_from_db()
    assert denied.status == RequestStatus.DENIED

    approved = services.request_decide(request=ask(jit, bob), approver=approver, approve=True)
    response = act(logged_in(second_approver), "revoke_selected", approved, denied)
    said = messages_of(response)
    assert ("success", f"Revoked: #{approved.pk}.") in said
    assert any(level == "error" and f"#{denied.pk}" in m for level, m in said)
    approved.refresh_from_db()
    assert (approved.status, approved.ended_by) == (RequestStatus.REVOKED, second_approver)


def test_deciding_an_expired_request_in_the_admin_is_an_error_message_not_a_500(jit, bob, approver):
    request = ask(jit, bob)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        response = act(logged_in(approver), "approve_selected", request)
    assert response.status_code == 200
    assert any(level == "error" and "expired" in m for level, m in messages_of(response))
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED


def test_the_actions_are_only_for_people_the_services_would_let_decide(jit, bob):
    # Staff with the view permission but no approver role get no decision actions; a
    # forged POST of one does nothing.
    ops = UserFactory(username="olga", is_staff=True)
    ops.user_permissions.add(Permission.objects.get(codename="view_accessrequest"))
    request = ask(jit, bob)
    act(logged_in(ops), "approve_selected", request)
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING
    assert not Decision.objects.exists()
