"""Access request filters for the REST API (`GET /api/v1/requests/`)."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField

from .models import AccessRequest, RequestStatus


class UTCIsoDateTimeField(IsoDateTimeField):
    """ISO 8601, sent to the database as UTC: PostgreSQL refuses offsets over 15:59 that
    Python accepts. (sessions_app.filters has the same; this app sits below it.)"""

    def to_python(self, value: object) -> datetime | None:
        parsed = super().to_python(value)
        if parsed is None:
            return None
        try:
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError):
            raise ValidationError("Enter a time between years 1 and 9999.") from None


class UTCIsoDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UTCIsoDateTimeField


class RequestFilter(django_filters.FilterSet):
    status = django_filters.ChoiceFilter(choices=RequestStatus.choices)
    account = django_filters.NumberFilter(field_name="account_id", help_text="PAM account id.")
    requester = django_filters.NumberFilter(
        field_name="requester_id", help_text="The requester's user id."
    )
    break_glass = django_filters.BooleanFilter(help_text="Break-glass windows only (or none).")
    created_after = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Asked at or after (ISO 8601)."
    )
    created_before = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Asked before (ISO 8601)."
    )

    class Meta:
        model = AccessRequest
        fields: list[str] = []
