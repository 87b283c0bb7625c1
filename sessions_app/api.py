"""REST API for Console Session history."""

from __future__ import annotations

from datetime import datetime, tzinfo
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import filters, pagination, serializers, viewsets

from .filters import SessionFilter
from .models import ConsoleSession
from .selectors import sessions_visible_to


def _iso(value: datetime | None, zone: tzinfo) -> str | None:
    # DRF's DateTimeField output (ISO 8601 in the current zone, UTC as "Z") without its
    # per-value settings lookups; tests/test_api.py holds the two equal.
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class SessionSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)
    resource = serializers.IntegerField(source="account.resource_id", read_only=True)
    resource_name = serializers.CharField(source="account.resource.name", read_only=True)
    project = serializers.IntegerField(source="account.resource.project_id", read_only=True)
    project_name = serializers.CharField(source="account.resource.project.name", read_only=True)

    class Meta:
        model = ConsoleSession
        fields = [
            "id",
            "user",
            "user_email",
            "account",
            "account_name",
            "resource",
            "resource_name",
            "project",
            "project_name",
            "target_role_arn",
            "resource_role_arn",
            "role_session_name",
            "duration_seconds",
            "status",
            "failure_step",
            "error_code",
            "error_message",
            "client_ip",
            "user_agent",
            "assumed_role_arn",
            "access_key_id",
            "created_at",
            "activated_at",
            "expires_at",
            "ended_at",
        ]
        read_only_fields = fields

    def to_representation(self, instance: ConsoleSession) -> dict[str, Any]:
        # A list page is 100 rows of 25 fields; going through DRF's per-field machinery
        # was most of its server time. Same output: tests/test_api.py holds this to
        # ModelSerializer's own representation.
        account = instance.account
        resource = account.resource
        zone = timezone.get_current_timezone()
        return {
            "id": instance.pk,
            "user": instance.user_id,
            "user_email": instance.user_email,
            "account": instance.account_id,
            "account_name": account.name,
            "resource": account.resource_id,
            "resource_name": resource.name,
            "project": resource.project_id,
            "project_name": resource.project.name,
            "target_role_arn": instance.target_role_arn,
            "resource_role_arn": instance.resource_role_arn,
            "role_session_name": instance.role_session_name,
            "duration_seconds": instance.duration_seconds,
            "status": instance.status,
            "failure_step": instance.failure_step,
            "error_code": instance.error_code,
            "error_message": instance.error_message,
            "client_ip": None if instance.client_ip is None else str(instance.client_ip),
            "user_agent": instance.user_agent,
            "assumed_role_arn": instance.assumed_role_arn,
            "access_key_id": instance.access_key_id,
            "created_at": _iso(instance.created_at, zone),
            "activated_at": _iso(instance.activated_at, zone),
            "expires_at": _iso(instance.expires_at, zone),
            "ended_at": _iso(instance.ended_at, zone),
        }


class SessionCursorPagination(pagination.CursorPagination):
    # A cursor keeps each page a short index range scan however deep one pages into
    # millions of rows, and rows arriving meanwhile never shift a page.
    ordering = "-created_at"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


class SessionViewSet(viewsets.ReadOnlyModelViewSet):
    """Console Sessions: one per Access attempt. Ops (the `sessions_app.view_consolesession`
    permission) see all of them; everyone else sees their own."""

    serializer_class = SessionSerializer
    queryset = ConsoleSession.objects.none()
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = SessionFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]
    pagination_class = SessionCursorPagination

    def get_queryset(self) -> QuerySet[ConsoleSession]:
        # Of the joined account, resource and project the rows show only names and ids;
        # loading their other columns (timestamps, descriptions) cost a tenth of a page.
        return sessions_visible_to(self.request.user).only(
            *(field.name for field in ConsoleSession._meta.concrete_fields),
            "account__name",
            "account__resource",
            "account__resource__name",
            "account__resource__project",
            "account__resource__project__name",
        )
