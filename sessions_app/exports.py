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

from django.contrib.postgres.aggregates import StringAgg
from django.core.exceptions import EmptyResultSet
from django.db import connections, transaction
from django.db.models import (
    Aggregate,
    Case,
    OuterRef,
    Prefetch,
    QuerySet,
    Subquery,
    TextField,
    Value,
    When,
)

from access_requests.models import AccessRequest, Decision, Verdict

from .models import ConsoleSession

CHUNK_SIZE = 2000
BLOCK_BYTES = 64 * 1024
# The annotation holding a session's approvers, joined: "dana@example.com, erin@example.com".
APPROVERS = "request_approvers"
APPROVERS_SEPARATOR = ", "


# --- Just-in-time access: who approved the window a session ran under ----------------


class _JoinedNames(StringAgg):
    """STRING_AGG(name, ', ' ORDER BY ...) on PostgreSQL; GROUP_CONCAT elsewhere (SQLite
    before 3.44 has no ORDER BY inside an aggregate: names come in index order there)."""

    def as_sqlite(self, compiler: Any, connection: Any, **extra: Any) -> tuple[str, list]:
        # Aggregate's own SQL, past the mixin that writes the ORDER BY.
        return Aggregate.as_sql(
            self,
            compiler,
            connection,
            function="GROUP_CONCAT",
            template="%(function)s(%(distinct)s%(expressions)s)",
            **extra,
        )


def approvals() -> QuerySet[Decision]:
    """The yes decisions of requests, in the order they were given."""
    return Decision.objects.filter(verdict=Verdict.APPROVE).order_by("created_at", "id")


def approver_names(request_ref: str = "access_request_id") -> Subquery:
    """A correlated subquery: the approvers of the request `request_ref` names, joined
    with ", " (NULL when none: a standing grant, or a break-glass nobody approved). One
    index probe per row, inside the same query, so a streamed export stays one query."""
    joined = (
        approvals()
        .filter(request=OuterRef(request_ref))
        .order_by()
        .values("request")
        .annotate(
            names=_JoinedNames("approver_name", APPROVERS_SEPARATOR, order_by=("created_at", "id"))
        )
        .values("names")
    )
    return Subquery(joined)


def approvals_prefetch(lookup: str = "access_request__decisions") -> Prefetch:
    """Each request's approvals as `.approvals` (one query per page, not one a row)."""
    return Prefetch(
        lookup,
        queryset=approvals().only("request", "approver_name", "created_at"),
        to_attr="approvals",
    )


def approvers_of(request: AccessRequest | None) -> list[str]:
    """The names of the people who approved `request`, from the prefetch when there
    was one."""
    if request is None:
        return []
    decisions = getattr(request, "approvals", None)
    if decisions is None:
        decisions = approvals().filter(request=request)
    return [decision.approver_name for decision in decisions]


def with_request_columns(queryset: QuerySet[ConsoleSession]) -> QuerySet[ConsoleSession]:
    # The CASE spares the subquery for rows under a standing grant, most of a history.
    approvers = Case(
        When(access_request__isnull=True, then=Value(None)),
        default=approver_names(),
        output_field=TextField(),
    )
    return queryset.annotate(**{APPROVERS: approvers})


# --- The rows ------------------------------------------------------------------------

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
    # Just-in-time access: the request the session ran under (empty for a standing
    # grant), whether it was break-glass, and what its approvers saw and said yes to.
    ("access_request", "access_request_id", "number"),
    ("break_glass", "access_request__break_glass", "bool"),
    ("request_reason", "access_request__reason", "text"),
    ("request_ticket", "access_request__ticket", "text"),
    ("approvers", APPROVERS, "text"),
    # How many attempts the row records: 1, or on a rate-limited row every refused
    # attempt of its user in that minute (added last: the columns before keep their place).
    ("refused_count", "refused_count", "number"),
    # A console sign-in or CLI credentials (`pam credentials`), added last likewise.
    ("kind", "kind", "text"),
]
HEADERS = [header for header, _, _ in COLUMNS]
# Spreadsheets run a cell starting with these as a formula; user agents and AWS error
# messages are not ours to trust.
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def rows(queryset: QuerySet[ConsoleSession]) -> Iterator[dict[str, Any]]:
    fields = [path for _, path, _ in COLUMNS]
    exported = with_request_columns(queryset).values_list(*fields)
    for values in exported.iterator(chunk_size=CHUNK_SIZE):
        record = dict(zip(HEADERS, values, strict=True))
        # A standing-grant session (no request) was not break-glass either.
        record["break_glass"] = bool(record["break_glass"])
        yield record


def text(value: Any) -> str:
    """A value as the export writes it. Times in UTC as ISO 8601, with the fraction of a
    second only when there is one and without trailing zeros: as PostgreSQL writes them."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
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
    if kind == "bool":
        # NULL (no request: a standing grant) is "false" too, as rows() writes it.
        return f"CASE WHEN {column} THEN 'true' ELSE 'false' END"
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
    exported = with_request_columns(queryset).values_list(*[path for _, path, _ in COLUMNS])
    inner, params = exported.query.sql_with_params()
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
    try:
        statement = copy_statement(queryset)
    except EmptyResultSet:
        # A selection Django knows to be empty (`pk__in=[]`, a scope with no project)
        # compiles to no SQL at all: the export is its header.
        return
    block = bytearray()
    with (
        transaction.atomic(using=queryset.db),
        connections[queryset.db].cursor() as cursor,
    ):
        # The approvers' subquery multiplies the plan's estimated cost by the row count,
        # which turns on PostgreSQL's JIT with inlining and optimization: two seconds of
        # compiling for a full export, for no gain (measured). For this statement only.
        cursor.execute("SET LOCAL jit = off")
        with cursor.copy(statement) as copy:
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
