"""What /metrics reports, in Prometheus' text format.

Two kinds of metric:

- **Read from the database at each scrape** (`DatabaseCollector`): Access attempts by
  outcome and failing step, console sessions active now, the sweep's lag, revocations
  by state, access requests by state. The rows are the truth every process shares, so
  these are right whichever web node Prometheus scrapes, and survive restarts. One
  grouped query each (four in all), on indexed columns.
- **Counted in the process** (prometheus_client's default registry): the latency of
  each AWS step of the chain (resources/aws/metrics.py) and the broker publish
  failures (pam_project/publishing.py). Under gunicorn each worker process counts its
  own; set PROMETHEUS_MULTIPROC_DIR (prometheus_client's multiprocess mode) to add them
  up across the processes of a node.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator

from django.db import DatabaseError
from django.db.models import Count, Min, Q
from django.utils import timezone
from prometheus_client import REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector

from access_requests.models import AccessRequest, RequestStatus
from sessions_app.models import ConsoleSession, Revocation, RevocationState, Status

log = logging.getLogger(__name__)

# A Console Session's status, as the outcome of its Access attempt.
_OUTCOMES = {
    Status.PENDING: "pending",
    Status.ACTIVE: "granted",
    Status.EXPIRED: "granted",
    Status.REVOKED: "granted",
    Status.FAILED: "failed",
}


def _access_attempts() -> Iterator[Metric]:
    rows = ConsoleSession.objects.order_by().values("status", "failure_step")
    counts = rows.annotate(n=Count("id"))
    attempts = CounterMetricFamily(
        "pam_access_attempts",
        "Access attempts (Console Session rows) by outcome (granted, failed, pending) and "
        "failing step; rate-limit refusals count one row per user and minute.",
        labels=["outcome", "failure_step"],
    )
    by_status = GaugeMetricFamily(
        "pam_console_sessions", "Console Sessions by status.", labels=["status"]
    )
    totals: dict[str, int] = dict.fromkeys(Status.values, 0)
    merged: dict[tuple[str, str], int] = {}
    for row in counts:
        key = (_OUTCOMES.get(row["status"], row["status"]), row["failure_step"] or "")
        merged[key] = merged.get(key, 0) + row["n"]
        totals[row["status"]] = totals.get(row["status"], 0) + row["n"]
    for (outcome, step), n in sorted(merged.items()):
        attempts.add_metric([outcome, step], n)
    for status, n in sorted(totals.items()):
        by_status.add_metric([status], n)
    yield attempts
    yield by_status


def _live_sessions() -> Iterator[Metric]:
    now = timezone.now()
    live = ConsoleSession.objects.active().aggregate(
        active=Count("id", filter=Q(expires_at__gt=now)),
        oldest_overdue=Min("expires_at", filter=Q(expires_at__lte=now)),
    )
    yield GaugeMetricFamily(
        "pam_console_sessions_active",
        "Console sessions active now (status active, expiry still ahead).",
        value=live["active"],
    )
    overdue = live["oldest_overdue"]
    yield GaugeMetricFamily(
        "pam_sweep_lag_seconds",
        "Age of the oldest active session whose expiry has passed but is not yet recorded "
        "(0 when none): the expiry tasks and the sweep are behind by this much.",
        value=(now - overdue).total_seconds() if overdue else 0.0,
    )


def _revocations() -> Iterator[Metric]:
    counts = dict.fromkeys(RevocationState.values, 0)
    for row in Revocation.objects.order_by().values("state").annotate(n=Count("id")):
        counts[row["state"]] = row["n"]
    family = GaugeMetricFamily(
        "pam_revocations",
        "Revocation statements by state (failed: the IAM write failed and is retried).",
        labels=["state"],
    )
    for state, n in sorted(counts.items()):
        family.add_metric([state], n)
    yield family


def _requests() -> Iterator[Metric]:
    counts = dict.fromkeys(RequestStatus.values, 0)
    for row in AccessRequest.objects.order_by().values("status").annotate(n=Count("id")):
        counts[row["status"]] = row["n"]
    family = GaugeMetricFamily("pam_access_requests", "Access requests by state.", labels=["state"])
    for state, n in sorted(counts.items()):
        family.add_metric([state], n)
    yield family


class DatabaseCollector:
    """The row-backed metrics. A part whose query fails is left out of the scrape (and
    pam_metrics_collector_up says which), rather than failing the whole scrape."""

    parts = {
        "access_attempts": _access_attempts,
        "live_sessions": _live_sessions,
        "revocations": _revocations,
        "requests": _requests,
    }

    def collect(self) -> Iterable[Metric]:
        up = GaugeMetricFamily(
            "pam_metrics_collector_up",
            "1 when the collector's database query succeeded in this scrape.",
            labels=["collector"],
        )
        for name, part in self.parts.items():
            try:
                metrics = list(part())
            except DatabaseError as exc:
                log.error("Metrics: %s query failed (%s)", name, type(exc).__name__)
                up.add_metric([name], 0)
                continue
            up.add_metric([name], 1)
            yield from metrics
        yield up


DATABASE_REGISTRY = CollectorRegistry()
DATABASE_REGISTRY.register(DatabaseCollector())


def process_registry() -> CollectorRegistry:
    """The in-process counters and histograms: this process's, or every process's of the
    node in prometheus_client's multiprocess mode."""
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        registry = CollectorRegistry()
        MultiProcessCollector(registry)
        return registry
    return REGISTRY


def exposition() -> bytes:
    """The whole scrape: both registries (their metric names are disjoint)."""
    return generate_latest(process_registry()) + generate_latest(DATABASE_REGISTRY)
