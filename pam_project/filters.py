"""Filter parts the API's lists share (sessions, requests, the audit log)."""

from __future__ import annotations

from datetime import UTC, datetime

import django_filters
from django.core.exceptions import ValidationError
from django_filters.fields import IsoDateTimeField


class UTCIsoDateTimeField(IsoDateTimeField):
    """ISO 8601, converted to UTC before it reaches the database.

    Python accepts offsets up to 24 hours and PostgreSQL does not ("time zone
    displacement out of range"): any valid instant is sent as UTC instead.
    """

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
