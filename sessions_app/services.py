"""Every write to a Console Session. Transitions are conditional updates on the current
status, so a task that runs twice, early, or concurrently with the sweep changes nothing
it should not:

    pending -> active -> expired
    pending -> failed
    active -> revoked   (revocation.py; expiry never overwrites it)

An active session also has a LiveSession row, written with its activation: the sweep
finds due expiries there (models.LiveSession says why).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.conf import settings
from django.contrib.auth.models import AbstractUser
from django.db import connection, transaction
from django.db.models import QuerySet
from django.utils import timezone

from accounts.models import PamAccount
from audit.services import audit_record
from pam_project import db
from pam_project.users import user_label

from .models import ConsoleSession, FailureStep, Kind, LiveSession, Status, status_q
from .scheduling import schedule_expiry

MAX_ERROR_MESSAGE = 1000
MAX_USER_AGENT = 512


def session_start(
    *,
    user: AbstractUser,
    account: PamAccount,
    role_session_name: str,
    client_ip: str | None,
    user_agent: str,
    duration_seconds: int | None = None,
    access_request_id: int | None = None,
    region: str = "",
    service: str = "",
    kind: str = Kind.CONSOLE,
) -> ConsoleSession:
    """Record an Access attempt as `pending`, before any AWS call. `duration_seconds`:
    the account's, unless a window ends sooner; `access_request_id`: that window;
    `region`/`service`: where the console opens (already checked against the account);
    `kind`: a console sign-in or CLI credentials.

    Must run outside a transaction (Access runs in autocommit) so the row is committed
    and survives whatever happens next; a crashed request leaves it for the sweep.
    """
    session = ConsoleSession(
        user=user,
        user_email=user_label(user),
        account=account,
        target_role_arn=account.target_role_arn,
        resource_role_arn=account.resource.resource_role_arn,
        role_session_name=role_session_name,
        duration_seconds=(
            account.session_duration if duration_seconds is None else duration_seconds
        ),
        access_request_id=access_request_id,
        region=region,
        service=service,
        kind=kind,
        client_ip=client_ip,
        user_agent=(user_agent or "")[:MAX_USER_AGENT],
    )
    # One plain INSERT (every click runs it: pam_project/db.py says why); nothing
    # listens to a Console Session's save.
    db.insert(session)
    return session


def credentials_refused(*, user: AbstractUser, account: PamAccount) -> None:
    """CLI credentials asked of an account without allow_cli_credentials: refused before
    the chain (no row, no AWS call); the audit log keeps the attempt, as it does an MFA
    refusal (mfa.services.access_refused)."""
    audit_record(
        actor=user,
        action="access_refused",
        instance=account,
        changes={"rule": "allow_cli_credentials", "kind": Kind.CREDENTIALS.value},
    )


def session_activate(
    *,
    session: ConsoleSession,
    expires_at: datetime,
    assumed_role_arn: str,
    access_key_id: str,
    assumed_role_id: str = "",
) -> bool:
    """pending -> active, then schedule its expiry once committed. False if it was no
    longer pending (the sweep gave up on it): the caller must not hand out access."""
    now = timezone.now()
    updated = _activate_row(
        session.pk,
        {
            "status": Status.ACTIVE,
            "activated_at": now,
            "expires_at": expires_at,
            "assumed_role_arn": assumed_role_arn,
            "assumed_role_id": assumed_role_id,
            "access_key_id": access_key_id,
        },
    )
    if not updated:
        session.refresh_from_db()
        return False
    session.status = Status.ACTIVE
    session.activated_at = now
    session.expires_at = expires_at
    session.assumed_role_arn = assumed_role_arn
    session.assumed_role_id = assumed_role_id
    session.access_key_id = access_key_id
    session_id = session.pk
    transaction.on_commit(lambda: schedule_expiry(session_id, expires_at))
    return True


# The activation and its LiveSession row as one statement: atomic on its own (an active
# session without its row would never be swept, should its expiry task be lost), in the
# one round trip the activation always took. As BEGIN, UPDATE, INSERT, COMMIT through
# the ORM it added 0.8 ms to every Access (docs/benchmarks.md).
_ACTIVATE_SQL = (
    "WITH activated AS ("  # noqa: S608 (our own tables)
    f"UPDATE {ConsoleSession._meta.db_table} SET status = %s, activated_at = %s, "
    "expires_at = %s, assumed_role_arn = %s, assumed_role_id = %s, access_key_id = %s "
    "WHERE id = %s AND status = %s RETURNING id, expires_at) "
    f"INSERT INTO {LiveSession._meta.db_table} (session_id, expires_at) "
    "SELECT id, expires_at FROM activated"
)


def _activate_row(session_id: int, changes: dict[str, object]) -> bool:
    """pending -> active with `changes`, and the session's LiveSession row, together."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                _ACTIVATE_SQL,
                [
                    changes["status"],
                    changes["activated_at"],
                    changes["expires_at"],
                    changes["assumed_role_arn"],
                    changes["assumed_role_id"],
                    changes["access_key_id"],
                    session_id,
                    Status.PENDING,
                ],
            )
            return cursor.rowcount == 1
    with transaction.atomic():
        updated = ConsoleSession.objects.filter(pk=session_id, status=Status.PENDING).update(
            **changes
        )
        if updated:
            LiveSession.objects.create(session_id=session_id, expires_at=changes["expires_at"])
    return bool(updated)


