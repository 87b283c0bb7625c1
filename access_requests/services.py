"""Every write to an access request: asking, deciding, cancelling, revoking, and the
clock's own moves (a pending request expiring, a window ending). Each is a conditional
change under a row lock, so a double click, a task that runs twice, or the sweep racing
a person changes nothing it should not; each is audited.

Nobody decides their own request (not through a group, not as a superuser); a second
approval comes from a different person; a denial ends it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.models import PamAccount
from audit.services import audit_record
from pam_project.durations import (
    BREAK_GLASS_MAX_SECONDS,
    MAX_START_AHEAD_SECONDS,
    check_window,
    format_duration,
)
from pam_project.publishing import publish
from pam_project.users import user_label

from . import notifications, selectors
from .events import window_closed
from .models import (
    COMMENT_MAX,
    OPEN_STATUSES,
    REASON_MAX,
    TICKET_MAX,
    AccessRequest,
    Decision,
    RequestStatus,
    Verdict,
)

log = logging.getLogger(__name__)

# A pending request nobody decided is dropped after this (SPEC).
PENDING_LIFETIME = timedelta(hours=24)
# The requester hears this long before their window ends; below it Access is refused
# (a console session shorter than AWS's 15-minute minimum cannot be made).
ENDING_NOTICE = timedelta(minutes=15)
# A start "now" may be a few seconds in the past by the time the form is read.
START_SLACK = timedelta(minutes=1)

END_TASK = "access_requests.tasks.end_window"
ENDING_TASK = "access_requests.tasks.window_ending"


class RequestRefused(Exception):
    """A decision, cancel or revoke that the rules do not allow; `message` says which
    rule. `conflict`: the request is no longer in a state for it (already decided,
    expired), as opposed to the person not being allowed."""

    def __init__(self, message: str, *, conflict: bool = False) -> None:
        super().__init__(message)
        self.message = message
        self.conflict = conflict


def _text(value: str, *, field: str, maximum: int, required: bool, what: str) -> str:
    value = (value or "").strip()
    if required and not value:
        raise ValidationError({field: f"{what} (required)."})
    if len(value) > maximum:
        raise ValidationError({field: f"At most {maximum} characters (this is {len(value)})."})
    return value


def request_create(
    *,
    requester: AbstractUser,
    account: PamAccount,
    reason: str,
    duration_seconds: int,
    ticket: str = "",
    starts_at: datetime | None = None,
    break_glass: bool = False,
    second_factor: bool = False,
    now: datetime | None = None,
) -> AccessRequest:
    """Ask for a window on `account` (pending), or open one at once (`break_glass`).

    Field errors raise ValidationError naming the field. The caller has checked that
    the account is visible to the requester (else 404); eligibility is checked here.
    `second_factor`: the person verified a second factor in the last 5 minutes (a web
    session's step-up; never an API token), which break-glass and require_mfa need.
    """
    now = now or timezone.now()
    if not selectors.is_eligible(requester, account):
        raise ValidationError(
            {"account": "You are not eligible for this account: requests need an eligible grant."}
        )
    reason = _text(
        reason, field="reason", maximum=REASON_MAX, required=True, what="Say why you need access"
    )
    ticket = _text(ticket, field="ticket", maximum=TICKET_MAX, required=False, what="")
    maximum = account.max_window
    if break_glass:
        if not account.break_glass:
            raise ValidationError({"break_glass": "Break-glass is off for this account."})
        maximum = min(maximum, BREAK_GLASS_MAX_SECONDS)
        if starts_at is not None and starts_at > now + START_SLACK:
            raise ValidationError({"starts_at": "Break-glass opens now; it cannot start later."})
        starts_at = None
    try:
        check_window(duration_seconds, maximum=maximum)
    except ValidationError as exc:
        raise ValidationError({"duration": exc.messages}) from None
    if starts_at is not None:
        if starts_at < now - START_SLACK:
            raise ValidationError({"starts_at": "The start is in the past: pick now or later."})
        if starts_at > now + timedelta(seconds=MAX_START_AHEAD_SECONDS):
            raise ValidationError({"starts_at": "A request starts at most 7 days ahead."})
        if starts_at <= now + START_SLACK:
            starts_at = None  # "now", give or take the time it took to submit
    if (break_glass or account.require_mfa) and not second_factor:
        rule = "Break-glass" if break_glass else "This account (require_mfa)"
        raise ValidationError(
            {
                "second_factor": f"{rule} needs a second factor verified in the last 5 "
                "minutes, from the web page (an API token cannot give one)."
            }
        )
    request = AccessRequest(
        account=account,
        requester=requester,
        requester_name=user_label(requester),
        reason=reason,
        ticket=ticket,
        duration_seconds=duration_seconds,
        requested_start=starts_at,
        break_glass=break_glass,
        approvals_required=account.approvals_required,
        created_at=now,
        expires_at=now + PENDING_LIFETIME,
    )
    if break_glass:
        request.status = RequestStatus.APPROVED
        request.decided_at = now
        request.starts_at = now
        request.ends_at = now + timedelta(seconds=duration_seconds)
    with transaction.atomic():
        _close_stale(requester, account, now)
        try:
            with transaction.atomic():
                request.save()
        except IntegrityError:
            raise ValidationError(
                {
                    "account": "You already have an open request for this account: cancel it "
                    "first, or wait for its decision."
                }
            ) from None
        audit_record(
            actor=requester,
            action="break_glass" if break_glass else "request",
            instance=request,
            changes=_facts(request),
        )
        if break_glass:
            _schedule_window(request)
            notifications.announce(notifications.BREAK_GLASS, request.pk)
        else:
            notifications.announce(notifications.REQUESTED, request.pk)
    log.info(
        "Access request %s: %s on account %s for %s%s",
        request.pk,
        request.requester_name,
        account.pk,
        format_duration(duration_seconds),
        " (break-glass)" if break_glass else "",
    )
    return request


def _facts(request: AccessRequest) -> dict[str, object]:
    return {
        "account": request.account_id,
        "reason": request.reason,
        "ticket": request.ticket,
        "duration": format_duration(request.duration_seconds),
        "starts": request.requested_start or "now",
        "status": request.status,
        "break_glass": request.break_glass,
        "ends_at": request.ends_at,
    }


def _close_stale(requester: AbstractUser, account: PamAccount, now: datetime) -> None:
    """Record, before a new request, what the clock already ended for this person and
    account (the sweep would, within a minute): they are not open any more."""
    stale = AccessRequest.objects.filter(requester=requester, account=account).filter(
        status__in=OPEN_STATUSES
    )
    for request in stale:
        if request.status == RequestStatus.PENDING and request.expires_at <= now:
            _expire(request.pk, now)
        elif request.status == RequestStatus.APPROVED and request.ends_at <= now:
            window_end(request_id=request.pk, now=now)


def _locked(request: AccessRequest) -> AccessRequest:
    return AccessRequest.objects.select_for_update().select_related("account").get(pk=request.pk)


def _comment(comment: str) -> str:
    return _text(comment, field="comment", maximum=COMMENT_MAX, required=False, what="")


def request_decide(
    *, request: AccessRequest, approver: AbstractUser, approve: bool, comment: str = ""
) -> AccessRequest:
    """Approve or deny. Raises RequestRefused when the rules say no: one's own request,
    not an approver, already decided (by anyone, or by this person: a double click
    records one decision), expired."""
    comment = _comment(comment)
    now = timezone.now()
    with transaction.atomic():
        request = _locked(request)
        if request.requester_id == approver.pk:
            raise RequestRefused("You cannot decide your own request: another approver must.")
        if not selectors.is_approver(approver, request.account):
            raise RequestRefused("You are not an approver of this account.")
        expired = request.status == RequestStatus.PENDING and request.expires_at <= now
        if expired:
            # Recorded (this transaction commits), then refused below.
            _close(request, RequestStatus.EXPIRED, None, "no decision within 24 hours")
            notifications.announce(notifications.DECIDED, request.pk)
        else:
            _decide_locked(request, approver, approve, comment, now)
    if expired:
        raise RequestRefused(
            "This request expired (no decision within 24 hours): nothing left to decide.",
            conflict=True,
        )
    return request


def _decide_locked(
    request: AccessRequest, approver: AbstractUser, approve: bool, comment: str, now: datetime
) -> None:
    if request.status != RequestStatus.PENDING:
        raise RequestRefused(
            f"This request is {request.get_status_display().lower()}: nothing left to decide.",
            conflict=True,
        )
    if request.decisions.filter(approver=approver).exists():
        raise RequestRefused(
            "You have already approved this request; it needs another approver.",
            conflict=True,
        )
    verdict = Verdict.APPROVE if approve else Verdict.DENY
    Decision.objects.create(
        request=request,
        approver=approver,
        approver_name=user_label(approver),
        verdict=verdict,
        comment=comment,
        created_at=now,
    )
    approvals = request.decisions.filter(verdict=Verdict.APPROVE).count()
    final = not approve or approvals >= request.approvals_required
    if not approve:
        request.status = RequestStatus.DENIED
        request.decided_at = now
    elif final:
        request.status = RequestStatus.APPROVED
        request.decided_at = now
        request.starts_at = max(request.requested_start or now, now)
        request.ends_at = request.starts_at + timedelta(seconds=request.duration_seconds)
    request.save()
    audit_record(
        actor=approver,
        action="approve" if approve else "deny",
        instance=request,
        changes={
            "comment": comment,
            "approvals": f"{approvals} of {request.approvals_required}",
            "status": request.status,
            "starts_at": request.starts_at,
            "ends_at": request.ends_at,
        },
    )
    if final:
        if request.status == RequestStatus.APPROVED:
            _schedule_window(request)
        notifications.announce(notifications.DECIDED, request.pk)


def request_cancel(
    *, request: AccessRequest, actor: AbstractUser, comment: str = ""
) -> AccessRequest:
    """The requester withdraws: a pending request is cancelled; an approved window is
    ended now (its live console sessions revoked, where the resource allows it)."""
    comment = _comment(comment)
    with transaction.atomic():
        request = _locked(request)
        if request.requester_id != actor.pk:
            raise RequestRefused("Only the person who asked can cancel a request.")
        if request.status == RequestStatus.PENDING:
            _close(request, RequestStatus.CANCELLED, actor, comment or "cancelled by requester")
            return request
        if request.status == RequestStatus.APPROVED:
            _close(request, RequestStatus.ENDED, actor, comment or "ended early by requester")
            return request
        raise RequestRefused(
            f"This request is {request.get_status_display().lower()}: nothing to cancel.",
            conflict=True,
        )


def request_revoke(
    *, request: AccessRequest, actor: AbstractUser, comment: str = ""
) -> AccessRequest:
    """An approver of the account (or an admin with the decide permission) takes an
    approved window back before its end; its live console sessions are revoked."""
    comment = _comment(comment)
    with transaction.atomic():
        request = _locked(request)
        if not selectors.is_approver(actor, request.account):
            raise RequestRefused("Only an approver of this account or an admin can revoke it.")
        if request.status != RequestStatus.APPROVED:
            raise RequestRefused(
                f"This request is {request.get_status_display().lower()}: only an approved "
                "window can be revoked.",
                conflict=True,
            )
        _close(request, RequestStatus.REVOKED, actor, comment or "revoked")
        notifications.announce(notifications.DECIDED, request.pk)
    return request


def _close(request: AccessRequest, status: str, actor: AbstractUser | None, why: str) -> None:
    """Inside the caller's transaction, with the row locked."""
    was_open = request.status == RequestStatus.APPROVED
    before = request.status
    now = timezone.now()
    request.status = status
    request.ended_at = now
    request.ended_by = actor
    request.ended_by_name = user_label(actor) if actor else "system"
    request.end_reason = why[:COMMENT_MAX]
    request.save()
    audit_record(
        actor=actor,
        action={
            RequestStatus.CANCELLED: "cancel",
            RequestStatus.REVOKED: "revoke",
            RequestStatus.EXPIRED: "expire",
        }.get(status, "end"),
        instance=request,
        changes={"status": [before, status], "reason": why},
    )
    if was_open:
        window_closed.send(sender=AccessRequest, request_ids=[request.pk])


def _expire(request_id: int, now: datetime) -> bool:
    with transaction.atomic():
        request = (
            AccessRequest.objects.select_for_update()
            .filter(pk=request_id, status=RequestStatus.PENDING, expires_at__lte=now)
            .first()
        )
        if request is None:
            return False
        _close(request, RequestStatus.EXPIRED, None, "no decision within 24 hours")
        notifications.announce(notifications.DECIDED, request.pk)
    return True


def window_end(*, request_id: int, now: datetime | None = None) -> bool:
    """approved -> ended once its time is up. Early or repeated calls change nothing."""
    now = now or timezone.now()
    with transaction.atomic():
        request = (
            AccessRequest.objects.select_for_update()
            .filter(pk=request_id, status=RequestStatus.APPROVED, ends_at__lte=now)
            .first()
        )
        if request is None:
            return False
        _close(request, RequestStatus.ENDED, None, "the window's time ran out")
    return True


def window_ending_notice(*, request_id: int, now: datetime | None = None) -> bool:
    """Tell the requester their window ends within 15 minutes: once per window."""
    now = now or timezone.now()
    sent = AccessRequest.objects.filter(
        pk=request_id,
        status=RequestStatus.APPROVED,
        ending_notice_at__isnull=True,
        ends_at__gt=now,
        ends_at__lte=now + ENDING_NOTICE,
    ).update(ending_notice_at=now)
    if sent:
        with transaction.atomic():
            notifications.announce(notifications.ENDING, request_id)
    return bool(sent)


def _schedule_window(request: AccessRequest) -> None:
    """Once committed: end the window at ends_at, warn 15 minutes before. The sweep does
    both too, a minute late at worst, if the broker is down."""
    request_id, ends_at = request.pk, request.ends_at

    def publish_both() -> None:
        publish(
            ENDING_TASK, [request_id], ends_at - ENDING_NOTICE, f"notice of request {request_id}"
        )
        publish(END_TASK, [request_id], ends_at, f"end of request {request_id}'s window")

    transaction.on_commit(publish_both)


def requests_sweep(*, now: datetime | None = None) -> dict[str, int]:
    """Expire pending requests past 24 h, end windows past their time, send the notices
    nobody sent. Idempotent; run every minute by Celery beat."""
    now = now or timezone.now()
    expired = sum(
        _expire(pk, now)
        for pk in AccessRequest.objects.filter(
            status=RequestStatus.PENDING, expires_at__lte=now
        ).values_list("pk", flat=True)
    )
    ended = sum(
        window_end(request_id=pk, now=now)
        for pk in AccessRequest.objects.filter(
            status=RequestStatus.APPROVED, ends_at__lte=now
        ).values_list("pk", flat=True)
    )
    notices = sum(
        window_ending_notice(request_id=pk, now=now)
        for pk in AccessRequest.objects.filter(
            status=RequestStatus.APPROVED,
            ending_notice_at__isnull=True,
            ends_at__gt=now,
            ends_at__lte=now + ENDING_NOTICE,
        ).values_list("pk", flat=True)
    )
    return {"expired": expired, "ended": ended, "notices": notices}
