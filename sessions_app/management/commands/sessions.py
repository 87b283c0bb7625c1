"""`manage.py sessions`: query Console Session history from the command line, streamed.

./dev manage sessions --since 24h --status failed
./dev manage sessions --account readonly --active-at 2026-11-20T14:05:00Z --format json
./dev manage sessions --project payments --since 7d --format csv > week.csv
"""

from __future__ import annotations

import codecs
import json
from datetime import UTC, datetime, timedelta
from typing import Any

from django.core.exceptions import ValidationError
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import Model, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from accounts.models import PamAccount
from pam_project.durations import parse_seconds
from resources.models import AwsIamResource, Project

from ...exports import csv_stream, rows, text
from ...filters import SessionFilter
from ...models import ConsoleSession, Status

TABLE_COLUMNS = [
    ("id", 8),
    ("created_at", 25),
    ("user_email", 28),
    ("account", 18),
    ("status", 8),
    ("failure_step", 14),
    ("error_code", 16),
    ("expires_at", 25),
]


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
    help = "List Console Sessions (who accessed which role, when, from where, how it ended)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--user", help="user email (any case)")
        parser.add_argument("--account", help="PAM account id or name")
        parser.add_argument("--resource", help="AWS IAM resource id or name")
        parser.add_argument("--project", help="project id or name")
        parser.add_argument("--status", help="one of: " + ", ".join(Status.values))
        parser.add_argument("--since", help="created at or after: 24h, 7d, now, or ISO 8601")
        parser.add_argument("--until", help="created before: 24h, 7d, now, or ISO 8601")
        parser.add_argument("--active-at", help="sessions that gave access at that instant")
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

        sessions = SessionFilter(
            data=data, queryset=ConsoleSession.objects.order_by("-created_at", "-id")
        )
        if not sessions.is_valid():
            problems = "; ".join(
                f"--{field.replace('_', '-')}: {' '.join(messages)}"
                for field, messages in sessions.errors.items()
            )
            raise CommandError(problems)
        queryset = sessions.qs
        if options["limit"]:
            queryset = queryset[: options["limit"]]
        self.write(queryset, options["format"])

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
            out.write("  ".join(name.ljust(width) for name, width in TABLE_COLUMNS).rstrip())
            for record in records:
                out.write(
                    "  ".join(
                        text(record[name])[:width].ljust(width) for name, width in TABLE_COLUMNS
                    ).rstrip()
                )
