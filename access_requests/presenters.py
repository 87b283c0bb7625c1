"""How requests read on the pages: times, time left, approvals so far, and the state of
an eligible grant for the Access button (Request access, pending, opens later, open)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, Q
from django.utils import timezone

from accounts.models import PamAccount

from .models import OPEN_STATUSES, AccessRequest, RequestStatus, Verdict

# --- Times as the pages write them ------------------------------------------------------


def clock(value: datetime | None, now: datetime | None = None) -> str:
    """HH:MM for today, else the date too, in the server's time zone."""
    if value is None:
        return ""
    local = timezone.localtime(value)
    if local.date() == timezone.localtime(now or timezone.now()).date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def _minutes(seconds: float) -> int:
    return max(0, int(seconds // 60))


def _time_left(request: AccessRequest, now: datetime) -> str:
    """The "time left" cell: of an open window, of a pending request's 24 h, or of a
    window that opens later."""
    if request.status == RequestStatus.APPROVED and request.ends_at and request.starts_at:
        if request.starts_at > now:
            return f"opens {clock(request.starts_at, now)}"
        if request.ends_at > now:
            return f"{_minutes((request.ends_at - now).total_seconds())} min left"
        return "ended"
    if request.status == RequestStatus.PENDING:
        if request.expires_at <= now:
            return "expired"
        hours, rest = divmod(int((request.expires_at - now).total_seconds()), 3600)
        return f"decision needed within {hours}h {rest // 60}m"
    return ""


def decorate(rows: Iterable[AccessRequest], now: datetime) -> list[AccessRequest]:
    """Attach the words the templates show (computed once, here)."""
    out = []
    for row in rows:
        row.time_left_text = _time_left(row, now)
        row.starts_text = clock(row.starts_at, now)
        row.ends_text = clock(row.ends_at, now)
        row.requested_start_text = (
            clock(row.requested_start, now) if row.requested_start else "as soon as approved"
        )
        decisions = list(row.decisions.all())
        row.decision_list = decisions
        row.approval_count = sum(d.verdict == Verdict.APPROVE for d in decisions)
        row.is_open = row.status in OPEN_STATUSES
        out.append(row)
    return out


# --- The state of an eligible grant, for the Access button ------------------------------


@dataclass(frozen=True, slots=True)
class WindowState:
    """What the Access button shows for an account granted as eligible (not standing):
    `request` (ask for a window), `pending`, `scheduled` (approved, opens later) or
    `window` (open now: the Access button, and when it ends)."""

    kind: str
    request: AccessRequest | None = None
    ends: str = ""
    ends_iso: str = ""
    minutes_left: int = 0
    starts: str = ""
    approvals: int = 0


def _state_of(open_request: AccessRequest | None, now: datetime) -> WindowState:
    r = open_request
    if r is None:
        return WindowState("request")
    if r.status == RequestStatus.PENDING and r.expires_at > now:
        return WindowState("pending", r, approvals=getattr(r, "approvals", 0))
    if r.status == RequestStatus.APPROVED and r.ends_at and r.ends_at > now:
        if r.starts_at and r.starts_at > now:
            return WindowState("scheduled", r, starts=clock(r.starts_at, now))
        return WindowState(
            "window",
            r,
            ends=timezone.localtime(r.ends_at).strftime("%H:%M"),
            ends_iso=timezone.localtime(r.ends_at).isoformat(),
            minutes_left=_minutes((r.ends_at - now).total_seconds()),
        )
    return WindowState("request")  # past its time, not swept yet: closed in effect


def attach_window_states(
    user: AbstractBaseUser, accounts: Sequence[PamAccount], now: datetime | None = None
) -> None:
    """Set `window_state` on each account `user` holds only an eligible grant for (the
    `standing` annotation of accounts_for_user), None on the others. One query for all
    of them (the user's open requests, one per account at most), none if all standing."""
    now = now or timezone.now()
    eligible = [a for a in accounts if getattr(a, "standing", True) is False]
    for account in accounts:
        account.window_state = None
    if not eligible:
        return
    open_requests = (
        AccessRequest.objects.filter(requester=user, status__in=OPEN_STATUSES)
        .annotate(approvals=Count("decisions", filter=Q(decisions__verdict=Verdict.APPROVE)))
        .order_by("created_at")
    )
    by_account = {r.account_id: r for r in open_requests}  # the newest wins
    for account in eligible:
        account.window_state = _state_of(by_account.get(account.pk), now)
