"""Publishing Celery tasks without letting a broker outage reach the user.

Access (and a request, a decision) publishes after its row is committed, while the
person waits. A broker that refuses connections, or accepts them and never answers, must
not fail or stall them: publishing is bounded by socket timeouts and one retry
(pam_project/brokers.py), a failure is logged and swallowed, and for a short while
afterwards we do not even try, so a dead broker costs the first request well under a
second and the next ones nothing. The periodic sweeps do whatever was not scheduled.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import datetime

from celery import current_app
from prometheus_client import Counter

log = logging.getLogger(__name__)

# Exposed at /metrics (operations/metrics.py): a broker that refuses our messages shows
# there before anyone notices that expiries are recorded only by the sweep.
PUBLISH_FAILURES = Counter(
    "pam_task_publish_failures",
    "Task messages the broker did not take (each then left to the periodic sweep).",
    labelnames=["task"],
)
PUBLISH_SKIPPED = Counter(
    "pam_task_publish_skipped",
    "Task messages not even tried, within the back-off after a failed publish.",
    labelnames=["task"],
)

# How long to stop publishing after a failure.
BACKOFF_SECONDS = 30.0

_lock = threading.Lock()
_skip_until = 0.0


def publish(task: str, args: list, eta: datetime | None, what: str) -> bool:
    """Send `task` (by name) with `args` (ids and times only: never a secret), to run
    at `eta` (or now). Returns whether the broker took it."""
    global _skip_until
    if time.monotonic() < _skip_until:
        PUBLISH_SKIPPED.labels(task=task).inc()
        return False
    try:
        current_app.send_task(task, args=args, eta=eta)
    except Exception as exc:  # any broker error: kombu raises many kinds
        PUBLISH_FAILURES.labels(task=task).inc()
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
