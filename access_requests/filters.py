"""Access request filters for the REST API (`GET /api/v1/requests/`)."""

from __future__ import annotations

import django_filters

from pam_project.filters import UTCIsoDateTimeFilter

from .models import AccessRequest, RequestStatus


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