def session_fail(*, session: ConsoleSession, step: str, code: str, message: str) -> bool:
    """pending -> failed with where and why. False if it had already left `pending`."""
    now = timezone.now()
    fields = {
        "status": Status.FAILED,
        "failure_step": step,
        "error_code": code[:128],
        "error_message": message[:MAX_ERROR_MESSAGE],
        "ended_at": now,
    }
    updated = ConsoleSession.objects.filter(pk=session.pk, status=Status.PENDING).update(**fields)
    if updated:
        for name, value in fields.items():
            setattr(session, name, value)
    return bool(updated)


def session_expire(*, session_id: int, now: datetime | None = None) -> bool:
    """active -> expired if its AWS expiry has passed. Early or repeated calls do nothing."""
    now = now or timezone.now()
    expired = ConsoleSession.objects.filter(
        pk=session_id, status=Status.ACTIVE, expires_at__lte=now
    ).update(status=Status.EXPIRED, ended_at=now)
    if expired:
        # A statement of its own, after the session's: a row left by a crash in between
        # is due, and the sweep removes it.
        LiveSession.objects.filter(session_id=session_id).delete()
    return bool(expired)


@dataclass(frozen=True)
class SweepResult:
    expired: int
    abandoned: int


def _update_in_batches(
    queryset: QuerySet[ConsoleSession], batch_size: int, order_by: str, **changes: object
) -> int:
    """Apply `changes` to the rows of `queryset`, `batch_size` rows per statement.

    Each batch locks its rows with SKIP LOCKED (where the database has it), so two
    sweeps, or a sweep and Access, never wait on each other; the status filter is
    repeated in the UPDATE, so a row that moved on meanwhile is left alone.

    `order_by` must be the column the filter's index is sorted on (created_at in the
    partial index of pending rows). Without an order, PostgreSQL may prefer a
    sequential scan for LIMIT n whenever matching rows are many, expecting to meet them
    early; but they are the newest, at the end of the table, so every batch read the
    whole history (seen with 100,000 due rows among a million: bench/history.py).
    """
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                queryset.select_for_update(skip_locked=True)
                .order_by(order_by)
                .values_list("pk", flat=True)[:batch_size]
            )
            if not ids:
                return total
            total += queryset.filter(pk__in=ids).update(**changes)
        if len(ids) < batch_size:
            return total


def _expire_due(now: datetime, batch_size: int) -> int:
    """Record the expiry of every session whose LiveSession row is due, `batch_size` at
    a time, and remove those rows. Returns how many sessions were expired.

    Each batch takes its LiveSession rows with SKIP LOCKED, so two sweeps never wait on
    each other, and always the LiveSession row before the session (the expiry task
    holds one at a time), so they cannot deadlock. The UPDATE repeats the session's own
    conditions: a session revoked or expired meanwhile is left alone, and its
    LiveSession row goes all the same (it is due: nothing more can happen to it).
    """
    total = 0
    while True:
        with transaction.atomic():
            ids = list(
                LiveSession.objects.filter(expires_at__lte=now)
                .select_for_update(skip_locked=True)
                .order_by("expires_at")
                .values_list("session_id", flat=True)[:batch_size]
            )
            if not ids:
                return total
            total += _expire_sessions(ids, now)
            _forget_live(ids)
        if len(ids) < batch_size:
            return total


# On PostgreSQL the batch's ids go as one array parameter: Django's IN (%s, ...) of
# 5,000 values is parsed and planned value by value, which cost more than the writes
# themselves (bench/history.py: the two statements took 4.0 s of a 6.3 s sweep; 1.1 s
# with an array). SQLite has no arrays and no such cost.
_EXPIRE_SQL = (
    f"UPDATE {ConsoleSession._meta.db_table} SET status = %s, ended_at = %s "  # noqa: S608 (our own table)
    "WHERE id = ANY(%s) AND status = %s AND expires_at <= %s"
)
_FORGET_SQL = f"DELETE FROM {LiveSession._meta.db_table} WHERE session_id = ANY(%s)"  # noqa: S608


def _expire_sessions(ids: list[int], now: datetime) -> int:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_EXPIRE_SQL, [Status.EXPIRED, now, ids, Status.ACTIVE, now])
            return cursor.rowcount
    return ConsoleSession.objects.filter(
        pk__in=ids, status=Status.ACTIVE, expires_at__lte=now
    ).update(status=Status.EXPIRED, ended_at=now)


def _forget_live(ids: list[int]) -> None:
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(_FORGET_SQL, [ids])
        return
    LiveSession.objects.filter(session_id__in=ids).delete()


def sessions_sweep(*, now: datetime | None = None) -> SweepResult:
    """Record every overdue expiry, and fail `pending` rows left by crashed requests."""
    now = now or timezone.now()
    batch = settings.PAM_SWEEP_BATCH_SIZE
    expired = _expire_due(now, batch)
    abandoned = _update_in_batches(
        ConsoleSession.objects.filter(
            status_q(Status.PENDING), created_at__lte=now - settings.PAM_PENDING_TIMEOUT
        ),
        batch,
        "created_at",
        status=Status.FAILED,
        failure_step=FailureStep.ABANDONED,
        error_code="Abandoned",
        error_message="The request never finished (the server stopped or crashed mid-way).",
        ended_at=now,
    )
    return SweepResult(expired=expired, abandoned=abandoned)
