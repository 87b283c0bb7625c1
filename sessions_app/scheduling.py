"""Publishing expiry tasks without letting a broker outage reach the user.

Access publishes after the session row is committed, while the user waits for the
console. A broker that refuses connections, or accepts them and never answers, must not
fail or stall Access: publishing is bounded by socket timeouts and one retry (settings),
a failure is logged and swallowed, and for a short while afterwards we do not even try,
so a dead broker costs the first request well under a second and the next ones nothing.
The periodic sweep records every expiry that was not scheduled.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from celery import current_app

log = logging.getLogger(__name__)

EXPIRE_TASK = "sessions_app.tasks.expire_session"
PRUNE_TASK = "sessions_app.tasks.prune_revocations"
LOST_ACCESS_TASK = "sessions_app.tasks.revoke_lost_access"
# How long to stop publishing after a failure.
BACKOFF_SECONDS = 30.0

_lock = threading.Lock()
_skip_until = 0.0


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


def _publish(task: str, args: list, eta: datetime | None, what: str) -> bool:
    global _skip_until
    if time.monotonic() < _skip_until:
        return False
    try:
        current_app.send_task(task, args=args, eta=eta)
    except Exception as exc:  # any broker error: kombu raises many kinds
        with _lock:
            _skip_until = time.monotonic() + BACKOFF_SECONDS
        log.warning(
            "Could not schedule %s (%s: %s); the periodic sweep will do it. Not "
            "publishing for %.0f s.",
            what,
            type(exc).__name__,
            exc,
            BACKOFF_SECONDS,
        )
        return False
    return True


def reset_backoff() -> None:
    global _skip_until
    with _lock:
        _skip_until = 0.0
