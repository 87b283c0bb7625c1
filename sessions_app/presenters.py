"""Console Sessions as the pages show them: the history table's rows, and a live
session's time left with what may be done with it (Open again, Renew)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import prefetch_related_objects
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from access_requests.presenters import attach_window_states
from accounts.models import PamAccount
from accounts.selectors import AccountListing, accounts_for_user
from pam_project.durations import MIN_SECONDS, format_countdown
from resources import aws

from .exports import approvals_prefetch, approvers_of
from .models import ConsoleSession, Kind, Status

# Renew is offered in a session's last 15 minutes (SPEC "Renew"), the same 15 minutes an
# access window must still have for a new console session (AWS's shortest, MIN_SECONDS).
RENEW_SECONDS = 15 * 60


@dataclass(frozen=True, slots=True)
class Live:
    """A running console session: its time left (counted down in the page by
    static/pam/countdown.js) and what the person may do with it."""

    seconds_left: int
    time_left: str  # "12m 30s left", as rendered; the script takes over from there
    # The console Destination the session opened (Open again); empty for CLI credentials.
    open_url: str = ""
    # Renew: a new Access to the same account, region and service (empty: not offered).
    renew_url: str = ""
    region: str = ""
    service: str = ""
    renew_now: bool = False  # already in its last RENEW_SECONDS (else the script shows it)
    # A require_mfa account: without a fresh second factor, Renew goes through the account
    # page (which asks for one) rather than POSTing, as its Access button does.
    verify_url: str = ""
    renew_refused: str = ""  # why Renew is not offered, where the person can act on it
    renew_at: int = RENEW_SECONDS


def open_again_url(session: ConsoleSession) -> str:
    """Where Open again goes: the console Destination this session signed in to.

    What it relies on: the federation sign-in leaves the console's session cookies in the
    browser for as long as the session lasts (the role-chained credentials' lifetime: IAM
    User Guide, "Enable custom identity broker access to the AWS console",
    https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_providers_enable-console-custom-url.html),
    so opening a console URL in that browser while it runs needs no new sign-in: no
    federation call, no Access, no new row. What it cannot do: reach a session signed in
    from another browser or profile, or one signed out meanwhile (AWS then shows its
    sign-in page: Renew, or Access, signs in again); and with the console's multi-session
    support on, each session's pages live under their own host
    (`<account id>-<id>.<region>.console.aws.amazon.com`, "Signing in to multiple
    accounts", https://docs.aws.amazon.com/awsconsolehelpdocs/latest/gsg/multisession.html),
    which this app never learns, so the plain URL opens the console's session chooser.
    """
    if session.kind != Kind.CONSOLE:
        return ""
    try:
        partition = aws.parse_role_arn(session.target_role_arn).partition
        return aws.console_url(partition, session.region, session.service)
    except (aws.ArnError, aws.ConsoleChoiceError):
        return ""  # recorded before a list changed: nothing safe to open


def renew_refusal(account: PamAccount | AccountListing, now: datetime) -> str:
    """Why a new Access to `account` (read by accounts_for_user, with its window_state
    attached) would be refused now for want of a window, as the person should read it;
    empty when it would not be."""
    state = account.window_state
    if state is None:  # a standing grant
        return ""
    request = state.request if state.kind == "window" else None
    if request is None or request.ends_at is None:
        return "Renew is not offered: your access window has closed. Request a new one."
    left = int((request.ends_at - now).total_seconds())
    if left < MIN_SECONDS:
        return (
            f"Renew is not offered: your access window ends at {state.ends} "
            f"({max(0, left) // 60} min left), under the 15 minutes a console session "
            "needs. Request a new window."
        )
    return ""


def live_of(
    session: ConsoleSession,
    granted: PamAccount | AccountListing | None,
    now: datetime | None = None,
) -> Live | None:
    """`session`'s Live, if it is running; `granted`: its account as accounts_for_user
    reads it for the session's user (window_state attached), None if no longer granted
    (then nothing is offered but the time left)."""
    if session.status != Status.ACTIVE or session.expires_at is None:
        return None
    now = now or timezone.now()
    left = max(0, int((session.expires_at - now).total_seconds()))
    live = {"seconds_left": left, "time_left": f"{format_countdown(left)} left"}
    if session.kind != Kind.CONSOLE:
        return Live(**live)
    live["open_url"] = open_again_url(session)
    if granted is None:
        return Live(**live)
    refused = renew_refusal(granted, now)
    if refused:
        return Live(**live, renew_refused=refused)
    try:
        # The same region and service, while the account still offers them; else its
        # defaults (Access applies them for empty values).
        granted.console_choice(session.region, session.service)
        region, service = session.region, session.service
    except aws.ConsoleChoiceError:
        region, service = "", ""
    return Live(
        **live,
        renew_url=reverse("account-access", args=[granted.pk]),
        region=region,
        service=service,
        renew_now=left <= RENEW_SECONDS,
        verify_url=reverse("account-detail", args=[granted.pk]) if granted.require_mfa else "",
    )


def granted_for_renew(
    user: AbstractBaseUser, sessions: Iterable[ConsoleSession]
) -> dict[int, PamAccount]:
    """The accounts of `sessions`' live console sessions that `user` is still granted,
    by id, with their window state: one query, two with an eligible grant among them,
    none when no session is live."""
    ids = {
        s.account_id
        for s in sessions
        if s.status == Status.ACTIVE and s.kind == Kind.CONSOLE and s.expires_at is not None
    }
    if not ids:
        return {}
    accounts = list(accounts_for_user(user).filter(pk__in=ids))
    attach_window_states(user, accounts)
    return {a.pk: a for a in accounts}


@dataclass(frozen=True, slots=True)
class SessionRow:
    id: int
    status: str
    status_label: str
    failure: str  # "step: " for failed rows, shown before the error code
    error_code: str
    started_iso: str
    started: str
    ended: str  # the last column, already worded
    until: str  # for active rows: the expiry time of day
    client_ip: str
    account_url: str
    account_name: str
    account_where: str
    revoke_url: str  # empty unless the user can revoke it here (active, revocation on)
    revoked_note: str  # for revoked rows: by whom and why
    revocation_error: str  # a revocation IAM has not taken yet (retried)
    # Just-in-time access: the request the session ran under (0 and "" for a standing
    # grant), and what its approvers said yes to.
    request_id: int
    request_url: str
    break_glass: bool
    request_reason: str
    request_ticket: str
    approvers: str  # "a@example.com, b@example.com"
    # Where the console opened: "eu-west-1 · ec2"; empty for its home page.
    console: str = ""
    # The "Time left" column: "—" but for a running session, whose Live it is.
    time_left: str = "—"
    live: Live | None = None
    refused_count: int = 1  # attempts a rate-limit refusal row counts
    # "CLI credentials" for `pam credentials` sessions (keys, no console); "" otherwise.
    kind_label: str = ""


def request_url(request_id: int) -> str:
    """The request's page; its plain path where that page's URL is not known here."""
    try:
        return reverse("request-detail", args=[request_id])
    except NoReverseMatch:
        return f"/requests/{request_id}/"


def _local(value: datetime, pattern: str) -> str:
    return timezone.localtime(value).strftime(pattern)


def session_rows(
    sessions: Iterable[ConsoleSession],
    *,
    show_account: bool,
    granted: Mapping[int, PamAccount] | None = None,
) -> list[SessionRow]:
    """Format each row once in Python: the same cells through template variables and
    the `date` filter cost most of a 50-row page's time (bench/history.py).

    `granted` (granted_for_renew's): the accounts the page's person may renew live
    sessions of; None offers no Renew (a page that is not the person's own)."""
    full = "%Y-%m-%d %H:%M:%S %Z"
    now = timezone.now()
    sessions = list(sessions)
    # The requests in one query and their approvals in another, however many rows (none
    # at all when every row ran under a standing grant).
    prefetch_related_objects(sessions, "access_request", approvals_prefetch())
    rows = []
    for s in sessions:
        under = s.access_request if s.access_request_id else None
        # Two columns: the time left of a running session, and when the others ended
        # (a failure's time belongs there: nothing was ever left of it).
        ended, until, live = "—", "", None
        if s.status == Status.ACTIVE and s.expires_at is not None:
            live = live_of(s, (granted or {}).get(s.account_id), now)
            until = _local(s.expires_at, "%H:%M:%S %Z")
        elif s.status == Status.EXPIRED and s.expires_at is not None:
            ended = f"expired {_local(s.expires_at, full)}"
        elif s.status != Status.EXPIRED and s.ended_at is not None:
            ended = _local(s.ended_at, full)
        revocable = (
            s.status == Status.ACTIVE
            and bool(s.assumed_role_id)
            and s.account.resource.allow_revocation
        )
        local_start = timezone.localtime(s.created_at)
        account = s.account if show_account else None
        rows.append(
            SessionRow(
                id=s.pk,
                status=s.status,
                status_label=s.get_status_display(),
                failure=f"{s.get_failure_step_display()}: " if s.status == Status.FAILED else "",
                error_code=s.error_code,
                started_iso=local_start.isoformat(),
                started=local_start.strftime(full),
                ended=ended,
                until=until,
                client_ip=str(s.client_ip) if s.client_ip else "—",
                account_url=reverse("account-detail", args=[s.account_id]) if account else "",
                account_name=account.name if account else "",
                account_where=(
                    f"{account.resource.project.name} / {account.resource.name}"
                    f" · role {s.target_role_name}"
                    if account
                    else ""
                ),
                revoke_url=reverse("session-revoke", args=[s.pk]) if revocable else "",
                revoked_note=(
                    f"by {s.revoked_by_name}: {s.revoke_reason}"
                    if s.status == Status.REVOKED
                    else ""
                ),
                revocation_error=s.revocation_error if s.status == Status.ACTIVE else "",
                request_id=under.pk if under else 0,
                request_url=request_url(under.pk) if under else "",
                break_glass=bool(under and under.break_glass),
                request_reason=under.reason if under else "",
                request_ticket=under.ticket if under else "",
                approvers=", ".join(approvers_of(under)),
                console=" · ".join(v for v in (s.region, s.service) if v),
                time_left=live.time_left if live else "—",
                live=live,
                refused_count=s.refused_count,
                kind_label=s.get_kind_display() if s.kind != Kind.CONSOLE else "",
            )
        )
    return rows
