"""Taking access back: revoking one console session, or every session of an account.

    Revocation row committed (pending)           who, why, which credentials
    -> per-role lock (RoleLock, SELECT FOR UPDATE)
    -> hop 1 (the project's Resource Role, with its External ID)
    -> the role's whole revocation policy rendered from its live rows and put to IAM
       (resources/aws/iam.py), or deleted when none is left
    -> rows `written`, sessions `revoked` (who, when, why), audited

IAM has no conditional write, so two revocations on one role would each read the
policy, add their statement and put it back, and one would vanish. Rendering the
document from the database under a per-role row lock makes every write contain every
live statement. A failed write is recorded on the rows and the session (which stays
`active`: nothing claims it is revoked) and retried by the sweep.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from django.contrib.auth.models import AbstractUser
from django.db import transaction
from django.utils import timezone

from accounts.models import PamAccount
from audit.services import audit_record
from pam_project.users import user_label
from resources import aws
from resources.aws import iam

from .models import ConsoleSession, Revocation, RevocationState, RoleLock, Status
from .scheduling import schedule_prune
from .selectors import sessions_losing_access

log = logging.getLogger(__name__)

# The longest a role-chained session lives (AWS caps DurationSeconds at 1 hour), plus
# clock skew between AWS and us: after that nothing a statement covers can be alive.
PRUNE_AFTER = timedelta(hours=1, minutes=5)
# Rows no longer in the policy, whether they ever were (pruned) or not (abandoned).
ENDED = (RevocationState.PRUNED, RevocationState.ABANDONED)
REASON_MAX = 500


class RevocationRefused(Exception):
    """Not allowed or not possible; `message` says which rule, for the person."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class RevocationFailed(Exception):
    """IAM did not take the write. Recorded on the session and retried by the sweep."""

    def __init__(self, error: aws.AwsStepError) -> None:
        super().__init__(f"{error.code}: {error.message}")
        self.error = error


def _next_second(moment: datetime) -> datetime:
    return moment.replace(microsecond=0) + timedelta(seconds=1) if moment.microsecond else moment


def _cutoff() -> datetime:
    """Now, rounded up to the next whole second: IAM compares aws:TokenIssueTime with a
    time written to the second, and a session activated earlier in this same second
    must be covered (one activated in the rest of it is too: it can Access again)."""
    return _next_second(timezone.now())


def _reason(reason: str) -> str:
    reason = (reason or "").strip()
    if not reason:
        raise RevocationRefused("reason: say why the access is being revoked (required).")
    if len(reason) > REASON_MAX:
        raise RevocationRefused(f"reason: at most {REASON_MAX} characters.")
    return reason


def _refuse_unless_allowed(account: PamAccount) -> None:
    if not account.resource.allow_revocation:
        raise RevocationRefused(
            f'Revocation is off for the resource "{account.resource}": an administrator '
            'turns on "Allow revocation" once its Resource Role has the IAM permissions.'
        )


def session_revoke(
    *, session: ConsoleSession, actor: AbstractUser | None, reason: str
) -> ConsoleSession:
    """Revoke one live console session. Idempotent: a revoked session is returned as is."""
    reason = _reason(reason)
    if session.status == Status.REVOKED:
        return session
    if session.status != Status.ACTIVE:
        raise RevocationRefused(
            f"Only an active session can be revoked; this one is {session.get_status_display()}"
            " (nothing of it is alive)."
        )
    if not session.assumed_role_id:
        raise RevocationRefused(
            "This session started before revocation was recorded (no assumed role id): "
            "revoke all sessions of the account instead."
        )
    _refuse_unless_allowed(session.account)
    pending = Revocation.objects.filter(session=session).exclude(state__in=ENDED).first()
    if pending is not None:
        # Asked again (a second click, the sweep) while a write is failing: retry that
        # one rather than pile up rows, each a statement in IAM's limited space.
        _sync_or_raise(pending)
        session.refresh_from_db()
        return session
    now = _cutoff()
    if session.expires_at is not None:
        # AWS issued the credentials at Expiration - DurationSeconds by its own clock;
        # a second past that covers them even if this server's clock runs behind AWS's.
        issued = session.expires_at - timedelta(seconds=session.duration_seconds)
        now = max(now, _next_second(issued + timedelta(seconds=1)))
    revocation = Revocation.objects.create(
        account=session.account,
        session=session,
        target_role_arn=session.target_role_arn,
        user_id=session.assumed_role_id,
        # Its credentials were issued at activation, before now; the user's next Access
        # gets credentials issued after it, which the statement does not cover.
        before=now,
        prune_after=now + PRUNE_AFTER,
        created_by=actor,
        created_by_name=user_label(actor) if actor else "system",
        reason=reason,
    )
    _sync_or_raise(revocation)
    session.refresh_from_db()
    return session


