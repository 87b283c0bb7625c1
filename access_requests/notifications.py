"""Telling people: approvers of a new request or a break-glass, the requester of a
decision and of a window about to end. Sent by a Celery task (tasks.notify) after the
change is committed, so a mail server or Slack outage never fails the request; only the
kind and the request id travel in the message.

`send` does the work for one notice: one mail per recipient (Django's mail, EMAIL_URL)
and one Slack message (PAM_SLACK_WEBHOOK_URL, when set). Each is a *target*
("mail:<user id>", "slack"); `send` reports which failed in a way worth retrying, and the
task retries only those, so an approver never gets the same mail twice because Slack was
down. Nothing secret is ever in a notice: no sign-in URL, token, key or External ID, only
what the request's pages show its requester and approvers, and a link to them.
"""

from __future__ import annotations

import logging
import secrets
import smtplib
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime

import requests
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.core.mail import EmailMessage, get_connection
from django.core.mail.backends.base import BaseEmailBackend
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from pam_project.publishing import publish

from . import selectors
from .models import AccessRequest, RequestStatus

log = logging.getLogger(__name__)

NOTIFY_TASK = "access_requests.tasks.notify"

REQUESTED = "requested"
BREAK_GLASS = "break_glass"
DECIDED = "decided"
ENDING = "ending"
KINDS = (REQUESTED, BREAK_GLASS, DECIDED, ENDING)
# Told to the account's approvers; the others to the requester.
TO_APPROVERS = (REQUESTED, BREAK_GLASS)
# What a "decided" notice reports; a request in any other state by the time the worker
# gets to it (cancelled, ended) has nothing left to announce.
DECIDED_STATUSES = (
    RequestStatus.APPROVED,
    RequestStatus.DENIED,
    RequestStatus.EXPIRED,
    RequestStatus.REVOKED,
)

SLACK = "slack"
MAIL_PREFIX = "mail:"

# The decision pages (access_requests' views): approvers decide on /approvals/, the
# requester follows their requests on /requests/. The fragment is the request's row.
APPROVALS_PATH = "/approvals/#request-{id}"
REQUESTS_PATH = "/requests/#request-{id}"
# A worker has no HTTP request to read the app's address from, so links need
# PAM_PUBLIC_URL. Without it they point at `./dev run`'s address: right on a laptop,
# wrong anywhere else (a warning says so, once per process).
FALLBACK_PUBLIC_URL = "http://localhost:8000"
# (connect, read) seconds for the webhook: a hung Slack must not hold a worker.
SLACK_TIMEOUT = (3.05, 10.0)
# Retries: 30 s, 1, 2, 4, 8 min (halved at random, so a recovering mail server is not hit
# by every notice at once): about a quarter of an hour in all, long enough to ride out a
# mail server's restart, short enough that a "15 minutes left" notice still means it.
RETRY_BASE_SECONDS = 30
RETRY_MAX_SECONDS = 600

_warned_no_public_url = False


@dataclass
class Outcome:
    """What one `send` did, by target ("mail:<user id>", "slack")."""

    sent: list[str] = field(default_factory=list)
    # Worth trying again (the server was down, answered 4xx/5xx for now): reason.
    failed: dict[str, str] = field(default_factory=dict)
    # Will never work as it is (an address or webhook the server refuses): reason.
    refused: dict[str, str] = field(default_factory=dict)
    # Why nothing was sent at all, if so.
    skipped: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "sent": self.sent,
            "failed": self.failed,
            "refused": self.refused,
            "skipped": self.skipped,
        }


