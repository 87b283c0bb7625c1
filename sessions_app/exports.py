"""Console Session history as rows, streamed: for the admin's CSV export and the command line.

Rows come from a server-side cursor in chunks (QuerySet.iterator), joined in SQL, so an
export of millions of sessions holds one chunk in memory, never the result.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import datetime
from typing import Any

from django.db.models import QuerySet

from .models import ConsoleSession

CHUNK_SIZE = 2000

# (header, field path)
COLUMNS: list[tuple[str, str]] = [
    ("id", "id"),
    ("created_at", "created_at"),
    ("user_email", "user_email"),
    ("project", "account__resource__project__name"),
    ("resource", "account__resource__name"),
    ("account", "account__name"),
    ("account_id", "account_id"),
    ("status", "status"),
    ("failure_step", "failure_step"),
    ("error_code", "error_code"),
    ("activated_at", "activated_at"),
    ("expires_at", "expires_at"),
    ("ended_at", "ended_at"),
    ("role_session_name", "role_session_name"),
    ("target_role_arn", "target_role_arn"),
    ("resource_role_arn", "resource_role_arn"),
    ("assumed_role_arn", "assumed_role_arn"),
    ("access_key_id", "access_key_id"),
    ("client_ip", "client_ip"),
    ("user_agent", "user_agent"),
    ("error_message", "error_message"),
]
HEADERS = [header for header, _ in COLUMNS]
# Spreadsheets run a cell starting with these as a formula; user agents and AWS error
# messages are not ours to trust.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def rows(queryset: QuerySet[ConsoleSession]) -> Iterator[dict[str, Any]]:
    fields = [path for _, path in COLUMNS]
    for values in queryset.values_list(*fields).iterator(chunk_size=CHUNK_SIZE):
        yield dict(zip(HEADERS, values, strict=True))


def text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat()
    return str(value)


def spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    writer = csv.writer(_Echo())
    yield writer.writerow(HEADERS)
    for record in records:
        yield writer.writerow([spreadsheet_safe(text(record[h])) for h in HEADERS])