def revoke_lost_access() -> int:
    """Revoke the live sessions of people who lost access (grant removed, user
    deactivated). Returns how many were revoked; failures are retried by the sweep."""
    done = 0
    for session in sessions_losing_access():
        if session.user is None or not session.user.is_active:
            why = "user deactivated"
        elif session.access_request is not None and session.access_request.status in (
            "approved",
            "ended",
        ):
            why = f"the access window of request #{session.access_request_id} ended"
        elif session.access_request is not None:
            why = (
                f"the access window of request #{session.access_request_id} was "
                f"{session.access_request.status}"
            )
        else:
            why = "no grant covers this account any more"
        try:
            session_revoke(session=session, actor=None, reason=f"Access ended: {why}")
        except (RevocationRefused, RevocationFailed) as exc:
            log.warning("Could not revoke console session %s: %s", session.pk, exc)
            continue
        done += 1
    return done


def account_sessions_revoke(*, account: PamAccount, actor: AbstractUser, reason: str) -> Revocation:
    """Revoke every session of the account's Target Role issued until now (for
    incidents): AWS's AWSRevokeOlderSessions, one statement with no `aws:userid`."""
    reason = _reason(reason)
    _refuse_unless_allowed(account)
    now = _cutoff()
    revocation = Revocation.objects.create(
        account=account,
        target_role_arn=account.target_role_arn,
        before=now,
        prune_after=now + PRUNE_AFTER,
        created_by=actor,
        created_by_name=user_label(actor) if actor else "system",
        reason=reason,
    )
    _sync_or_raise(revocation)
    revocation.refresh_from_db()
    return revocation


def _sync_or_raise(revocation: Revocation) -> None:
    error = role_sync(revocation.target_role_arn, account=revocation.account)
    if error is not None:
        raise RevocationFailed(error)
    schedule_prune(revocation.prune_after)


def role_sync(
    target_role_arn: str, *, account: PamAccount, now: datetime | None = None
) -> aws.AwsStepError | None:
    """Write the role's revocation policy from its live rows; mark what that made true.

    Returns None on success, else the AWS error (recorded on the rows and sessions).
    """
    now = now or timezone.now()
    with transaction.atomic():
        RoleLock.objects.get_or_create(target_role_arn=target_role_arn)
        RoleLock.objects.select_for_update().get(target_role_arn=target_role_arn)
        of_role = Revocation.objects.filter(target_role_arn=target_role_arn).exclude(
            state__in=ENDED
        )
        rows = list(of_role.filter(prune_after__gt=now).order_by("pk"))
        stale = of_role.filter(prune_after__lte=now).exists()
        if not stale and all(row.state == RevocationState.WRITTEN for row in rows):
            # A revocation that waited for the lock while another wrote the policy is
            # usually in force already: that write rendered every row, this one's too.
            return None
        try:
            _write(account, target_role_arn, rows)
        except aws.AwsStepError as error:
            _record_failure(rows, error)
            return error
        _record_success(rows, now)
        # Pruned rows stay as history; only their statements left the policy.
        past = of_role.filter(prune_after__lte=now)
        past.filter(state=RevocationState.WRITTEN).update(state=RevocationState.PRUNED)
        for row in past.exclude(state=RevocationState.WRITTEN):
            row.state = RevocationState.ABANDONED
            row.save(update_fields=["state"])
            audit_record(
                actor=None,
                action="update",
                instance=row,
                changes={"state": ["failed", "abandoned"], "error": row.error},
            )
    return None


def _write(account: PamAccount, target_role_arn: str, rows: list[Revocation]) -> None:
    resource = account.resource
    hop1_key = {"role_arn": resource.resource_role_arn, "external_id": resource.project.external_id}
    hop1 = aws.sts.resource_role_session(**hop1_key, session_name="pam-revocation")
    try:
        iam.write_revocations(
            credentials=hop1.credentials,
            target_role=aws.parse_role_arn(target_role_arn),
            revocations=merged(rows),
        )
    except aws.AwsStepError:
        # Perhaps the kept hop-1 session is the problem (expired, or its role changed):
        # the retry (the sweep) starts from a fresh one.
        aws.sts.forget_resource_role_session(**hop1_key)
        raise


