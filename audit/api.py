"""`GET /api/v1/audit/`: the audit log, read-only, as each caller may see it (restrict():
superusers and holders of `audit.view_auditevent` everything, a project's admins and
auditors its events, anyone else nothing), paged by cursor, or streamed whole for a SIEM
(`?format=jsonl`, `?format=csv`) with the same filters.

Nothing here loads a result into memory: the list reads one page, and the streams read
rows from a server-side cursor in chunks and write each as it comes.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, tzinfo
from typing import Any

import django_filters
from django import forms
from django.db.models import QuerySet
from django.http import StreamingHttpResponse
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import (
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    extend_schema_field,
)
from rest_framework import filters, pagination, renderers, serializers, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from pam_project.filters import UTCIsoDateTimeFilter

from .models import AuditEvent

CHUNK_SIZE = 2000
# In the order of the JSON objects and the CSV columns: (name, column).
COLUMNS: list[tuple[str, str]] = [
    ("id", "id"),
    ("created_at", "created_at"),
    ("actor", "actor_id"),
    ("actor_name", "actor_name"),
    ("action", "action"),
    ("object_type", "object_type"),
    ("object_id", "object_id"),
    ("object_repr", "object_repr"),
    ("changes", "changes"),
    ("via", "via"),
    ("project", "project_id"),
]
HEADERS = [name for name, _ in COLUMNS]
# Spreadsheets run a cell starting with these as a formula (as the sessions export).
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
# Ids are PostgreSQL integers: a larger one is a 400, not a database error.
_MAX_ID = 2**31 - 1


# --- One event, as every output writes it ---------------------------------------------


def _iso(value: datetime, zone: tzinfo) -> str:
    # DRF's DateTimeField output (ISO 8601 in the current zone, UTC as "Z").
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


def represent(values: Iterable[Any], zone: tzinfo) -> dict[str, Any]:
    """One event's JSON object, from its COLUMNS values."""
    record = dict(zip(HEADERS, values, strict=True))
    record["created_at"] = _iso(record["created_at"], zone)
    return record


def _rows(queryset: QuerySet[AuditEvent]) -> Iterator[tuple[Any, ...]]:
    exported = queryset.values_list(*[column for _, column in COLUMNS])
    return exported.iterator(chunk_size=CHUNK_SIZE)


def jsonl_lines(queryset: QuerySet[AuditEvent]) -> Iterator[str]:
    zone = timezone.get_current_timezone()
    for values in _rows(queryset):
        yield json.dumps(represent(values, zone), ensure_ascii=False, separators=(",", ":"))
        yield "\n"


