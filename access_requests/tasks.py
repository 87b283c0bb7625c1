"""Celery tasks: thin wrappers that look a request up by id and call a service."""

from __future__ import annotations

import logging

from celery import Task, shared_task
from django.db import DatabaseError

from . import notifications, services

log = logging.getLogger(__name__)

RETRY = {
    "autoretry_for": (DatabaseError,),
    "retry_backoff": True,
    "retry_jitter": True,
    "max_retries": 5,
}


@shared_task(**RETRY)
def end_window(request_id: int) -> bool:
    """End the window at its time (and so revoke its live sessions). Safe early, twice."""
    return services.window_end(request_id=request_id)


@shared_task(**RETRY)
def window_ending(request_id: int) -> bool:
    """Tell the requester their window ends within 15 minutes (once)."""
    return services.window_ending_notice(request_id=request_id)


@shared_task(**{**RETRY, "max_retries": 2})
def sweep_requests() -> dict[str, int]:
    """Expire undecided requests, end windows, send missed notices: every minute."""
    return services.requests_sweep()


@shared_task(bind=True, max_retries=5, autoretry_for=(DatabaseError,), retry_backoff=True)
def notify(
    self: Task, kind: str, request_id: int, only: list[str] | None = None
) -> dict[str, object]:
    """Send notice `kind` of request `request_id` (notifications.send). Mail and Slack
    failures are retried by target (`only`: those that failed last time, so nobody gets
    a mail twice), with a growing delay; after the last try they are logged and dropped.
    Nothing here can fail the request: it was committed before this was published."""
    outcome = notifications.send(kind, request_id, only=only)
    if outcome.failed:
        failed = ", ".join(f"{target} ({why})" for target, why in sorted(outcome.failed.items()))
        if self.request.retries < self.max_retries:
            delay = notifications.retry_delay(self.request.retries)
            log.warning(
                "%s notice of request %s not delivered to %s; retry %d of %d in %d s",
                kind,
                request_id,
                failed,
                self.request.retries + 1,
                self.max_retries,
                delay,
            )
            raise self.retry(kwargs={"only": sorted(outcome.failed)}, countdown=delay)
        log.error(
            "%s notice of request %s not delivered to %s after %d tries; giving up",
            kind,
            request_id,
            failed,
            self.request.retries + 1,
        )
    return outcome.as_dict()