def merged(rows: list[Revocation]) -> list[iam.Revocation]:
    """The fewest statements that deny exactly what `rows` deny.

    Every session of one person on one role has the same `aws:userid` (the role id and
    the same session name), so a person's latest revocation covers their earlier ones;
    and a revoke-all covers every per-session revocation up to its time. So the document
    holds at most one statement per person (and one revoke-all), however often anyone
    revokes: nobody can fill IAM's 10,240 characters by revoking in a loop.
    """
    everyone = max((r for r in rows if not r.user_id), key=lambda r: r.before, default=None)
    latest: dict[str, Revocation] = {}
    for row in rows:
        if not row.user_id:
            continue
        if everyone is not None and row.before <= everyone.before:
            continue
        if row.user_id not in latest or row.before > latest[row.user_id].before:
            latest[row.user_id] = row
    kept = ([everyone] if everyone else []) + sorted(latest.values(), key=lambda r: r.pk)
    return [iam.Revocation(sid=r.sid, before=r.before, user_id=r.user_id) for r in kept]


def _record_failure(rows: list[Revocation], error: aws.AwsStepError) -> None:
    message = f"{error.code}: {error.message}"[:1000]
    log.warning("Revocation write failed: %s", message)
    for row in rows:
        if row.state == RevocationState.PENDING:
            # The request itself is audited when it first fails (and again once written);
            # the sweep's retries change nothing worth an event each minute.
            audit_record(
                actor=row.created_by,
                action="update",
                instance=row,
                changes={"state": ["pending", "failed"], "error": message, "reason": row.reason},
            )
        if row.state != RevocationState.WRITTEN:
            Revocation.objects.filter(pk=row.pk).update(state=RevocationState.FAILED, error=message)
            if row.session_id:
                ConsoleSession.objects.filter(pk=row.session_id, status=Status.ACTIVE).update(
                    revocation_error=message
                )


def _record_success(rows: list[Revocation], now: datetime) -> None:
    for row in rows:
        if row.state == RevocationState.WRITTEN:
            continue
        Revocation.objects.filter(pk=row.pk).update(state=RevocationState.WRITTEN, error="")
        covered = ConsoleSession.objects.active().filter(
            target_role_arn=row.target_role_arn, activated_at__lt=row.before
        )
        if row.user_id:
            # IAM now denies every session with this aws:userid issued before the time:
            # the person's other live sessions of the role too (other tabs), so they are
            # recorded as revoked as well, not left looking active.
            covered = covered.filter(assumed_role_id=row.user_id)
        ids = list(covered.values_list("pk", flat=True))
        ConsoleSession.objects.filter(pk__in=ids, status=Status.ACTIVE).update(
            status=Status.REVOKED,
            revoked_at=row.before,
            revoked_by=row.created_by,
            revoked_by_name=row.created_by_name,
            revoke_reason=row.reason,
            revocation_error="",
            ended_at=now,
        )
        audit_record(
            actor=row.created_by,
            action="create",
            instance=row,
            changes={
                "target_role_arn": row.target_role_arn,
                "scope": f"session {row.session_id}" if row.session_id else "all sessions",
                "before": row.before,
                "reason": row.reason,
                "sessions_revoked": ids,
            },
        )


def revocations_sweep(*, now: datetime | None = None) -> int:
    """Retry failed writes, and prune statements nothing can need any more (the policy
    is deleted when its last one goes). Returns how many roles were rewritten."""
    now = now or timezone.now()
    due = (
        Revocation.objects.filter(state__in=[RevocationState.PENDING, RevocationState.FAILED])
        .filter(prune_after__gt=now)
        .values_list("target_role_arn", "account_id")
    )
    stale = (
        Revocation.objects.filter(prune_after__lte=now)
        .exclude(state__in=ENDED)
        .values_list("target_role_arn", "account_id")
    )
    revoke_lost_access()
    roles = dict(list(due) + list(stale))
    accounts = PamAccount.objects.select_related("resource__project").in_bulk(set(roles.values()))
    return sum(
        role_sync(role, account=accounts[account_id], now=now) is None
        for role, account_id in roles.items()
    )
