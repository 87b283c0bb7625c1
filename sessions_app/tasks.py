"""Celery tasks: thin wrappers that look a session up by id and call a service."""

from __future__ import annotations

import logging

from celery import shared_task
from django.db import DatabaseError

from . import revocation, services

log = logging.getLogger(__name__)


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def expire_session(session_id: int) -> bool:
    """Record the session as expired. Safe early (no change) and safe twice."""
    expired = services.session_expire(session_id=session_id)
    # Carries the request id of the Access that scheduled it (pam_project.requestid).
    log.info(
        "Expiry of console session %s: %s",
        session_id,
        "recorded" if expired else "nothing to do (not due, or already ended)",
    )
    return expired


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=2,
)
def sweep_sessions() -> dict[str, int]:
    """Catch up on expiries nobody scheduled and fail pending rows of crashed requests."""
    result = services.sessions_sweep()
    # Failed revocation writes retried, statements past their time pruned.
    roles = revocation.revocations_sweep()
    return {"expired": result.expired, "abandoned": result.abandoned, "revocation_roles": roles}


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def prune_revocations() -> int:
    """Drop revocation statements nothing can need any more. Safe early and twice."""
    return revocation.revocations_sweep()


@shared_task(
    autoretry_for=(DatabaseError,),
    retry_backoff=True,
    retry_jitter=True,
    max_retries=5,
)
def revoke_lost_access() -> int:
    """Revoke live sessions of people whose grant was removed or who were deactivated."""
    return revocation.revoke_lost_access()
