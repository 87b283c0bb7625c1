"""What the benchmarks that build their own database share: where they create it, Django
configured against it (production settings, DEBUG off, quiet logs), and how fast the
machine is right now."""

from __future__ import annotations

import os
import re
import statistics
import time

# The server's maintenance database: CREATE/DROP DATABASE run there, never in a database
# another process (a test run) may be using.
ADMIN_URL = os.environ.get("PAM_BENCH_ADMIN_DB", "postgres://postgres@127.0.0.1:5432/postgres")


def configure(database: str, name: str) -> None:
    """Set up Django on `database` (on ADMIN_URL's server) for the bench `name`."""
    os.environ.update(
        {
            "DJANGO_SETTINGS_MODULE": "pam_project.settings",
            "DATABASE_URL": re.sub(r"/[^/]*$", f"/{database}", ADMIN_URL),
            "CELERY_BROKER_URL": "memory://",
            "DEBUG": "false",
            "SECRET_KEY": f"bench-{name}-not-a-secret-" + "x" * 32,
            "ALLOWED_HOSTS": "testserver",
            "LOG_LEVEL": "WARNING",
        }
    )
    import django

    django.setup()


def admin_sql(statement: str) -> None:
    import psycopg

    with psycopg.connect(ADMIN_URL.replace("postgres://", "postgresql://"), autocommit=True) as c:
        c.execute(statement)


def calibration_ms() -> float:
    """A fixed pure-Python loop: how fast this machine is right now, to read the other
    figures against (machines of the same kind have differed two-fold between days; see
    docs/benchmarks.md)."""
    samples = []
    for _ in range(5):
        started = time.perf_counter()
        total = 0
        for n in range(1_000_000):
            total += n * n
        samples.append((time.perf_counter() - started) * 1000)
    return statistics.median(samples)
