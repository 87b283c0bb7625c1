"""The signed-in session store: Django's database store, its one read as a plain
statement.

Every request of a signed-in person loads their session first, Access included, and the
ORM's building of that `SELECT` (0.48 ms in process on PostgreSQL) cost more than the
query (0.19 ms written out: pam_project/db.py says why the Access path counts such
costs, docs/benchmarks.md the figures). Same table, same rule (the key, not expired),
same answer: tests/test_hot_path_sql.py holds it to Django's own store.
"""

from __future__ import annotations

import logging

from django.contrib.sessions.backends import db as django_db
from django.contrib.sessions.models import Session
from django.core.exceptions import SuspiciousOperation
from django.db import connections, router
from django.utils import timezone

from . import db


class SessionStore(django_db.SessionStore):
    def _get_session_from_db(self) -> Session | None:
        model = self.model
        try:
            key = self.session_key
            if key is None:
                raise model.DoesNotExist
            connection = connections[router.db_for_read(model)]
            with connection.cursor() as cursor:
                cursor.execute(
                    f"SELECT session_data FROM {model._meta.db_table} "  # noqa: S608 (Django's own table)
                    "WHERE session_key = %s AND expire_date > %s",
                    [key, db.prep(model, "expire_date", timezone.now())],
                )
                row = cursor.fetchone()
            if row is None:
                raise model.DoesNotExist
        except (model.DoesNotExist, SuspiciousOperation) as exc:
            # As Django's store: log a suspicious key, forget it, load nothing.
            if isinstance(exc, SuspiciousOperation):
                logging.getLogger(f"django.security.{type(exc).__name__}").warning(str(exc))
            self._session_key = None
            return None
        return model(session_key=key, session_data=row[0])
