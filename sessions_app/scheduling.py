"""What the sessions app asks workers to do later: expiries, pruning, revoking.

Publishing itself (bounded, never failing the caller) is pam_project/publishing.py's.
"""

from __future__ import annotations

from datetime import datetime

from pam_project.publishing import publish as _publish
from pam_project.publishing import reset_backoff

__all__ = ["reset_backoff", "schedule_expiry", "schedule_lost_access_check", "schedule_prune"]

EXPIRE_TASK = "sessions_app.tasks.expire_session"
PRUNE_TASK = "sessions_app.tasks.prune_revocations"
LOST_ACCESS_TASK = "sessions_app.tasks.revoke_lost_access"


def schedule_expiry(session_id: int, expires_at: datetime) -> bool:
    """Ask a worker to record session `session_id` as expired at `expires_at`.

    Only the id and the time travel in the message. Returns whether it was published.
    """
    return _publish(
        EXPIRE_TASK, [session_id], expires_at, f"expiry of console session {session_id}"
    )


def schedule_prune(at: datetime) -> bool:
    """Ask a worker to prune revocations at `at` (the sweep does it too, later)."""
    return _publish(PRUNE_TASK, [], at, "pruning of revocations")


def schedule_lost_access_check() -> bool:
    """Ask a worker to revoke the sessions of people who just lost access, now."""
    return _publish(LOST_ACCESS_TASK, [], None, "revoking sessions of lost access")