def announce(kind: str, request_id: int) -> None:
    """Queue notice `kind` about request `request_id`, once the transaction commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    transaction.on_commit(
        lambda: publish(
            NOTIFY_TASK, [kind, request_id], None, f"{kind} notice of request {request_id}"
        )
    )


def retry_delay(retries: int) -> int:
    """Seconds before retry number `retries` + 1."""
    delay = min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2**retries)
    return delay // 2 + secrets.randbelow(delay // 2 + 1)


def send(kind: str, request_id: int, only: Collection[str] | None = None) -> Outcome:
    """Send notice `kind` about request `request_id`: to every target, or to those in
    `only` (a retry). Mail server and webhook errors are reported in the Outcome, never
    raised; a notice that no longer means anything (the request was decided before its
    "new request" mail went out, the window already ended) is skipped."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    request = (
        AccessRequest.objects.select_related("account__resource__project", "requester")
        .filter(pk=request_id)
        .first()
    )
    if request is None:
        log.warning("No %s notice: request %s does not exist", kind, request_id)
        return Outcome(skipped="no such request")
    stale = _stale(kind, request)
    if stale:
        log.info("No %s notice of request %s: %s", kind, request_id, stale)
        return Outcome(skipped=stale)

    context = _context(kind, request)
    outcome = Outcome()
    recipients = [user for user in _recipients(kind, request) if user.email]
    # The approvers' channel hears of requests and decisions; "15 minutes left" is the
    # requester's own business.
    slack_on = bool(settings.PAM_SLACK_WEBHOOK_URL) and kind != ENDING
    if not recipients and not slack_on:
        if kind in TO_APPROVERS:
            # Nobody hears of a request that waits for them: worth an operator's eye.
            log.warning(
                "Nobody to tell of %s request %s: no approver of account %s has an email, "
                "and PAM_SLACK_WEBHOOK_URL is not set",
                kind,
                request_id,
                request.account_id,
            )
        return Outcome(skipped="nobody to tell")
    if only is not None:
        recipients = [user for user in recipients if f"{MAIL_PREFIX}{user.pk}" in only]
        slack_on = slack_on and SLACK in only
    mails = {f"{MAIL_PREFIX}{user.pk}": _mail(kind, context, user) for user in recipients}
    _send_mails(mails, outcome)
    if slack_on:
        _send_slack(slack_message(kind, context), outcome)
    for target, reason in outcome.refused.items():
        log.error("%s notice of request %s to %s refused: %s", kind, request_id, target, reason)
    return outcome


def _stale(kind: str, request: AccessRequest) -> str:
    """Why notice `kind` would now be pointless (empty: it is not)."""
    if kind == REQUESTED and request.status != RequestStatus.PENDING:
        return f"already {request.status}"
    if kind == DECIDED and request.status not in DECIDED_STATUSES:
        return f"now {request.status}"
    if kind == ENDING and not request.is_open_now():
        return "the window is not open any more"
    return ""


def _recipients(kind: str, request: AccessRequest) -> Iterable[AbstractBaseUser]:
    if kind in TO_APPROVERS:
        # Never the requester, even when they are an approver of the account too: they
        # may not decide their own request.
        return selectors.approvers_of(request.account).exclude(pk=request.requester_id)
    requester = request.requester
    if requester is None or not requester.is_active:
        return []
    return [requester]


# --- What a notice says -------------------------------------------------------------


def public_base_url() -> str:
    """This app's address as people reach it, for links in notices."""
    global _warned_no_public_url
    if settings.PAM_PUBLIC_URL:
        return settings.PAM_PUBLIC_URL
    if not _warned_no_public_url:
        _warned_no_public_url = True
        log.warning(
            "PAM_PUBLIC_URL is not set: links in notifications point at %s",
            FALLBACK_PUBLIC_URL,
        )
    return FALLBACK_PUBLIC_URL


def decision_link(kind: str, request_id: int) -> str:
    """Where the recipient of notice `kind` acts on it."""
    path = APPROVALS_PATH if kind in TO_APPROVERS else REQUESTS_PATH
    return public_base_url() + path.format(id=request_id)


def _when(value: datetime | None) -> str:
    # Mail goes to people in many time zones: say UTC, always.
    if value is None:
        return ""
    return timezone.localtime(value, UTC).strftime("%Y-%m-%d %H:%M UTC")


