"""Celery broker transport options, by kind of broker URL."""

from __future__ import annotations

from pathlib import Path
from typing import Any

# Redis redelivers an unacked message after visibility_timeout. An expiry task waits up
# to 1 hour (the role-chaining cap) for its ETA before it is acked, so anything shorter
# would deliver it twice; 2 hours leaves room for a slow worker.
REDIS_VISIBILITY_TIMEOUT = 2 * 60 * 60

REDIS_TRANSPORT_OPTIONS: dict[str, Any] = {
    "visibility_timeout": REDIS_VISIBILITY_TIMEOUT,
    # Access publishes while the user waits: a broker that refuses connections, or
    # accepts them and never answers, must cost well under a second (measured: ~0.1 s
    # refused, ~0.6 s silent; Celery's defaults block for over 90 s). The periodic
    # sweep records the expiry of whatever could not be scheduled.
    "socket_connect_timeout": 0.5,
    "socket_timeout": 0.5,
    "max_retries": 1,
    "interval_start": 0,
    "interval_step": 0.1,
    "interval_max": 0.1,
}


def transport_options(broker_url: str, var_dir: Path) -> dict[str, Any]:
    if broker_url.startswith(("redis://", "rediss://", "sentinel://")):
        return dict(REDIS_TRANSPORT_OPTIONS)
    if broker_url.startswith("filesystem://"):
        # The embedded default: web and worker share a directory, no server needed.
        # kombu keeps its exchange table in `control_folder`, by default ./control of
        # whatever directory the process runs in: keep it under var/ too.
        queue = var_dir / "celery-queue"
        control = var_dir / "celery-control"
        for folder in (queue, control):
            folder.mkdir(parents=True, exist_ok=True)
        return {
            "data_folder_in": str(queue),
            "data_folder_out": str(queue),
            "control_folder": str(control),
            "store_processed": False,
        }
    return {}
