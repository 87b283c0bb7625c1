"""Session history filters, shared by the REST API and the `sessions` command."""

from __future__ import annotations

from datetime import datetime

import django_filters
from django import forms
from django.db.models import QuerySet

from pam_project.filters import UTCIsoDateTimeField, UTCIsoDateTimeFilter

from .models import ConsoleSession, Status
from .selectors import active_at_q


class WhoHadAccessForm(forms.Form):
    """The query of "who had access to account X at T" (the API's who_had_access)."""

    account = forms.IntegerField(min_value=1, max_value=2**63 - 1, help_text="PAM account id.")
    at = UTCIsoDateTimeField(help_text="The instant, ISO 8601.")


class SessionFilter(django_filters.FilterSet):
    user_email = django_filters.CharFilter(
        field_name="user_email", lookup_expr="iexact", help_text="The user's email (any case)."
    )
    account = django_filters.NumberFilter(field_name="account_id", help_text="PAM account id.")
    resource = django_filters.NumberFilter(
        field_name="account__resource_id", help_text="AWS IAM resource id."
    )
    project = django_filters.NumberFilter(
        field_name="account__resource__project_id", help_text="Project id."
    )
    status = django_filters.ChoiceFilter(choices=Status.choices, method="filter_status")
    created_after = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="gte", help_text="Created at or after (ISO 8601)."
    )
    created_before = UTCIsoDateTimeFilter(
        field_name="created_at", lookup_expr="lt", help_text="Created before (ISO 8601)."
    )
    active_at = UTCIsoDateTimeFilter(
        method="filter_active_at",
        help_text=(
            "Sessions whose console access covered this instant (ISO 8601): activated at "
            "or before it and not yet expired (or revoked) at it. Approved windows that "
            "covered it (who could have opened one) are in sessions/who_had_access/."
        ),
    )
    access_key_id = django_filters.CharFilter(
        field_name="access_key_id",
        lookup_expr="iexact",
        help_text="The temporary access key id CloudTrail shows for the console session.",
    )

    class Meta:
        model = ConsoleSession
        fields: list[str] = []

    def filter_status(
        self, queryset: QuerySet[ConsoleSession], name: str, value: str
    ) -> QuerySet[ConsoleSession]:
        # No index holds `status` (see ConsoleSession.Meta): with_status() says what
        # each status implies about the columns they do hold.
        return queryset.with_status(value)

    def filter_active_at(
        self, queryset: QuerySet[ConsoleSession], name: str, value: datetime
    ) -> QuerySet[ConsoleSession]:
        return queryset.filter(active_at_q(value))
