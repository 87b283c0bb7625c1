"""Console Session history as rows, streamed: for the admin's CSV export and the command line.

Nothing here loads a result into memory. On PostgreSQL the CSV is written by the
database itself (COPY ... TO STDOUT over the same filtered query) and passed on in 64 KB
blocks: a million sessions leave in seconds, where building each row in Python takes
minutes. Elsewhere (SQLite) rows come from a server-side cursor in chunks and the csv
module writes them. Both write the same bytes for the same rows.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

from django.db import connections
from django.db.models import QuerySet

from .models import ConsoleSession

CHUNK_SIZE = 2000
BLOCK_BYTES = 64 * 1024

# (header, field path, kind): the kind decides how a value is written.
COLUMNS: list[tuple[str, str, str]] = [
    ("id", "id", "number"),
    ("created_at", "created_at", "time"),
    ("user_email", "user_email", "text"),
    ("project", "account__resource__project__name", "text"),
    ("resource", "account__resource__name", "text"),
    ("account", "account__name", "text"),
    ("account_id", "account_id", "number"),
    ("status", "status", "text"),
    ("failure_step", "failure_step", "text"),
    ("error_code", "error_code", "text"),
    ("activated_at", "activated_at", "time"),
    ("expires_at", "expires_at", "time"),
    ("ended_at", "ended_at", "time"),
    ("role_session_name", "role_session_name", "text"),
    ("target_role_arn", "target_role_arn", "text"),
    ("resource_role_arn", "resource_role_arn", "text"),
    ("assumed_role_arn", "assumed_role_arn", "text"),
    ("access_key_id", "access_key_id", "text"),
    ("client_ip", "client_ip", "ip"),
    ("user_agent", "user_agent", "text"),
    ("error_message", "error_message", "text"),
]
HEADERS = [header for header, _, _ in COLUMNS]
# Spreadsheets run a cell starting with these as a formula; user agents and AWS error
# messages are not ours to trust.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def rows(queryset: QuerySet[ConsoleSession]) -> Iterator[dict[str, Any]]:
    fields = [path for _, path, _ in COLUMNS]
    for values in queryset.values_list(*fields).iterator(chunk_size=CHUNK_SIZE):
        yield dict(zip(HEADERS, values, strict=True))


def text(value: Any) -> str:
    """A value as the export writes it. Times in UTC as ISO 8601, with the fraction of a
    second only when there is one and without trailing zeros: as PostgreSQL writes them."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        fraction = f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""
        return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "+00:00"
    return str(value)


def spreadsheet_safe(value: str) -> str:
    return "'" + value if value.startswith(_FORMULA_STARTS) else value


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(records: Iterable[dict[str, Any]]) -> Iterator[str]:
    # "\n" ends a record, as PostgreSQL's COPY writes it.
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(HEADERS)
    for record in records:
        yield writer.writerow([spreadsheet_safe(text(record[h])) for h in HEADERS])


# --- PostgreSQL: the database writes the CSV -----------------------------------------

_FORMULA_CODES = ", ".join(str(ord(c)) for c in _FORMULA_STARTS)


def _sql_column(kind: str, column: str) -> str:
    # Each expression runs a million times in a full export: these are the cheapest
    # measured (bench/history.py). to_char() took twice as long as the text cast, which
    # is ISO 8601 with a space, since psycopg 3 (and so Django) needs DateStyle ISO.
    if kind == "time":
        return f"replace(({column} AT TIME ZONE 'UTC')::text, ' ', 'T') || '+00:00'"
    if kind == "ip":
        return f"host({column})"
    if kind == "text":
        # ascii() reads the first character without copying it (left() copies: twice
        # the cost). NULLIF: COPY quotes an empty string ("") to tell it from NULL,
        # where the csv module leaves both bare.
        return (
            f"CASE WHEN ascii({column}) IN ({_FORMULA_CODES}) "
            f"THEN '''' || {column} ELSE NULLIF({column}, '') END"
        )
    return column


def copy_statement(queryset: QuerySet[ConsoleSession]) -> str:
    """COPY of the queryset's rows (its filters and order) as CSV, parameters inlined
    by the driver's own quoting (COPY takes no bound parameters)."""
    connection = connections[queryset.db]
    inner, params = queryset.values_list(*[path for _, path, _ in COLUMNS]).query.sql_with_params()
    names = [f"c{n}" for n in range(len(COLUMNS))]
    outer = ", ".join(
        _sql_column(kind, name) for (_, _, kind), name in zip(COLUMNS, names, strict=True)
    )
    # Built from the fixed column list and Django's compiled query; every value from
    # the request is in `params`, quoted by the driver. The inner query's ORDER BY (the
    # changelist's order) carries through a plain projection like this one.
    select = f"SELECT {outer} FROM ({inner}) AS export({', '.join(names)})"  # noqa: S608
    return connection.ops.compose_sql(f"COPY ({select}) TO STDOUT WITH (FORMAT csv)", params)


def _copy_blocks(queryset: QuerySet[ConsoleSession]) -> Iterator[bytes]:
    yield ",".join(HEADERS).encode() + b"\n"
    statement = copy_statement(queryset)
    block = bytearray()
    with connections[queryset.db].cursor() as cursor, cursor.copy(statement) as copy:
        for data in copy:
            block += data
            if len(block) >= BLOCK_BYTES:
                yield bytes(block)
                block.clear()
    if block:
        yield bytes(block)


def csv_stream(queryset: QuerySet[ConsoleSession]) -> Iterator[bytes] | Iterator[str]:
    """The queryset as CSV text, in pieces, for a StreamingHttpResponse."""
    if connections[queryset.db].vendor == "postgresql":
        return _copy_blocks(queryset)
    return csv_lines(rows(queryset))
