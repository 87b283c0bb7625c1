"""Reads of access requests that the Access chain, the pages, the API and the admin share."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Q, QuerySet
from django.utils import timezone

from accounts.models import AccountGrant, GrantKind, PamAccount
from pam_project.querysets import may
from pam_project.roles import Role
from resources.models import ProjectRole

from .models import OPEN_STATUSES, AccessRequest, RequestStatus, approver_q


def open_window_end(
    user_id: int, account_id: int, now: datetime | None = None
) -> tuple[int, datetime] | None:
    """(id, ends_at) of the approved window `user_id` is inside on `account_id` right
    now, if any. Plain SQL on the one-open-request index, because this runs inside every Access
    of an eligible grant and the ORM's query building costs more than the query
    (measured in-process on PostgreSQL: 1.1-1.4 ms through the ORM, 0.25 ms so;
    bench/access.py `access_window_minus_standing_median`)."""
    now = now or timezone.now()
    table = AccessRequest._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT id, ends_at FROM {table} WHERE requester_id = %s AND account_id = %s "  # noqa: S608 (our own table name)
            "AND status = %s AND starts_at <= %s AND ends_at > %s ORDER BY ends_at DESC LIMIT 1",
            [user_id, account_id, RequestStatus.APPROVED.value, now, now],
        )
        row = cursor.fetchone()
    if row is None:
        return None
    ends_at = row[1]
    if timezone.is_naive(ends_at):  # SQLite hands back naive UTC
        ends_at = timezone.make_aware(ends_at, UTC)
    return row[0], ends_at


def open_request(user: AbstractBaseUser, account: PamAccount) -> AccessRequest | None:
    """The user's one open (pending or approved, not yet ended) request on `account`."""
    return (
        AccessRequest.objects.filter(requester=user, account=account, status__in=OPEN_STATUSES)
        .order_by("-created_at")
        .first()
    )


def is_eligible(user: AbstractBaseUser | AnonymousUser, account: PamAccount) -> bool:
    """Whether an eligible grant names `user` (directly or through a group)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return (
        AccountGrant.objects.filter(account=account, kind=GrantKind.ELIGIBLE)
        .filter(Q(user=user) | Q(group__user=user))
        .exists()
    )


def requestable_accounts(user: AbstractBaseUser | AnonymousUser) -> QuerySet[PamAccount]:
    """The accounts `user` may ask a window on: an eligible grant names them."""
    if not user.is_authenticated or not user.is_active:
        return PamAccount.objects.none()
    eligible = AccountGrant.objects.filter(kind=GrantKind.ELIGIBLE).filter(
        Q(user=user) | Q(group__user=user)
    )
    return PamAccount.objects.filter(pk__in=eligible.values("account_id")).select_related(
        "resource__project"
    )


def is_approver(user: AbstractBaseUser | AnonymousUser, account: PamAccount) -> bool:
    """Named as an approver of `account` (directly or through a group), or holding the
    global decide permission (an admin, a security team)."""
    if not user.is_authenticated or not user.is_active:
        return False
    if may(user, "decide", AccessRequest):
        return True
    return PamAccount.objects.filter(pk=account.pk).filter(approver_q(user)).exists()


def may_decide(user: AbstractBaseUser | AnonymousUser, request: AccessRequest) -> bool:
    """An approver of the account, and not the requester: nobody decides their own
    request, whatever group or permission they hold (superusers included)."""
    if not user.is_authenticated or request.requester_id == user.pk:
        return False
    return is_approver(user, request.account)


def requests_to_decide(user: AbstractBaseUser | AnonymousUser) -> QuerySet[AccessRequest]:
    """Pending requests `user` may decide (never their own), oldest first."""
    if not user.is_authenticated or not user.is_active:
        return AccessRequest.objects.none()
    pending = AccessRequest.objects.filter(
        status=RequestStatus.PENDING, expires_at__gt=timezone.now()
    ).exclude(requester=user)
    if not may(user, "decide", AccessRequest):
        approvable = PamAccount.objects.filter(approver_q(user)).values("pk")
        pending = pending.filter(account__in=approvable)
    return pending.select_related("account__resource__project", "requester").order_by("created_at")


def approvers_of(account: PamAccount) -> QuerySet:
    """The active people who may decide requests on `account` (named, or through a
    named group; if it names nobody, the approvers of its project): whom a new request
    or a break-glass is told to."""
    people = Q(approver_for=account) | Q(groups__approver_for=account)
    if not (account.approver_users.exists() or account.approver_groups.exists()):
        holders = ProjectRole.objects.filter(
            project_id=account.resource.project_id, role=Role.APPROVER
        )
        people = Q(pk__in=holders.values("user_id")) | Q(groups__in=holders.values("group_id"))
    return get_user_model().objects.filter(is_active=True).filter(people).distinct().order_by("pk")


def windows_at(account: PamAccount, instant: datetime) -> QuerySet[AccessRequest]:
    """Approved windows on `account` that covered `instant` ("who had access at T"):
    [starts_at, the earlier of ends_at and when it was ended early)."""
    covered = Q(starts_at__lte=instant, ends_at__gt=instant) & (
        Q(ended_at__isnull=True) | Q(ended_at__gt=instant)
    )
    return AccessRequest.objects.filter(
        account=account,
        status__in=[RequestStatus.APPROVED, RequestStatus.ENDED, RequestStatus.REVOKED],
    ).filter(covered)
