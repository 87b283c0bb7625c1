"""Just-in-time access, through the services and the Access chain: eligible grants,
requests, decisions by other people, windows that cap and end console sessions."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.urls import reverse
from django.utils import timezone

from access_requests import services
from access_requests.models import AccessRequest, Decision, RequestStatus
from audit.models import AuditEvent
from sessions_app.models import ConsoleSession, FailureStep, Status

from .factories import GroupFactory


def ask(account, user, **kwargs):
    values = {"reason": "INC-7: the queue is stuck", "duration_seconds": 3600}
    values.update(kwargs)
    return services.request_create(requester=user, account=account, **values)


def access(client, account):
    return client.post(reverse("account-access", args=[account.pk]))


def test_the_loop_request_approve_access_inside_refused_outside_window_end(
    client, federation, jit, bob, approver
):
    client.force_login(bob)
    # Eligible, no window: refused, and the attempt is a row that says why.
    refused = access(client, jit)
    assert refused.status_code == 403
    row = ConsoleSession.objects.get()
    assert (row.status, row.failure_step, row.error_code) == (
        Status.FAILED,
        FailureStep.WINDOW,
        "NoOpenWindow",
    )
    assert "request access" in refused.content.decode().lower()

    request = ask(jit, bob)
    assert request.status == RequestStatus.PENDING
    assert access(client, jit).status_code == 403

    request = services.request_decide(request=request, approver=approver, approve=True)
    assert request.status == RequestStatus.APPROVED
    assert request.ends_at - request.starts_at == timedelta(hours=1)

    granted = access(client, jit)
    assert granted.status_code == 302
    session = ConsoleSession.objects.filter(status=Status.ACTIVE).get()
    assert session.access_request == request
    # The account's 30 minutes fit in the hour left.
    assert session.duration_seconds == jit.session_duration

    with time_machine.travel(request.ends_at + timedelta(seconds=1)):
        assert access(client, jit).status_code == 403
        assert services.requests_sweep()["ended"] == 1
    request.refresh_from_db()
    assert request.status == RequestStatus.ENDED
    actions = list(
        AuditEvent.objects.filter(object_type="access_requests.accessrequest")
        .order_by("pk")
        .values_list("action", flat=True)
    )
    assert actions == ["request", "approve", "end"]


def test_a_console_session_never_outlives_its_window(client, aws, federation, jit, bob, approver):
    request = ask(jit, bob, duration_seconds=3600)
    services.request_decide(request=request, approver=approver, approve=True)
    request.refresh_from_db()
    client.force_login(bob)
    # 20 minutes left: the session gets those 20 minutes, not the account's 30.
    with time_machine.travel(request.ends_at - timedelta(minutes=20), tick=False):
        assert access(client, jit).status_code == 302
    session = ConsoleSession.objects.get(status=Status.ACTIVE)
    assert session.duration_seconds == 20 * 60
    # Both hops ask AWS for exactly that.
    assert [c.params["DurationSeconds"] for c in aws.calls[-2:]] == ["1200", "1200"]

    # Under 15 minutes left: refused, with the offer to request more.
    with time_machine.travel(request.ends_at - timedelta(minutes=14), tick=False):
        response = access(client, jit)
    assert response.status_code == 403
    failed = ConsoleSession.objects.get(status=Status.FAILED)
    assert failed.error_code == "WindowEnding"
    assert "request a new window" in failed.error_message


def test_two_approvals_from_two_different_people(jit, bob, approver, second_approver):
    jit.approvals_required = 2
    jit.save()
    request = ask(jit, bob)
    request = services.request_decide(request=request, approver=approver, approve=True)
    assert request.status == RequestStatus.PENDING
    # The same person twice (a double click) is refused and records nothing new.
    with pytest.raises(services.RequestRefused, match="already approved"):
        services.request_decide(request=request, approver=approver, approve=True)
    assert Decision.objects.count() == 1
    request = services.request_decide(request=request, approver=second_approver, approve=True)
    assert request.status == RequestStatus.APPROVED


def test_nobody_approves_their_own_request_directly_or_through_a_group(jit, bob, approver):
    jit.approver_users.add(bob)
    with pytest.raises(services.RequestRefused, match="your own request"):
        services.request_decide(request=ask(jit, bob), approver=bob, approve=True)

    group = GroupFactory(name="approvers")
    jit.approver_users.remove(bob)
    jit.approver_groups.add(group)
    bob.groups.add(group)
    with pytest.raises(services.RequestRefused, match="your own request"):
        services.request_decide(request=AccessRequest.objects.get(), approver=bob, approve=True)
    # ... nor as a superuser with every permission.
    bob.is_superuser = True
    bob.save()
    with pytest.raises(services.RequestRefused, match="your own request"):
        services.request_decide(request=AccessRequest.objects.get(), approver=bob, approve=True)
    assert not Decision.objects.exists()


def test_a_denial_ends_it_and_later_decisions_are_refused(jit, bob, approver, second_approver):
    request = services.request_decide(request=ask(jit, bob), approver=approver, approve=False)
    assert request.status == RequestStatus.DENIED
    with pytest.raises(services.RequestRefused, match="denied") as refused:
        services.request_decide(request=request, approver=second_approver, approve=True)
    assert refused.value.conflict


def test_a_pending_request_expires_after_24_hours(jit, bob, approver):
    request = ask(jit, bob)
    with time_machine.travel(timezone.now() + timedelta(hours=24, seconds=1)):
        with pytest.raises(services.RequestRefused, match="expired"):
            services.request_decide(request=request, approver=approver, approve=True)
        assert services.requests_sweep()["expired"] == 0  # already recorded by the refusal
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED

    other = ask(jit, bob)
    with time_machine.travel(timezone.now() + timedelta(hours=25)):
        assert services.requests_sweep()["expired"] == 1
    other.refresh_from_db()
    assert other.status == RequestStatus.EXPIRED


def test_one_open_request_per_person_and_account(jit, bob):
    ask(jit, bob)
    with pytest.raises(ValidationError) as error:
        ask(jit, bob)
    assert "already have an open request" in str(error.value.message_dict["account"])


@pytest.mark.parametrize(
    ("values", "field", "text"),
    [
        ({"duration_seconds": 14 * 60}, "duration", "at least 15m"),
        ({"duration_seconds": 5 * 3600}, "duration", "at most 4h"),
        ({"reason": "   "}, "reason", "required"),
        ({"reason": "x" * 2000}, "reason", "At most 1000"),
        ({"ticket": "T" * 101}, "ticket", "At most 100"),
        ({"starts_at_delta": timedelta(hours=-1)}, "starts_at", "in the past"),
        ({"starts_at_delta": timedelta(days=7, hours=1)}, "starts_at", "7 days"),
    ],
)
def test_bad_requests_name_the_field_and_the_rule(jit, bob, values, field, text):
    values = dict(values)
    if "starts_at_delta" in values:
        values["starts_at"] = timezone.now() + values.pop("starts_at_delta")
    with pytest.raises(ValidationError) as error:
        ask(jit, bob, **values)
    assert text in " ".join(error.value.message_dict[field])
    assert not AccessRequest.objects.exists()


def test_only_eligible_people_may_request(jit, charlie, account, bob):
    with pytest.raises(ValidationError, match="not eligible"):
        ask(jit, charlie)
    # A standing grant is not eligibility: there is nothing to ask for.
    with pytest.raises(ValidationError, match="not eligible"):
        ask(account, bob)


def test_a_later_start_opens_by_itself(client, federation, jit, bob, approver):
    start = timezone.now() + timedelta(hours=2)
    request = ask(jit, bob, starts_at=start)
    request = services.request_decide(request=request, approver=approver, approve=True)
    assert request.starts_at == start
    client.force_login(bob)
    assert access(client, jit).status_code == 403
    with time_machine.travel(start + timedelta(seconds=5)):
        assert access(client, jit).status_code == 302


def test_break_glass_opens_at_once_with_mfa_and_at_most_an_hour(client, federation, jit, bob):
    with pytest.raises(ValidationError, match="off for this account"):
        ask(jit, bob, break_glass=True, second_factor=True)
    jit.break_glass = True
    jit.save()
    with pytest.raises(ValidationError) as no_mfa:
        ask(jit, bob, break_glass=True)
    assert "second factor" in " ".join(no_mfa.value.message_dict["second_factor"])
    with pytest.raises(ValidationError) as too_long:
        ask(jit, bob, break_glass=True, second_factor=True, duration_seconds=7200)
    assert "at most 1h" in " ".join(too_long.value.message_dict["duration"])

    request = ask(jit, bob, break_glass=True, second_factor=True)
    assert (request.status, request.break_glass) == (RequestStatus.APPROVED, True)
    client.force_login(bob)
    assert access(client, jit).status_code == 302
    assert ConsoleSession.objects.get(status=Status.ACTIVE).access_request.break_glass
    assert AuditEvent.objects.filter(action="break_glass").exists()


def test_standing_grants_are_unchanged(client, federation, account, bob):
    client.force_login(bob)
    assert access(client, account).status_code == 302
    assert ConsoleSession.objects.get().access_request is None


def test_cancel_and_revoke(jit, bob, approver, charlie):
    request = ask(jit, bob)
    with pytest.raises(services.RequestRefused, match="Only the person"):
        services.request_cancel(request=request, actor=approver)
    request = services.request_cancel(request=request, actor=bob)
    assert request.status == RequestStatus.CANCELLED

    request = services.request_decide(request=ask(jit, bob), approver=approver, approve=True)
    with pytest.raises(services.RequestRefused, match="Only an approver"):
        services.request_revoke(request=request, actor=charlie)
    request = services.request_revoke(request=request, actor=approver, comment="done early")
    assert (request.status, request.end_reason, request.ended_by) == (
        RequestStatus.REVOKED,
        "done early",
        approver,
    )
