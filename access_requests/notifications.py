"""Telling people: approvers of a new request or a break-glass, the requester of a
decision and of a window about to end. Sent by a Celery task (tasks.notify) after the
change is committed, so a mail server or Slack outage never fails the request; only the
kind and the request id travel in the message.
"""

from __future__ import annotations

from django.db import transaction

from pam_project.publishing import publish

NOTIFY_TASK = "access_requests.tasks.notify"

REQUESTED = "requested"
BREAK_GLASS = "break_glass"
DECIDED = "decided"
ENDING = "ending"
KINDS = (REQUESTED, BREAK_GLASS, DECIDED, ENDING)


def announce(kind: str, request_id: int) -> None:
    """Queue notice `kind` about request `request_id`, once the transaction commits."""
    if kind not in KINDS:
        raise ValueError(f"unknown notification kind {kind!r}")
    transaction.on_commit(
        lambda: publish(
            NOTIFY_TASK, [kind, request_id], None, f"{kind} notice of request {request_id}"
        )
    )
