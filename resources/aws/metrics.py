"""Latency of each AWS step of the Access chain, as a Prometheus histogram.

Counted in the process (operations/metrics.py exposes it at /metrics). Labels: the step
(`resource_role`: hop 1, `target_role`: hop 2, `federation`) and the outcome (`ok` or
`error`), so a slow AWS shows apart from a failing one. Hop 1 is also timed when
revocation and the account check run it.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from contextlib import contextmanager

from prometheus_client import Histogram

from .errors import Step

STEP_SECONDS = Histogram(
    "pam_aws_step_duration_seconds",
    "Duration of each AWS call of the Access chain, by step and outcome.",
    labelnames=["step", "outcome"],
    # STS answers in tens of milliseconds; its timeouts and retries take seconds.
    buckets=(0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)


@contextmanager
def timed(step: Step) -> Iterator[None]:
    started = time.perf_counter()
    outcome = "error"
    try:
        yield
        outcome = "ok"
    finally:
        STEP_SECONDS.labels(step=str(step), outcome=outcome).observe(time.perf_counter() - started)
