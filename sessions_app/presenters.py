"""Console Sessions as the history table shows them."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from django.db.models import prefetch_related_objects
from django.urls import NoReverseMatch, reverse
from django.utils import timezone

from pam_project.durations import format_countdown

from .exports import approvals_prefetch, approvers_of
from .models import ConsoleSession, Status


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


def request_url(request_id: int) -> str:
    """The request's page; its plain path where that page's URL is not known here."""
    try:
        return reverse("request-detail", args=[request_id])
    except NoReverseMatch:
        return f"/requests/{request_id}/"


def _local(value: datetime, pattern: str) -> str:
    return timezone.localtime(value).strftime(pattern)


def session_rows(sessions: Iterable[ConsoleSession], *, show_account: bool) -> list[SessionRow]:
    """Format each row once in Python: the same cells through template variables and
    the `date` filter cost most of a 50-row page's time (bench/history.py)."""
    full = "%Y-%m-%d %H:%M:%S %Z"
    sessions = list(sessions)
    # The requests in one query and their approvals in another, however many rows (none
    # at all when every row ran under a standing grant).
    prefetch_related_objects(sessions, "access_request", approvals_prefetch())
    rows = []
    for s in sessions:
        under = s.access_request if s.access_request_id else None
        ended, until = "—", ""
        if s.status == Status.ACTIVE and s.expires_at is not None:
            ended = f"{format_countdown(s.time_left)} left"
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
            )
        )
    return rows
