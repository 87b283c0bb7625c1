"""Health checks for load balancers and orchestrators: `/healthz` (liveness, the
database) and `/readyz` (readiness: the database and the Celery broker, bounded and
cached)."""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable

from django.db import DatabaseError, connection, connections
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe

log = logging.getLogger(__name__)


@never_cache
@require_safe
def healthz(request: HttpRequest) -> JsonResponse:
    """200 when this process can reach its database, else 503.

    Every page and every Access needs the database (the grant check and the pending
    Console Session come before any AWS call), so a node without it should be taken out
    of rotation. The broker is left out on purpose: Access works without it.
    """
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
    except DatabaseError as exc:
        log.error("Health check: database unavailable (%s)", type(exc).__name__)
        return JsonResponse({"status": "unavailable", "database": "unreachable"}, status=503)
    return JsonResponse({"status": "ok"})


# --- Readiness -------------------------------------------------------------------------
# Each check runs in its own thread and is waited for at most this long; both run at
# once, so a probe answers within about the longer of the two even when a server accepts
# connections and never answers.
READY_TIMEOUTS = {"database": 1.0, "broker": 1.5}
# A probe storm (every load balancer node, every few seconds) costs one check per
# process per this many seconds.
READY_CACHE_SECONDS = 5.0

_ready_lock = threading.Lock()
_ready_cache: tuple[float, dict[str, str]] | None = None
# A check still running from an earlier probe (a hung server): not started again.
_in_flight: dict[str, threading.Thread] = {}


def _check_database() -> None:
    try:
        with connections["default"].cursor() as cursor:
            cursor.execute("SELECT 1")
    finally:
        # This thread's own connection: never left open for the next probe's thread.
        connections["default"].close()


def _check_broker() -> None:
    from pam_project.celery import app

    with app.connection_for_write() as conn:
        options = conn.transport_options or {}
        if conn.transport_cls == "filesystem" or conn.transport_cls.endswith(".filesystem"):
            # The embedded default: no server, just the shared directory.
            folder = options.get("data_folder_out")
            if folder and not os.access(folder, os.W_OK):
                raise OSError(f"broker folder {folder} is not writable")
        conn.ensure_connection(
            max_retries=1, interval_start=0, interval_step=0.1, interval_max=0.1, timeout=1
        )
        client = getattr(conn.default_channel, "client", None)
        if client is not None and hasattr(client, "ping"):
            client.ping()  # Redis: a server that accepts but never answers fails here


def _run_bounded(checks: dict[str, Callable[[], None]]) -> dict[str, str]:
    results: dict[str, str] = {}
    threads: dict[str, threading.Thread] = {}

    def runner(name: str, check: Callable[[], None]) -> None:
        try:
            check()
        except Exception as exc:  # any failure of the dependency is "not ready"
            results[name] = "failed"
            log.warning("Readiness: %s unavailable (%s)", name, type(exc).__name__)
        else:
            results[name] = "ok"

    for name, check in checks.items():
        running = _in_flight.get(name)
        if running is not None and running.is_alive():
            results[name] = "timeout"
            continue
        thread = threading.Thread(target=runner, args=(name, check), daemon=True)
        thread.start()
        _in_flight[name] = threads[name] = thread
    started = time.monotonic()
    for name, thread in threads.items():
        thread.join(max(0.0, READY_TIMEOUTS[name] - (time.monotonic() - started)))
        if thread.is_alive():
            results[name] = "timeout"
            log.warning("Readiness: %s did not answer within %.1f s", name, READY_TIMEOUTS[name])
    return {name: results.get(name, "timeout") for name in checks}


def readiness() -> dict[str, str]:
    """{"database": "ok" | "failed" | "timeout", "broker": ...}, cached a few seconds."""
    global _ready_cache
    with _ready_lock:
        now = time.monotonic()
        if _ready_cache is not None and now - _ready_cache[0] < READY_CACHE_SECONDS:
            return _ready_cache[1]
        checks = _run_bounded({"database": _check_database, "broker": _check_broker})
        _ready_cache = (time.monotonic(), checks)
        return checks


def reset_readiness_cache() -> None:
    global _ready_cache
    with _ready_lock:
        _ready_cache = None


@never_cache
@require_safe
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database and the Celery broker both answer, else 503 naming which
    did not. Unlike /healthz, it includes the broker: a node that cannot publish still
    serves Access (the sweep catches up), so point restarts at /healthz and use this to
    alert on, or to hold traffic during a start-up."""
    checks = readiness()
    ok = all(state == "ok" for state in checks.values())
    return JsonResponse(
        {"status": "ok" if ok else "unavailable", "checks": checks}, status=200 if ok else 503
    )