def _context(kind: str, request: AccessRequest) -> dict[str, object]:
    """Everything a notice may show: what the request's own pages show its requester
    and approvers. Deliberately no ARN account ids of the deployment, no External ID."""
    account = request.account
    resource = account.resource
    decisions = list(request.decisions.all())
    if request.status == RequestStatus.REVOKED:
        outcome_by, outcome_note = request.ended_by_name, request.end_reason
    elif request.status == RequestStatus.EXPIRED:
        outcome_by, outcome_note = "", ""  # the mail itself says why
    else:
        last = decisions[-1] if decisions else None
        outcome_by = ", ".join(d.approver_name for d in decisions if d.verdict == "approve")
        if request.status == RequestStatus.DENIED and last is not None:
            outcome_by = last.approver_name
        outcome_note = last.comment if last is not None else ""
    if request.break_glass and request.status == RequestStatus.APPROVED:
        outcome_by = "break-glass (no approval)"
    return {
        "kind": kind,
        "request": request,
        "request_id": request.pk,
        "requester": request.requester_name,
        "project": resource.project.name,
        "resource": resource.name,
        "account": account.name,
        "path": f"{resource.project.name} / {resource.name} / {account.name}",
        "target_role": account.target_role_arn.rsplit("/", 1)[-1],
        "reason": request.reason,
        "ticket": request.ticket,
        "duration": request.duration_text,
        "break_glass": request.break_glass,
        "approvals_required": request.approvals_required,
        "status": request.status,
        "status_text": request.get_status_display().lower(),
        "starts": _when(request.starts_at or request.requested_start) or "as soon as approved",
        "ends": _when(request.ends_at),
        "expires": _when(request.expires_at),
        "outcome_by": outcome_by,
        "outcome_note": outcome_note,
        "link": decision_link(kind, request.pk),
    }


def _subject(kind: str, context: dict[str, object]) -> str:
    path, who = context["path"], context["requester"]
    if kind == BREAK_GLASS:
        subject = f"[PAM] BREAK-GLASS: {who} opened access to {path}"
    elif kind == REQUESTED:
        subject = f"[PAM] Approval needed: {who} asks for access to {path}"
    elif kind == DECIDED:
        # "expired" happened to the request; the other outcomes were someone's doing.
        verb = "" if context["status"] == RequestStatus.EXPIRED else "was "
        subject = f"[PAM] Your request for {path} {verb}{context['status_text']}"
    else:
        subject = f"[PAM] Your access to {path} ends at {context['ends']}"
    # A header holds one line (Django refuses a newline in it).
    return " ".join(subject.split())


def _mail(kind: str, context: dict[str, object], user: AbstractBaseUser) -> EmailMessage:
    body = render_to_string(f"access_requests/email/{kind}.txt", {**context, "recipient": user})
    return EmailMessage(
        subject=_subject(kind, context),
        body=body,
        from_email=settings.DEFAULT_FROM_EMAIL,
        to=[user.email],
        # RFC 3834: out-of-office robots do not answer a machine.
        headers={"Auto-Submitted": "auto-generated"},
    )


def _mrkdwn(text: object) -> str:
    """User text inside Slack mrkdwn: escaped as Slack asks, so a reason cannot ping
    <!channel> or dress a link up as something else."""
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def slack_message(kind: str, context: dict[str, object]) -> dict[str, object]:
    """One Block Kit message for the channel: what happened, the facts, a button to the
    decision page."""
    raw_who, raw_path = context["requester"], context["path"]
    who, path = _mrkdwn(raw_who), _mrkdwn(raw_path)
    if kind == BREAK_GLASS:
        headline = f":rotating_light: BREAK-GLASS: {raw_who} opened access to {raw_path}"
        summary = (
            f"*Break-glass:* {who} opened *{path}* for {context['duration']} without "
            "approval. Review it now, and revoke it if it is not right."
        )
    elif kind == REQUESTED:
        headline = f"Approval needed: {raw_who} asks for access to {raw_path}"
        summary = f"{who} asks for *{path}* for {context['duration']}."
    else:
        headline = f"Request #{context['request_id']} for {raw_path} {context['status_text']}"
        verb = "" if context["status"] == RequestStatus.EXPIRED else "was "
        summary = f"{who}'s request for *{path}* {verb}*{context['status_text']}*."
        if context["outcome_by"]:
            summary += f" By: {_mrkdwn(context['outcome_by'])}."
    fields = [
        f"*Account*\n{path}",
        f"*Target role*\n{_mrkdwn(context['target_role'])}",
        f"*Duration*\n{context['duration']}",
        f"*Starts*\n{context['starts']}",
    ]
    if context["ticket"]:
        fields.append(f"*Ticket*\n{_mrkdwn(context['ticket'])}")
    link = str(context["link"])
    blocks: list[dict[str, object]] = [
        # Header text is plain_text (never parsed for mentions), at most 150 characters.
        {
            "type": "header",
            "text": {"type": "plain_text", "text": headline[:150], "emoji": True},
        },
        {"type": "section", "text": {"type": "mrkdwn", "text": summary}},
        {"type": "section", "fields": [{"type": "mrkdwn", "text": f} for f in fields]},
        {
            "type": "section",
            "text": {"type": "mrkdwn", "text": f"*Reason*\n{_mrkdwn(context['reason'])}"},
        },
    ]
    if kind == DECIDED and context["outcome_note"]:
        blocks.append(
            {
                "type": "context",
                "elements": [{"type": "mrkdwn", "text": _mrkdwn(context["outcome_note"])}],
            }
        )
    button = {
        "type": "button",
        "text": {"type": "plain_text", "text": "Open in PAM"},
        "url": link,
    }
    if kind == BREAK_GLASS:
        button["style"] = "danger"
    elif kind == REQUESTED:
        button["style"] = "primary"
    blocks.append({"type": "actions", "elements": [button]})
    # `text` is what phones and screen readers show; Slack wants it beside the blocks.
    return {"text": f"{summary} {link}", "blocks": blocks}


