"""Celery tasks: thin wrappers that look a request up by id and call a service."""

from __future__ import annotations

from celery import shared_task
from django.db import DatabaseError

from . import services

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
