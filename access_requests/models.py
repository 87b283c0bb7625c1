"""Access requests: an eligible person asks for a time-bound window on one PAM account,
with a reason; other people approve it (SPEC "Just-in-time access").

    pending -> approved (window set) -> ended       (its time ran out, or ended early)
    pending -> denied | cancelled | expired         (24 h without a decision)
    approved -> revoked                             (an approver or admin took it back)

Rows are never deleted: they are the history of who asked for what, why, and who said
yes. A console session opened inside a window points at its request.
"""

from __future__ import annotations

from datetime import datetime

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from accounts.models import PamAccount
from pam_project.durations import format_duration
from pam_project.querysets import RestrictedQuerySet
from pam_project.roles import HISTORY_READERS, Role, role_project_ids

REASON_MAX = 1000
TICKET_MAX = 100
COMMENT_MAX = 1000


class RequestStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    APPROVED = "approved", "Approved"
    DENIED = "denied", "Denied"
    CANCELLED = "cancelled", "Cancelled"
    EXPIRED = "expired", "Expired"
    ENDED = "ended", "Ended"
    REVOKED = "revoked", "Revoked"


# At most one of these per person and account (a partial unique index).
OPEN_STATUSES = (RequestStatus.PENDING, RequestStatus.APPROVED)


def approver_q(user: object, prefix: str = "") -> Q:
    """Accounts (rows reached through `prefix`) `user` approves: the account names them
    (directly or through one of their groups), or it names nobody and they hold the
    approver role in its project (SPEC "Separation of duties")."""
    named = Q(**{f"{prefix}approver_users": user}) | Q(**{f"{prefix}approver_groups__user": user})
    names_nobody = Q(**{f"{prefix}approver_users__isnull": True}) & Q(
        **{f"{prefix}approver_groups__isnull": True}
    )
    by_role = Q(**{f"{prefix}resource__project_id__in": role_project_ids(user, [Role.APPROVER])})
    return named | (names_nobody & by_role)


class AccessRequestQuerySet(RestrictedQuerySet):
    project_path = "account__resource__project_id"
    role_actions = {"view": HISTORY_READERS}
    global_actions = frozenset({"decide"})

    def own(self, user: object) -> AccessRequestQuerySet:
        """A person sees their own requests and those they may decide (approvers of the
        account); holders of view_accessrequest (ops, auditors) see every request."""
        approvable = PamAccount.objects.filter(approver_q(user)).values("pk")
        return self.filter(Q(requester=user) | Q(account__in=approvable))

    def open_windows(self, now: datetime | None = None) -> AccessRequestQuerySet:
        now = now or timezone.now()
        return self.filter(status=RequestStatus.APPROVED, starts_at__lte=now, ends_at__gt=now)


class AccessRequest(models.Model):
    account = models.ForeignKey(
        PamAccount, on_delete=models.PROTECT, related_name="access_requests", db_index=False
    )
    requester = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        on_delete=models.SET_NULL,
        related_name="access_requests",
        db_index=False,
    )
    # Snapshot: history must still name the person after the user changes or goes.
    requester_name = models.CharField(max_length=254)
    reason = models.TextField(max_length=REASON_MAX)
    ticket = models.CharField("ticket reference", max_length=TICKET_MAX, blank=True)
    duration_seconds = models.PositiveIntegerField("duration")
    # What was asked: a start in the future, or null for "as soon as approved".
    requested_start = models.DateTimeField(null=True, blank=True)
    break_glass = models.BooleanField(default=False)
    approvals_required = models.PositiveSmallIntegerField(default=1)

    status = models.CharField(
        max_length=16, choices=RequestStatus.choices, default=RequestStatus.PENDING
    )
    created_at = models.DateTimeField(default=timezone.now)
    # A pending request nobody decided in 24 h expires.
    expires_at = models.DateTimeField()
    decided_at = models.DateTimeField(null=True, blank=True)
    # The window, set when approved: Access is allowed in [starts_at, ends_at).
    starts_at = models.DateTimeField(null=True, blank=True)
    ends_at = models.DateTimeField(null=True, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    # Who ended it early (cancel, revoke) and why; the system for time running out.
    ended_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        db_index=False,
    )
    ended_by_name = models.CharField(max_length=254, blank=True)
    end_reason = models.CharField(max_length=COMMENT_MAX, blank=True)
    # When the "15 minutes left" notice went out (sent once).
    ending_notice_at = models.DateTimeField(null=True, blank=True)

    objects = AccessRequestQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        permissions = [
            ("decide_accessrequest", "Can decide (and revoke) anyone's access requests"),
        ]
        constraints = [
            # One open request per person and account: a double submit, or two tabs,
            # cannot make two.
            models.UniqueConstraint(
                fields=["requester", "account"],
                condition=Q(status__in=["pending", "approved"]),
                name="request_one_open_per_account",
                violation_error_message="You already have an open request for this account.",
            ),
            models.CheckConstraint(
                condition=Q(status__in=["pending", "denied", "cancelled", "expired"])
                | Q(starts_at__isnull=False, ends_at__isnull=False),
                name="request_window_when_approved",
            ),
        ]
        indexes = [
            models.Index(fields=["requester", "account", "status"], name="request_open_idx"),
            models.Index(fields=["account", "-created_at"], name="request_account_idx"),
            models.Index(fields=["status", "expires_at"], name="request_status_expires_idx"),
            models.Index(fields=["status", "ends_at"], name="request_status_ends_idx"),
        ]

    def __str__(self) -> str:
        return f"request #{self.pk} {self.requester_name} on {self.account_id} ({self.status})"

    @property
    def duration_text(self) -> str:
        return format_duration(self.duration_seconds)

    def is_open_now(self, now: datetime | None = None) -> bool:
        now = now or timezone.now()
        return (
            self.status == RequestStatus.APPROVED
            and self.starts_at is not None
            and self.ends_at is not None
            and self.starts_at <= now < self.ends_at
        )

    def seconds_left(self, now: datetime | None = None) -> float | None:
        if not self.is_open_now(now):
            return None
        return (self.ends_at - (now or timezone.now())).total_seconds()


class Verdict(models.TextChoices):
    APPROVE = "approve", "Approved"
    DENY = "deny", "Denied"


class Decision(models.Model):
    """One person's yes or no on one request. One per person: a double click, or a
    second approval from the same person, records nothing new."""

    request = models.ForeignKey(AccessRequest, on_delete=models.PROTECT, related_name="decisions")
    approver = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    approver_name = models.CharField(max_length=254)
    verdict = models.CharField(max_length=8, choices=Verdict.choices)
    comment = models.CharField(max_length=COMMENT_MAX, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["created_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["request", "approver"], name="decision_one_per_approver"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.approver_name} {self.verdict} request #{self.request_id}"