# --- Delivery -----------------------------------------------------------------------


def _describe(exc: BaseException) -> str:
    """An error, for the log, without what it may carry: smtplib's carries only the
    server's answer, but requests' names the webhook URL, which is a secret."""
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = sorted({code for code, _ in exc.recipients.values()})
        return f"SMTPRecipientsRefused {codes}"
    if isinstance(exc, smtplib.SMTPResponseException):
        return f"{type(exc).__name__} {exc.smtp_code}"
    if isinstance(exc, OSError) and not isinstance(exc, requests.RequestException):
        return f"{type(exc).__name__} {exc.strerror or exc}"
    return type(exc).__name__


def _permanent_smtp(exc: BaseException) -> bool:
    # A mailbox the server says does not exist (5xx for every recipient) will not
    # appear in a few minutes; anything else (server down, 4xx, auth) may be fixed.
    return isinstance(exc, smtplib.SMTPRecipientsRefused) and all(
        code >= 500 for code, _ in exc.recipients.values()
    )


def _send_mails(mails: dict[str, EmailMessage], outcome: Outcome) -> None:
    if not mails:
        return
    connection = get_connection(fail_silently=False)
    try:
        connection.open()
    except (smtplib.SMTPException, OSError) as exc:
        for target in mails:
            outcome.failed[target] = _describe(exc)
        return
    try:
        for target, mail in mails.items():
            try:
                connection.send_messages([mail])
            except (smtplib.SMTPException, OSError) as exc:
                (outcome.refused if _permanent_smtp(exc) else outcome.failed)[target] = _describe(
                    exc
                )
                # The session may be broken now: start the next mail on a new one.
                _close(connection)
            else:
                outcome.sent.append(target)
    finally:
        _close(connection)


def _close(connection: BaseEmailBackend) -> None:
    try:
        connection.close()
    except (smtplib.SMTPException, OSError):
        # Closing a session the server already dropped: nothing left to do.
        log.debug("SMTP close failed", exc_info=True)


def _send_slack(message: dict[str, object], outcome: Outcome) -> None:
    try:
        response = requests.post(
            settings.PAM_SLACK_WEBHOOK_URL,
            json=message,
            timeout=SLACK_TIMEOUT,
            # A webhook does not redirect; following one would post the message elsewhere.
            allow_redirects=False,
        )
    except requests.RequestException as exc:
        outcome.failed[SLACK] = _describe(exc)
        return
    if response.status_code == 200:
        outcome.sent.append(SLACK)
        return
    # Slack answers a short error code in the body (invalid_payload, no_service, ...).
    reason = f"HTTP {response.status_code} {response.text[:100]!r}"
    if response.status_code == 429 or response.status_code >= 500:
        outcome.failed[SLACK] = reason  # rate-limited or Slack is down: later
    else:
        outcome.refused[SLACK] = reason  # a removed webhook, a bad payload: never
