"""The Access chain: one click, one Console Session row, one console sign-in URL.

    grant checked (the caller: accounts_for_user, else 404)
    -> region/service checked against the account's lists (refused: no row, nothing tried)
    -> window found, for an eligible grant (access_requests.selectors.open_window_end)
    -> `pending` row committed             (services.session_start)
    -> refused without a window, or under 15 minutes left in it
    -> rate limit counted from the rows    (PAM_ACCESS_RATE; refusals: one row a minute)
    -> hop 1 + hop 2                       (resources.aws.assume_chain)
    -> sign-in token, sign-in URL          (resources.aws.get_signin_token / signin_url)
    -> `active` with AWS's own expiry, expiry task on commit (services.session_activate)

Every call leaves one row: `active` (AccessGranted returned) or `failed` (AccessFailed
raised, naming the step), but for refusals past the rate limit, which one row per user
and minute counts (`refused_count`): a flood of requests must not flood the history.
The web page and the API both come in through `access_from_request`, and present a
failure through failures.py.

Before any of it, like the grant check, an account with `require_mfa` needs a
second-factor check in the last 5 minutes (`check_step_up`, reading only the session:
accounts without require_mfa pay no query). A refusal (StepUpRequired) writes no row,
since the chain never started, but an `access_refused` audit event (mfa.services).

`kind=Kind.CREDENTIALS` (`POST /api/v1/accounts/<id>/credentials/`, `pam credentials`)
runs the same chain without the federation step and hands out hop 2's temporary keys
(AccessGranted.credentials), only where the account has allow_cli_credentials; a refusal
(CredentialsNotAllowed) is, like the MFA one, an audit event and no row.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser
from django.db import connection, transaction
from django.db.models import F, Q, Subquery
from django.http import HttpRequest
from django.urls import reverse
from django.utils import timezone

from access_requests.selectors import open_window_end
from accounts.models import AccountGrant, ApiToken, GrantKind, PamAccount
from mfa import stepup
from mfa.services import access_refused
from pam_project.durations import MIN_SECONDS, format_duration, per
from pam_project.http import client_ip, public_url
from pam_project.users import user_label
from resources import aws

from . import services
from .models import ConsoleSession, FailureStep, Kind, Status
from .selectors import recent_attempt_count, recent_attempts

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class AccessGranted:
    session: ConsoleSession
    # A bearer credential for 15 minutes: goes to the user's browser, nowhere else.
    signin_url: str = field(repr=False)
    # Kind.CREDENTIALS only (signin_url is then empty): hop 2's keys, for the person's
    # AWS CLI and nowhere else (the type hides the secret parts from repr()).
    credentials: aws.TemporaryCredentials | None = None


class AccessFailed(Exception):
    def __init__(
        self,
        session: ConsoleSession,
        step: str,
        code: str,
        message: str,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{step}: {code}")
        self.session = session
        self.step = step
        self.code = code
        self.message = message
        self.retry_after = retry_after


class StepUpRequired(Exception):
    """Access to a require_mfa account without a fresh second-factor check.

    `reason`: "token" (an API token: never allowed) or "stale" (no check in the last
    5 minutes in this session: verify, then come back).
    """

    def __init__(self, reason: str, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


class CredentialsNotAllowed(Exception):
    """CLI credentials asked of an account without allow_cli_credentials."""

    message = (
        "This account does not hand out CLI credentials (allow_cli_credentials is off): "
        "use its console sign-in, or ask a project admin to turn allow_cli_credentials on."
    )


def check_cli_credentials(user: AbstractUser, account: PamAccount) -> None:
    """Raise CredentialsNotAllowed unless the account allows CLI credentials.

    Checked before anything else of the chain, so a refused call never reaches AWS. The
    refusal is recorded as an `access_refused` audit event (services.credentials_refused)
    and not as a Console Session row: nothing was attempted, as with the MFA refusal,
    but someone asking for an account's keys when it only offers the console is what an
    auditor wants to see (a script misconfigured, or a token used beyond its purpose).
    """
    if account.allow_cli_credentials:
        return
    services.credentials_refused(user=user, account=account)
    log.info(
        "Access refused: user %s, account %s, allow_cli_credentials off",
        user_label(user),
        account.pk,
    )
    raise CredentialsNotAllowed(CredentialsNotAllowed.message)


def check_step_up(request: HttpRequest, account: PamAccount) -> None:
    """Raise StepUpRequired (and audit the refusal) unless `account` may be accessed
    from `request` as far as MFA goes. No query unless the account has require_mfa."""
    if not account.require_mfa:
        return
    if isinstance(getattr(request, "auth", None), ApiToken):
        # A token is one factor however it is kept: the rule is MFA at the moment of
        # Access, which only a person at the web page can give.
        reason, message = (
            "token",
            "This account requires MFA (require_mfa): an API token can never Access it. "
            "Use the web page, which asks for a second factor.",
        )
    elif stepup.is_fresh(request):
        return
    else:
        reason, message = (
            "stale",
            "This account requires MFA (require_mfa): verify a second factor (authenticator "
            "app, passkey or recovery code) within 5 minutes before Access.",
        )
    access_refused(user=request.user, account=account, reason=reason)
    log.info(
        "Access refused: user %s, account %s, require_mfa, %s",
        user_label(request.user),
        account.pk,
        reason,
    )
    raise StepUpRequired(reason, message)


def access_from_request(
    request: HttpRequest,
    account: PamAccount,
    *,
    region: str = "",
    service: str = "",
    kind: str = Kind.CONSOLE,
) -> AccessGranted:
    """Access for the signed-in user of `request` (a page's POST or the API's).

    `region`/`service`: the person's pick (empty: the account's defaults). A value the
    account does not offer raises aws.ConsoleChoiceError (naming the field) before
    anything is written or checked: nothing was attempted, so no row records it. Raises
    StepUpRequired, also before anything is written, if the account needs MFA now.
    `kind=Kind.CREDENTIALS`: no console, so no region or service; raises
    CredentialsNotAllowed first unless the account has allow_cli_credentials."""
    if kind == Kind.CREDENTIALS:
        check_cli_credentials(request.user, account)
    else:
        region, service = account.console_choice(region, service)
    check_step_up(request, account)
    return account_access(
        account=account,
        user=request.user,
        client_ip=client_ip(request),
        user_agent=request.META.get("HTTP_USER_AGENT", ""),
        # Where the console sends people when their session ends: the account's page.
        issuer=public_url(request, reverse("account-detail", args=[account.pk])),
        region=region,
        service=service,
        kind=kind,
    )


def account_access(
    *,
    account: PamAccount,
    user: AbstractUser,
    client_ip: str | None,
    user_agent: str,
    issuer: str,
    region: str = "",
    service: str = "",
    kind: str = Kind.CONSOLE,
) -> AccessGranted:
    """The Access chain. The caller has checked the grant, and `region`/`service` (where
    the console opens, recorded on the row) against the account: console_choice. For
    `kind=Kind.CREDENTIALS` (checked against allow_cli_credentials by the caller) the
    chain stops after hop 2: its keys are the answer, no sign-in token is made.

    Runs in autocommit: a transaction around it would hide the pending row, which must
    be committed before any AWS call so that a crash mid-way still leaves the attempt.
    """
    started = time.perf_counter()
    marks: dict[str, float] = {}
    resource = account.resource
    session_name = aws.session_name_for(user_label(user))
    window, duration = _window(account, user)
    session = services.session_start(
        user=user,
        account=account,
        role_session_name=session_name,
        client_ip=client_ip,
        user_agent=user_agent,
        duration_seconds=duration,
        access_request_id=window,
        region=region,
        service=service,
        kind=kind,
    )
    if duration is not None and duration < MIN_SECONDS:
        raise _refuse_window(session, account, window)
    _check_rate(session, user)
    marks["record"] = time.perf_counter()
    step = FailureStep.RESOURCE_ROLE
    try:
        target = account.role
        hop2 = aws.assume_chain(
            resource_role=resource.role,
            target_role=target,
            external_id=resource.project.external_id,
            session_name=session_name,
            duration_seconds=session.duration_seconds,
            source_identity=session_name if resource.set_source_identity else None,
            tags={aws.sts.SESSION_TAG_KEY: str(session.pk)} if resource.tag_session else None,
            marks=marks,
        )
        # CLI credentials: hop 2's keys are the answer; no sign-in token is made.
        url = ""
        if kind == Kind.CONSOLE:
            step = FailureStep.FEDERATION
            # Only ever values of the account's lists (console_choice), checked again here
            # against the partition's: the URL holds nothing else a person chose. The
            # regional sign-in endpoint, where AWS has one, both issues and takes the token.
            destination = aws.console_url(target.partition, region, service)
            token = aws.get_signin_token(
                hop2.credentials, partition=target.partition, region=region
            )
            url = aws.signin_url(
                token,
                partition=target.partition,
                issuer=issuer,
                destination=destination,
                region=region,
            )
            marks["federation"] = time.perf_counter()
    except aws.AwsStepError as exc:
        raise _fail(session, exc.step, exc.code, exc.message) from None
    except Exception as exc:
        # A bug or an unexpected library error must still close the row, with the step
        # it happened in; the traceback goes to the log (it holds no credential: the
        # credential types hide their secrets from repr()).
        log.exception("Unexpected error during Access, console session %s", session.pk)
        raise _fail(session, step, "InternalError", type(exc).__name__) from None

    activated = services.session_activate(
        session=session,
        expires_at=hop2.credentials.expiration,
        assumed_role_arn=hop2.assumed_role_arn,
        assumed_role_id=hop2.assumed_role_id,
        access_key_id=hop2.credentials.access_key_id,
    )
    if not activated:
        # The sweep gave up on this row while AWS was slow. Fail closed: the recorded
        # history says `failed`, so the user does not get the console either.
        raise AccessFailed(
            session,
            session.failure_step or FailureStep.RECORD,
            session.error_code or "NotPending",
            "The attempt took too long and was already recorded as failed.",
        )
    marks["activate"] = time.perf_counter()
    log.info(
        "Access granted: console session %s (%s), user %s, account %s, assumed role %s, "
        "access key id %s, expires %s, took %s",
        session.pk,
        kind,
        session.user_email,
        account.pk,
        hop2.assumed_role_arn,
        hop2.credentials.access_key_id,
        hop2.credentials.expiration.isoformat(),
        _timings(started, marks),
    )
    credentials = hop2.credentials if kind == Kind.CREDENTIALS else None
    return AccessGranted(session=session, signin_url=url, credentials=credentials)


def _window(account: PamAccount, user: AbstractUser) -> tuple[int | None, int | None]:
    """(the id of the window this Access runs under, its DurationSeconds); (None, None)
    for a standing grant: the account's own duration.

    A console session never outlives its window: DurationSeconds is the smaller of the
    account's duration and the whole seconds left (0 when no window is open, which the
    caller refuses, as it does anything under AWS's 15-minute minimum).
    """
    standing = getattr(account, "standing", None)
    if standing is None:  # not read through accounts_for_user (its annotation)
        standing = (
            AccountGrant.objects.filter(account=account, kind=GrantKind.STANDING)
            .filter(Q(user=user) | Q(group__user=user))
            .exists()
        )
    if standing:
        return None, None
    window = open_window_end(user.pk, account.pk)
    if window is None:
        return None, 0
    request_id, ends_at = window
    left = int((ends_at - timezone.now()).total_seconds())
    return request_id, max(0, min(account.session_duration, left))


def _refuse_window(
    session: ConsoleSession, account: PamAccount, window: int | None
) -> AccessFailed:
    if window is None:
        code = "NoOpenWindow"
        message = (
            f"{account.name} needs an approved access window (your grant is eligible, not "
            "standing), and none is open for you now: request access with a reason."
        )
    else:
        code = "WindowEnding"
        message = (
            f"Your window ends in {format_duration(session.duration_seconds)}, under the "
            "15 minutes of the shortest console session: request a new window."
        )
    return _fail(session, FailureStep.WINDOW, code, message)


def _check_rate(session: ConsoleSession, user: AbstractUser) -> None:
    """Refuse (and count the refusal) past PAM_ACCESS_RATE attempts per window.

    Counted after this attempt's row is written, among rows up to its id, so that
    concurrent attempts cannot all slip under the limit together. Refusals are not
    counted (recent_attempts leaves them out), so they never extend the limit, and how
    they are recorded (one row a minute, _count_refusal) cannot change it.
    """
    limit, seconds = settings.PAM_ACCESS_RATE
    if recent_attempt_count(user.pk, up_to_id=session.pk, seconds=seconds) <= limit:
        return
    attempts = recent_attempts(user, up_to_id=session.pk, seconds=seconds)
    oldest = attempts.order_by("created_at").values_list("created_at", flat=True).first()
    retry_after = (
        max(1, math.ceil((oldest + timedelta(seconds=seconds) - timezone.now()).total_seconds()))
        if oldest
        else seconds
    )
    code = "TooManyRequests"
    message = (
        f"More than {limit} Access attempts in a {per(seconds)}; try again in {retry_after} s."
    )
    refusal = _count_refusal(session, code, message)
    log.info(
        "Access refused: console session %s (refusal %s of its minute), user %s, account "
        "%s, step %s, code %s",
        refusal.pk,
        refusal.refused_count,
        session.user_email,
        session.account_id,
        FailureStep.RATE_LIMITED,
        code,
    )
    raise AccessFailed(refusal, FailureStep.RATE_LIMITED, code, message, retry_after=retry_after)


def _count_refusal(session: ConsoleSession, code: str, message: str) -> ConsoleSession:
    """The row that records this rate-limit refusal: the user's refusal row of this
    minute, with one more on its `refused_count` (F() + 1, in the database) and its
    ended_at moved to now; or, for the minute's first refusal, this attempt's own row,
    failed as `rate_limited`. A counted attempt's own `pending` row is then removed: it
    was only ever this refusal, and the minute's row now records it.

    Concurrent refusals of one user are taken one at a time, so that two first
    refusals of a minute cannot both become its row: on PostgreSQL by locking the
    user's row (FOR NO KEY UPDATE: rows that refer to the user are still written
    meanwhile) for these few statements; on SQLite, where a transaction's first write
    takes the database's write lock, by writing first (the UPDATE), never reading.
    """
    start = session.created_at.replace(second=0, microsecond=0)
    this_minute = ConsoleSession.objects.filter(
        user_id=session.user_id,
        failure_step=FailureStep.RATE_LIMITED,
        created_at__gte=start,
        created_at__lt=start + timedelta(minutes=1),
    )
    # The earliest, should there be more than one (rows written before refusals shared
    # a row): the count goes on one row only.
    first = this_minute.order_by("pk").values("pk")[:1]
    with transaction.atomic():
        if connection.features.has_select_for_update:
            locked = get_user_model().objects.select_for_update(no_key=True)
            list(locked.filter(pk=session.user_id).values_list("pk", flat=True))
        counted = ConsoleSession.objects.filter(pk=Subquery(first)).update(
            refused_count=F("refused_count") + 1, ended_at=timezone.now()
        )
        if counted:
            ConsoleSession.objects.filter(pk=session.pk, status=Status.PENDING).delete()
            return this_minute.order_by("pk").first() or session
        services.session_fail(
            session=session, step=FailureStep.RATE_LIMITED, code=code, message=message
        )
        return session


def _fail(
    session: ConsoleSession, step: str, code: str, message: str, retry_after: int | None = None
) -> AccessFailed:
    services.session_fail(session=session, step=step, code=code, message=message)
    log.info(
        "Access failed: console session %s, user %s, account %s, step %s, code %s",
        session.pk,
        session.user_email,
        session.account_id,
        step,
        code,
    )
    return AccessFailed(session, step, code, message, retry_after=retry_after)


def _timings(started: float, marks: dict[str, float]) -> str:
    """ "412 ms (record 3, hop1 120, ...)": tells a slow AWS from a slow database."""
    parts, previous = [], started
    for name, at in marks.items():
        parts.append(f"{name} {(at - previous) * 1000:.0f}")
        previous = at
    return f"{(previous - started) * 1000:.0f} ms ({', '.join(parts)})"
