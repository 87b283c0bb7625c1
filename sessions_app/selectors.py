"""Reads of Console Sessions shared by views, the API and the admin."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from access_requests.models import RequestStatus, approver_q
from accounts.models import AccountGrant, GrantKind, PamAccount
from pam_project import db
from pam_project.durations import MAX_SECONDS
from pam_project.querysets import may
from pam_project.roles import Role, holds_role

from .models import ConsoleSession, FailureStep, Status


def sessions_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ConsoleSession]:
    """A user's own sessions, newest first, whatever their permissions (the pages)."""
    if not user.is_authenticated:
        return ConsoleSession.objects.none()
    return ConsoleSession.objects.own(user).select_related("account__resource__project")


def active_at_q(instant: datetime) -> Q:
    """Sessions whose console access covered `instant`: [activated_at, end).

    The end is AWS's expiry, or the revocation time if that came first. Pending and
    failed sessions never gave access. A session lasts at most MAX_SECONDS, so the
    redundant lower bound on activated_at lets the database scan one hour of an index
    instead of all history before `instant`.
    """
    try:
        earliest = instant - timedelta(seconds=MAX_SECONDS)
    except OverflowError:  # an instant in the first hour of year 1
        earliest = datetime.min.replace(tzinfo=UTC)
    window = Q(activated_at__lte=instant, activated_at__gt=earliest)
    running = Q(status__in=[Status.ACTIVE, Status.EXPIRED], expires_at__gt=instant)
    revoked = Q(status=Status.REVOKED, expires_at__gt=instant, ended_at__gt=instant)
    return window & (running | revoked)


def recent_attempts(
    user: AbstractBaseUser, *, up_to_id: int, seconds: int
) -> QuerySet[ConsoleSession]:
    """The user's Access attempts in the last `seconds`, up to and including `up_to_id`,
    not counting those refused by the rate limit (refusals must not extend it)."""
    return ConsoleSession.objects.filter(
        user=user, pk__lte=up_to_id, created_at__gt=timezone.now() - timedelta(seconds=seconds)
    ).exclude(failure_step=FailureStep.RATE_LIMITED)


def recent_attempt_count(user_id: int, *, up_to_id: int, seconds: int) -> int:
    """recent_attempts(...).count() as one plain statement: the rate limit counts on
    every click (pam_project/db.py says why). Held to recent_attempts by the tests."""
    since = timezone.now() - timedelta(seconds=seconds)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT COUNT(*) FROM {ConsoleSession._meta.db_table} "  # noqa: S608 (our own table)
            "WHERE user_id = %s AND id <= %s AND created_at > %s AND failure_step <> %s",
            [
                user_id,
                up_to_id,
                db.prep(ConsoleSession, "created_at", since),
                FailureStep.RATE_LIMITED.value,
            ],
        )
        return cursor.fetchone()[0]


def sessions_losing_access() -> QuerySet[ConsoleSession]:
    """Live sessions whose user may no longer Access their account: deactivated; no
    grant (to them or a group they are in) covers it any more (a standing one, for a
    session opened under a standing grant); or the window it ran under has closed
    (ended, cancelled, revoked). Revoked automatically where the resource allows
    revocation (SPEC "Revocation", triggers)."""
    grants = AccountGrant.objects.filter(account=OuterRef("account_id")).filter(
        Q(user=OuterRef("user_id")) | Q(group__user=OuterRef("user_id"))
    )
    standing_lost = Q(access_request__isnull=True) & ~Exists(grants.filter(kind=GrantKind.STANDING))
    window_lost = Q(access_request__isnull=False) & (
        ~Exists(grants)
        | ~Q(access_request__status=RequestStatus.APPROVED)
        | Q(access_request__ends_at__lte=timezone.now())
    )
    return (
        ConsoleSession.objects.active()
        .filter(
            account__resource__allow_revocation=True,
            # Past its AWS expiry nothing is alive to revoke (the expiry task records it).
            expires_at__gt=timezone.now(),
        )
        .exclude(assumed_role_id="")
        # One being written (or retried by the sweep) is not asked for again.
        .exclude(revocations__state__in=["pending", "written", "failed"])
        .filter(Q(user__is_active=False) | Q(user__isnull=True) | standing_lost | window_lost)
        .select_related("user", "account__resource__project", "access_request")
    )


def may_revoke(user: AbstractBaseUser | AnonymousUser, session: ConsoleSession) -> bool:
    """Who may revoke a session (SPEC "Revocation"): its own user; an admin or approver
    of its project, or an approver the account names; ops with the global revoke
    permission; superusers."""
    if not user.is_authenticated or not user.is_active:
        return False
    if session.user_id == user.pk:
        return True
    if ConsoleSession.objects.restrict(user, "revoke").filter(pk=session.pk).exists():
        return True
    return PamAccount.objects.filter(pk=session.account_id).filter(approver_q(user)).exists()


def may_revoke_account(user: AbstractBaseUser | AnonymousUser, account: PamAccount) -> bool:
    """Who may revoke every session of an account's Target Role: as may_revoke, without
    the "own session" case."""
    if not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser or may(user, "revoke", ConsoleSession):
        return True
    if holds_role(user, [Role.ADMIN, Role.APPROVER], account.resource.project_id):
        return True
    return PamAccount.objects.filter(pk=account.pk).filter(approver_q(user)).exists()