def _csv_text(value: Any) -> str:
    """Times in UTC, ISO 8601 (the sessions export's form); `changes` as JSON."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        value = value.astimezone(UTC)
        fraction = f".{value.microsecond:06d}".rstrip("0") if value.microsecond else ""
        return value.strftime("%Y-%m-%dT%H:%M:%S") + fraction + "+00:00"
    if isinstance(value, dict | list):
        return json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    text = str(value)
    return "'" + text if text.startswith(_FORMULA_STARTS) else text


class _Echo:
    def write(self, value: str) -> str:
        return value


def csv_lines(queryset: QuerySet[AuditEvent]) -> Iterator[str]:
    writer = csv.writer(_Echo(), lineterminator="\n")
    yield writer.writerow(HEADERS)
    for values in _rows(queryset):
        yield writer.writerow([_csv_text(value) for value in values])


# --- The API -------------------------------------------------------------------------


class AuditEventSerializer(serializers.ModelSerializer):
    actor = serializers.IntegerField(
        source="actor_id",
        allow_null=True,
        read_only=True,
        help_text="The user who made the change; null for the system (a command, the IdP's "
        "sync, a task) or a user since deleted (actor_name still names them).",
    )
    project = serializers.IntegerField(
        source="project_id",
        allow_null=True,
        read_only=True,
        help_text="The project the changed object belongs to; null for users, groups, "
        "tokens and second factors.",
    )
    changes = serializers.JSONField(
        read_only=True,
        help_text='Updates: {"field": [before, after]} ({"password": "changed"} for a new '
        'password; memberships as {"groups": [[names before], [names after]]}). Create '
        "and delete: the object's fields. Never a secret.",
    )

    class Meta:
        model = AuditEvent
        fields = HEADERS
        read_only_fields = fields
        extra_kwargs = {
            "via": {
                "help_text": "The channel: admin, api, web, cli, idp (sso in older events); "
                "empty for a background task."
            }
        }

    def to_representation(self, instance: AuditEvent) -> dict[str, Any]:
        zone = timezone.get_current_timezone()
        return represent((getattr(instance, column) for _, column in COLUMNS), zone)


@extend_schema_field(OpenApiTypes.INT)
class IdFilter(django_filters.NumberFilter):
    field_class = forms.IntegerField

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("min_value", 1)
        kwargs.setdefault("max_value", _MAX_ID)
        super().__init__(*args, **kwargs)


class AuditEventFilter(django_filters.FilterSet):
    action = django_filters.ChoiceFilter(choices=AuditEvent.Action.choices)
    object_type = django_filters.CharFilter(
        help_text='The changed object\'s model, "app_label.model": "auth.user", '
        '"accounts.accountgrant", ...'
    )
    object_id = django_filters.CharFilter(help_text="The changed object's id.")
    actor = IdFilter(field_name="actor_id", help_text="The acting user's id.")
    project = IdFilter(field_name="project_id", help_text="Project id.")
    via = django_filters.CharFilter(help_text="The channel: admin, api, web, cli, idp.")
    since = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="At or after (ISO 8601)."
    )
    until = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Before (ISO 8601; exclusive)."
    )

    class Meta:
        model = AuditEvent
        fields: list[str] = []


class EventOrdering(filters.OrderingFilter):
    """`ordering=created_at` (oldest first) or `-created_at` (newest first, the default),
    ties broken by id, so pages and streams are in one fixed order."""

    def get_ordering(self, request: Request, queryset: QuerySet, view: Any) -> list[str]:
        ordering = super().get_ordering(request, queryset, view) or ["-created_at"]
        first = ordering[0]
        return [first, "-id" if first.startswith("-") else "id"]


class AuditCursorPagination(pagination.CursorPagination):
    # A cursor is a position in (created_at, id), not an offset: events written while a
    # client pages never shift a page.
    ordering = ("-created_at", "-id")
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


class JsonLinesRenderer(renderers.BaseRenderer):
    """Only names the format for content negotiation: the stream writes itself."""

    media_type = "application/x-ndjson"
    format = "jsonl"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):  # noqa: ANN201
        return json.dumps(data).encode()


class CsvRenderer(renderers.BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: Any = None, renderer_context: Any = None):  # noqa: ANN201
        return json.dumps(data).encode()


STREAMS = {
    JsonLinesRenderer.format: (jsonl_lines, "jsonl"),
    CsvRenderer.format: (csv_lines, "csv"),
}


@extend_schema(tags=["audit"])
class AuditEventViewSet(viewsets.ReadOnlyModelViewSet):
    """Who changed what, when, through which channel: every change to configuration and
    access (grants, approvers, project roles, group memberships, user flags, emails,
    permissions, tokens, decisions, revocations)."""

    serializer_class = AuditEventSerializer
    queryset = AuditEvent.objects.none()
    filter_backends = [DjangoFilterBackend, EventOrdering]
    filterset_class = AuditEventFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]
    pagination_class = AuditCursorPagination

    def get_queryset(self) -> QuerySet[AuditEvent]:
        return AuditEvent.objects.restrict(self.request.user)

    def get_renderers(self) -> list[renderers.BaseRenderer]:
        found = super().get_renderers()
        if getattr(self, "action", None) == "list":
            found += [JsonLinesRenderer(), CsvRenderer()]
        return found

    def finalize_response(self, request: Request, response: Any, *args: Any, **kwargs: Any) -> Any:
        # An error (a bad filter, 401, 403) answers JSON whichever stream was asked for.
        accepted = getattr(request, "accepted_renderer", None)
        if isinstance(response, Response) and accepted and accepted.format in STREAMS:
            request.accepted_renderer = renderers.JSONRenderer()
            request.accepted_media_type = renderers.JSONRenderer.media_type
        return super().finalize_response(request, response, *args, **kwargs)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "format",
                OpenApiTypes.STR,
                enum=["json", "jsonl", "csv"],
                description="`jsonl` (one JSON object per line, application/x-ndjson) or "
                "`csv` stream every event the filters select, unpaged; the default is a "
                "page of JSON. `Accept: application/x-ndjson` or `text/csv` does the same.",
            )
        ],
        responses={
            (200, "application/json"): AuditEventSerializer(many=True),
            (200, "application/x-ndjson"): OpenApiResponse(
                OpenApiTypes.STR, description="One event per line, as in the JSON list."
            ),
            (200, "text/csv"): OpenApiResponse(
                OpenApiTypes.STR,
                description=f"Columns {', '.join(HEADERS)}; changes as JSON, times in UTC.",
            ),
            400: OpenApiResponse(description="A filter's value is invalid (names it)."),
        },
        summary="Audit events: a page, or the whole selection streamed",
    )
    def list(self, request: Request, *args: Any, **kwargs: Any) -> Any:
        stream = STREAMS.get(request.accepted_renderer.format)
        if stream is None:
            return super().list(request, *args, **kwargs)
        write, extension = stream
        events = self.filter_queryset(self.get_queryset())
        response = StreamingHttpResponse(
            write(events), content_type=f"{request.accepted_renderer.media_type}; charset=utf-8"
        )
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="audit-{stamp}.{extension}"'
        return response
