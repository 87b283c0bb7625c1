"""Point the app's Celery at another broker for one test, and capture what it publishes."""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from kombu import pools as kombu_pools

from pam_project import celery_app
from pam_project.brokers import transport_options

REDIS_URL = os.environ.get("PAM_TEST_REDIS_URL", "redis://127.0.0.1:6379/15")


def _switch(url: str) -> None:
    # Close every connection and producer pool, and forget them: kombu keeps a process-
    # wide registry keyed by connection, which would hand back a closed pool.
    kombu_pools.reset()
    if celery_app._pool is not None:
        celery_app._pool.force_close_all()
    celery_app._pool = None
    celery_app.amqp._producer_pool = None
    # Celery reads CELERY_BROKER_URL from the environment before its own config.
    os.environ["CELERY_BROKER_URL"] = url
    celery_app.conf.broker_url = url
    celery_app.conf.broker_transport_options = transport_options(url, Path("/nonexistent"))


@contextlib.contextmanager
def broker(url: str) -> Iterator[None]:
    """Use `url` as the broker (with the options production would use for it)."""
    assert celery_app.connection_for_write().as_uri().startswith(settings.CELERY_BROKER_URL)
    _switch(url)
    assert celery_app.connection_for_write().as_uri(include_password=True) == url
    try:
        yield
    finally:
        _switch(settings.CELERY_BROKER_URL)


def require_redis() -> str:
    """The test Redis, flushed; a missing Redis fails the test (CI must not skip it)."""
    import redis

    client = redis.Redis.from_url(REDIS_URL, socket_connect_timeout=2)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.fail(f"Redis is required at {REDIS_URL} (PAM_TEST_REDIS_URL): {exc}")
    client.flushdb()
    return REDIS_URL


@contextlib.contextmanager
def published() -> Iterator[list[dict]]:
    """Every task message published meanwhile, round-tripped through JSON as a broker
    would carry it (so eager shortcuts cannot hide a serialization problem)."""
    messages: list[dict] = []

    def capture(body, headers, **kwargs) -> None:
        messages.append(json.loads(json.dumps({"body": body, "headers": headers})))

    before_task_publish.connect(capture, weak=False)
    try:
        yield messages
    finally:
        before_task_publish.disconnect(capture)


@contextlib.contextmanager
def silent_broker(*, accept: bool) -> Iterator[str]:
    """A TCP port that takes connections and never answers (accept=True), or whose
    listen backlog takes them without the server ever accepting (accept=False)."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(128)
    held: list[socket.socket] = []
    stop = threading.Event()

    def accept_forever() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            with contextlib.suppress(OSError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=accept_forever, daemon=True)
    if accept:
        thread.start()
    try:
        yield f"redis://127.0.0.1:{server.getsockname()[1]}/0"
    finally:
        stop.set()
        if accept:
            thread.join()
        for conn in held:
            conn.close()
        server.close()


def refused_broker() -> str:
    """A Redis URL on a loopback port nobody listens on."""
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"redis://127.0.0.1:{port}/0"
