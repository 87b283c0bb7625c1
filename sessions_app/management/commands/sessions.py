"""`manage.py sessions`: query Console Session history from the command line, streamed.

./dev manage sessions --since 24h --status failed
./dev manage sessions --account readonly --active-at 2026-11-20T14:05:00Z --format json
./dev manage sessions --project payments --since 7d --format csv > week.csv
./dev manage sessions --account admin --active-at 2026-11-20T14:05:00Z
./dev manage sessions --account admin --active-at 2026-11-20T14:05:00Z --windows --format json

Each row says what the session ran under: `request` is the access request's id (empty
for a standing grant), flagged BREAK-GLASS for a break-glass window, with the request's
ticket, approvers and reason.

"Who had access to account X at T" has two halves. `--active-at T` lists the console
sessions that gave access at T. With `--account` and the table format, a second table
follows: the approved windows (just-in-time requests, break-glass included) that covered
T: the people who could have opened a session then, whether or not they did. `--windows`
prints only that second list, in any format (csv, json) for scripts.
"""

from __future__ import annotations

import codecs
import csv
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import connection
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from access_requests.models import AccessRequest
from access_requests.selectors import windows_at
from accounts.models import PamAccount
from pam_project.durations import parse_seconds
from resources.models import AwsIamResource, Project

from ...exports import approver_names, csv_stream, rows, spreadsheet_safe, text
from ...filters import SessionFilter
from ...models import ConsoleSession, Status

BREAK_GLASS_FLAG = "BREAK-GLASS"

# (header, record key, width); the last column is written whole.
TABLE_COLUMNS = [
    ("id", "id", 8),
    ("created_at", "created_at", 20),
    ("user_email", "user_email", 28),
    ("account", "where", 30),
    ("status", "status", 8),
    ("failure_step", "failure_step", 14),
    ("error_code", "error_code", 16),
    ("expires_at", "expires_at", 20),
    ("request", "request", 17),
    ("ticket", "request_ticket", 16),
    ("reason", "request_reason", 40),
    ("approvers", "approvers", 0),
]

# The approved windows covering an instant: (header, field path, width).
WINDOW_COLUMNS = [
    ("request", "id", 8),
    ("requester", "requester_name", 28),
    ("status", "status", 9),
    ("break_glass", "break_glass", 11),
    ("starts_at", "starts_at", 20),
    ("ends_at", "ends_at", 20),
    ("ended_at", "ended_at", 20),
    ("ticket", "ticket", 16),
    ("reason", "reason", 40),
    ("approvers", "approvers", 0),
]


def request_cell(record: dict[str, Any]) -> str:
    """The request id (#12), flagged "#12 BREAK-GLASS"; empty for a standing grant."""
    if record["access_request"] is None:
        return ""
    flag = f" {BREAK_GLASS_FLAG}" if record["break_glass"] else ""
    return f"#{record['access_request']}{flag}"


def cell(value: str, width: int) -> str:
    """One line whatever the value holds (newlines, tabs); cut to `width` with "…" (the
    whole value is in --format csv/json); width 0: the whole value (the last column)."""
    value = " ".join(value.split())
    if not width:
        return value
    if len(value) > width:
        value = value[: width - 1] + "…"
    return value.ljust(width)


