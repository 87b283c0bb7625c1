"""Publishing Celery tasks without letting a broker outage reach the user.

Access (and a request, a decision) publishes after its row is committed, while the
person waits. A broker that refuses connections, or accepts them and never answers, must
not fail or stall them: publishing is bounded by socket timeouts and one retry
(pam_project/brokers.py), a failure is logged and swallowed, and for a short while
afterwards we do not even try, so a dead broker costs the first request well under a
second and the next ones nothing. The periodic sweeps do whatever was not scheduled.

Inside a request, a publish waits until the response has gone out
(`DeferredPublishMiddleware`): it happens after the commit it follows, as before, but the
person no longer waits for the broker's round trip (about 1.5 ms of every Access,
bench/access.py). The message is sent by the same worker thread right after the response
is written, before that thread takes another request; a process killed in between loses
it exactly as one killed between the commit and the publish always could, and the
periodic sweep records what it would have (an expiry within a minute of its time).
"""

from __future__ import annotations

import contextvars
import logging
import threading
import time
from collections.abc import Callable
from datetime import datetime

from celery import current_app
from django.core.signals import request_finished
from django.http import HttpRequest, HttpResponse
from prometheus_client import Counter

from pam_project import requestid

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


# The publishes asked for while a request is being answered, sent once its response has
# gone out; None outside a request (tasks, commands: sent at once).
_deferred: contextvars.ContextVar[list[tuple] | None] = contextvars.ContextVar(
    "pam_deferred_publishes", default=None
)


def publish(task: str, args: list, eta: datetime | None, what: str) -> bool:
    """Send `task` (by name) with `args` (ids and times only: never a secret), to run
    at `eta` (or now). Returns whether the broker took it; inside a request, True: it
    is sent once the response has gone out (the module's docstring)."""
    pending = _deferred.get()
    if pending is not None:
        pending.append((task, args, eta, what, requestid.current()))
        return True
    return _send(task, args, eta, what)


def _send(task: str, args: list, eta: datetime | None, what: str) -> bool:
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


def send_deferred(**kwargs: object) -> None:
    """Send what this request deferred (request_finished: the response has been written
    and closed), each under the request id it was asked for in."""
    pending = _deferred.get()
    _deferred.set(None)
    for task, args, eta, what, rid in pending or ():
        token = requestid.request_id.set(rid)
        try:
            _send(task, args, eta, what)
        finally:
            requestid.request_id.reset(token)


class DeferredPublishMiddleware:
    """Holds the publishes of a request until its response has gone out. First in
    MIDDLEWARE; `request_finished` (sent when the server closes the response, after
    writing it) sends them."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        request_finished.connect(send_deferred, dispatch_uid="pam_send_deferred")

    def __call__(self, request: HttpRequest) -> HttpResponse:
        # Anything a previous request of this thread left (a response never closed)
        # goes now rather than never.
        send_deferred()
        _deferred.set([])
        return self.get_response(request)


def reset_backoff() -> None:
    global _skip_until
    with _lock:
        _skip_until = 0.0
