from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from django.contrib import admin
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import HttpRequest, StreamingHttpResponse
from django.urls import URLPattern, path
from django.utils import timezone

from .exports import csv_lines, rows
from .models import ConsoleSession


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows. COUNT(*) over millions of sessions takes seconds; a
    LIMITed count reads CAP index entries. Pages past the cap are reached by filtering
    (date hierarchy, filters, search), which is how history is read anyway."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        counted = self.object_list[: self.CAP + 1].count()
        self.capped = counted > self.CAP
        return min(counted, self.CAP)

    capped = False


class UserEmailFilter(admin.SimpleListFilter):
    """A text box, not a list: thousands of users do not fit in a sidebar."""

    title = "user email"
    parameter_name = "user_email"
    template = "admin/sessions_app/input_filter.html"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [("", "")]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = (self.value() or "").strip()
        return queryset.filter(user_email__iexact=value) if value else queryset

    def choices(self, changelist: Any) -> Iterator[dict]:
        other = {
            key: value
            for key, values in changelist.get_filters_params().items()
            for value in values
            if key != self.parameter_name
        }
        yield {"value": self.value() or "", "others": other.items()}


@admin.register(ConsoleSession)
class ConsoleSessionAdmin(admin.ModelAdmin):
    """History is read-only: nobody edits or deletes what happened."""

    list_display = [
        "id",
        "created_at",
        "user_email",
        "account",
        "status",
        "failure_step",
        "error_code",
        "expires_at",
        "client_ip",
    ]
    list_filter = [
        "status",
        "failure_step",
        # All choices come from the small related tables; RelatedOnlyFieldListFilter
        # would run SELECT DISTINCT over the whole history.
        "account__resource__project",
        "account__resource",
        "account",
        UserEmailFilter,
    ]
    list_select_related = ["account__resource__project"]
    search_fields = ["user_email"]  # shows the box; the search itself is below
    search_help_text = (
        "Starts of an email, role session name, temporary access key id or assumed-role ARN."
    )
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = CappedCountPaginator
    list_per_page = 100
    raw_id_fields = ["user", "account"]
    actions = ["export_csv"]
    change_list_template = "admin/sessions_app/consolesession/change_list.html"

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet, search_term: str
    ) -> tuple[QuerySet, bool]:
        # Prefix matches only: each is served by an index on UPPER(column)
        # (migration 0003), where Django's default "contains" would scan the table.
        term = search_term.strip()
        if not term:
            return queryset, False
        match = (
            Q(user_email__istartswith=term)
            | Q(role_session_name__istartswith=term)
            | Q(access_key_id__istartswith=term)
            | Q(assumed_role_arn__istartswith=term)
        )
        return queryset.filter(match), False

    def get_urls(self) -> list[URLPattern]:
        export = self.admin_site.admin_view(self.export_view)
        return [
            path("export.csv", export, name="sessions_app_consolesession_export"),
            *super().get_urls(),
        ]

    def export_view(self, request: HttpRequest) -> StreamingHttpResponse:
        """The current filter, search and date drill-down of the list, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        changelist = self.get_changelist_instance(request)
        return self._csv_response(changelist.get_queryset(request))

    @admin.action(description="Export selected console sessions as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        return self._csv_response(queryset)

    def _csv_response(self, queryset: QuerySet) -> StreamingHttpResponse:
        response = StreamingHttpResponse(csv_lines(rows(queryset)), content_type="text/csv")
        stamp = timezone.now().strftime("%Y%m%dT%H%M%SZ")
        response["Content-Disposition"] = f'attachment; filename="console-sessions-{stamp}.csv"'
        return response

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(
        self, request: HttpRequest, obj: ConsoleSession | None = None
    ) -> bool:
        return False

    def has_delete_permission(
        self, request: HttpRequest, obj: ConsoleSession | None = None
    ) -> bool:
        return False