def table_text(value: Any) -> str:
    """A table cell: times to the second in UTC, marked Z (the full ISO 8601 value, with
    its fraction, is in --format csv/json); the rest as the export writes it."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    return text(value)


def database_label() -> str:
    """Which database the command reads: `./dev manage` reads var/db.sqlite3 while the
    demo runs on var/demo.sqlite3, and an empty answer from the wrong one looks like
    "nobody had access"."""
    settings = connection.settings_dict
    if connection.vendor == "sqlite":
        return f"SQLite {settings['NAME']}"
    where = settings.get("HOST") or "local socket"
    port = f":{settings['PORT']}" if settings.get("PORT") else ""
    return f"{connection.vendor} database {settings['NAME']} on {where}{port}"


def table_line(cells: list[tuple[str, int]]) -> str:
    return "  ".join(cell(value, width) for value, width in cells).rstrip()


def parse_instant(value: str, option: str) -> datetime:
    """`now`, an age in the durations grammar (`24h`, `7d`, `1h30m`: that long ago), or
    ISO 8601."""
    value = value.strip()
    if value == "now":
        return timezone.now()
    try:
        return timezone.now() - timedelta(seconds=parse_seconds(value))
    except ValidationError:
        pass
    try:
        parsed = parse_datetime(value)
    except ValueError:
        parsed = None
    if parsed is None:
        raise CommandError(
            f'{option}: "{value}" is not a time. Use an age like 24h, 7d, 30m, the word now, '
            "or ISO 8601 like 2026-11-20T14:05:00Z."
        )
    return parsed if timezone.is_aware(parsed) else timezone.make_aware(parsed, UTC)


def resolve(model: type[Model], value: str, option: str, queryset: QuerySet | None = None) -> int:
    """An id, or a unique name."""
    if value.isdigit():
        return int(value)
    matches = list(
        (queryset if queryset is not None else model.objects)
        .filter(name=value)
        .values_list("pk", flat=True)[:2]
    )
    if not matches:
        raise CommandError(f'{option}: no {model._meta.verbose_name} named "{value}".')
    if len(matches) > 1:
        raise CommandError(
            f'{option}: several {model._meta.verbose_name_plural} are named "{value}"; '
            "give the id instead."
        )
    return matches[0]


class Command(BaseCommand):
    help = (
        "List Console Sessions (who accessed which role, when, from where, how it ended, "
        "under which access request: reason, ticket, approvers, BREAK-GLASS). "
        "--active-at T --account X answers who had access to X at T: the sessions live at "
        "T, then the approved windows covering T (--windows: those alone)."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="user email (any case)")
        parser.add_argument("--account", help="PAM account id or name")
        parser.add_argument("--resource", help="AWS IAM resource id or name")
        parser.add_argument("--project", help="project id or name")
        parser.add_argument("--status", help="one of: " + ", ".join(Status.values))
        parser.add_argument("--since", help="created at or after: 24h, 7d, now, or ISO 8601")
        parser.add_argument("--until", help="created before: 24h, 7d, now, or ISO 8601")
        parser.add_argument(
            "--active-at",
            help="sessions that gave access at that instant; with --account (table format) "
            "then the approved windows covering it (who may have Accessed)",
        )
        parser.add_argument(
            "--windows",
            action="store_true",
            help="with --active-at and --account: list only the approved windows covering "
            "that instant (any --format), not the sessions",
        )
        parser.add_argument("--access-key-id", help="temporary access key id (CloudTrail)")
        parser.add_argument("--format", choices=["table", "csv", "json"], default="table")
        parser.add_argument("--limit", type=int, help="at most this many rows")

    def handle(self, *args: Any, **options: Any) -> None:
        data: dict[str, Any] = {}
        if options["user"]:
            data["user_email"] = options["user"]
        if options["project"]:
            data["project"] = resolve(Project, options["project"], "--project")
        if options["resource"]:
            data["resource"] = resolve(AwsIamResource, options["resource"], "--resource")
        if options["account"]:
            data["account"] = resolve(PamAccount, options["account"], "--account")
        if options["status"]:
            data["status"] = options["status"]
        for option, key in (
            ("since", "created_after"),
            ("until", "created_before"),
            ("active_at", "active_at"),
        ):
            if options[option]:
                flag = "--" + option.replace("_", "-")
                data[key] = parse_instant(options[option], flag).isoformat()
        if options["access_key_id"]:
            data["access_key_id"] = options["access_key_id"]
        if options["limit"] is not None and options["limit"] < 1:
            raise CommandError("--limit: give a positive number of rows.")
        if options["windows"] and not (options["active_at"] and options["account"]):
            raise CommandError(
                "--windows: give --active-at and --account (windows are per account)."
            )

        sessions = SessionFilter(
            data=data, queryset=ConsoleSession.objects.order_by("-created_at", "-id")
        )
        if not sessions.is_valid():
            problems = "; ".join(
                f"--{field.replace('_', '-')}: {' '.join(messages)}"
                for field, messages in sessions.errors.items()
            )
            raise CommandError(problems)
        instant = sessions.form.cleaned_data.get("active_at")
        windows = (
            self.windows_at(data.get("account"), instant, options["user"]) if instant else None
        )
        if options["windows"]:
            self.write_windows(windows, options["format"], options["limit"])
            return
        queryset = sessions.qs
        if options["limit"]:
            queryset = queryset[: options["limit"]]
        self.write(queryset, options["format"])
        if instant and options["format"] == "table":
            self.stdout.write("")
            if data.get("account") is None:
                self.stdout.write(
                    "Approved windows covering that instant: give --account to list them "
                    "(a window is on one account)."
                )
                return
            self.stdout.write(
                f"Approved windows covering {text(instant)} (may Access then, whether or "
                "not they did):"
            )
            self.write_windows(windows, "table", options["limit"])

    def windows_at(
        self, account_id: int | None, instant: datetime, user: str | None
    ) -> QuerySet[AccessRequest] | None:
        """The approved windows on the account that covered `instant` (requested by
        `user`, if given); None without an account."""
        if account_id is None:
            return None
        account = PamAccount.objects.filter(pk=account_id).first()
        if account is None:
            return AccessRequest.objects.none()
        found = windows_at(account, instant).annotate(approvers=approver_names("pk"))
        if user:
            found = found.filter(requester_name__iexact=user)
        return found.order_by("starts_at", "id")

    def write_windows(
        self, windows: QuerySet[AccessRequest] | None, fmt: str, limit: int | None
    ) -> None:
        out = self.stdout
        windows = windows if windows is not None else AccessRequest.objects.none()
        if limit:
            windows = windows[:limit]
        headers = [header for header, _, _ in WINDOW_COLUMNS]
        records = [
            dict(zip(headers, values, strict=True))
            for values in windows.values_list(*[path for _, path, _ in WINDOW_COLUMNS])
        ]
        if fmt == "json":
            out.write(
                json.dumps(
                    [
                        {k: (text(v) if isinstance(v, datetime) else v) for k, v in r.items()}
                        for r in records
                    ],
                    indent=1,
                )
            )
        elif fmt == "csv":
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(headers)
            for record in records:
                writer.writerow([spreadsheet_safe(text(record[h])) for h in headers])
        else:
            out.write(table_line([(header, width) for header, _, width in WINDOW_COLUMNS]))
            for record in records:
                record["break_glass"] = BREAK_GLASS_FLAG if record["break_glass"] else ""
                out.write(
                    table_line(
                        [(table_text(record[header]), width) for header, _, width in WINDOW_COLUMNS]
                    )
                )
            if not records:
                out.write("(none)")

    def write(self, queryset: QuerySet[ConsoleSession], fmt: str) -> None:
        out = self.stdout
        if fmt == "csv":
            # Blocks of bytes may end inside a multi-byte character.
            decode = codecs.getincrementaldecoder("utf-8")().decode
            for piece in csv_stream(queryset):
                out.write(decode(piece) if isinstance(piece, bytes) else piece, ending="")
            return
        records = rows(queryset)
        if fmt == "json":
            # One JSON array, written as rows arrive.
            out.write("[", ending="")
            for n, record in enumerate(records):
                out.write(
                    ("," if n else "")
                    + "\n"
                    + json.dumps(
                        {k: (text(v) if isinstance(v, datetime) else v) for k, v in record.items()}
                    ),
                    ending="",
                )
            out.write("\n]")
        else:
            # On stderr, so the table itself stays what scripts read.
            self.stderr.write(f"Reading {database_label()}.")
            out.write(table_line([(header, width) for header, _, width in TABLE_COLUMNS]))
            for record in records:
                record["request"] = request_cell(record)
                # The account with the project it is in: names repeat across projects.
                record["where"] = f"{record['project']} / {record['account']}"
                out.write(
                    table_line(
                        [(table_text(record[key]), width) for _, key, width in TABLE_COLUMNS]
                    )
                )
