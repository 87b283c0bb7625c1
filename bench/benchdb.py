"""What the benchmarks that build their own database share: where they create it, and
Django configured against it (production settings, DEBUG off, quiet logs)."""

from __future__ import annotations

import os
import re

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
