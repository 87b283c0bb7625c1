from __future__ import annotations

from collections.abc import Iterator
from functools import cached_property
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.views.main import ERROR_FLAG, ChangeList
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.db.models import Q, QuerySet
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    StreamingHttpResponse,
)
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, URLPattern, path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.translation import gettext as _

from access_requests.models import AccessRequest
from pam_project.admin import RestrictedAdmin

from . import revocation
from .exports import approvals, csv_stream
from .models import ConsoleSession, Status
from .selectors import may_revoke

BREAK_GLASS_FLAG = "BREAK-GLASS"


def request_admin_url(request_id: int) -> str:
    """The request's admin page, or "" where that admin is not registered."""
    try:
        return reverse("admin:access_requests_accessrequest_change", args=[request_id])
    except NoReverseMatch:
        return ""


class UnderFilter(admin.SimpleListFilter):
    """Standing grant, approved window, or break-glass: what the session ran under."""

    title = "ran under"
    parameter_name = "under"

    def lookups(self, request: HttpRequest, model_admin: admin.ModelAdmin) -> list:
        return [
            ("standing", "Standing grant"),
            ("request", "Approved request"),
            ("break_glass", "Break-glass"),
        ]

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        value = self.value()
        if value == "standing":
            return queryset.filter(access_request__isnull=True)
        if value == "request":
            return queryset.filter(access_request__isnull=False, access_request__break_glass=False)
        if value == "break_glass":
            return queryset.filter(access_request__break_glass=True)
        return queryset


class StatusFilter(admin.ChoicesFieldListFilter):
    """Django's status choices and parameter (status__exact), filtered through
    with_status(): no index holds `status` (see ConsoleSession.Meta)."""

    def queryset(self, request: HttpRequest, queryset: QuerySet) -> QuerySet:
        values = self.used_parameters.get(self.lookup_kwarg) or []
        if len(self.used_parameters) == 1 and len(values) == 1 and values[0] in Status.values:
            return queryset.with_status(values[0])
        return super().queryset(request, queryset)


class CappedCountPaginator(Paginator):
    """Counts at most CAP rows. COUNT(*) over millions of sessions takes seconds; a
    LIMITed count reads CAP index entries. Pages past the cap are reached by filtering
    (date hierarchy, filters, search), which is how history is read anyway."""

    CAP = 10_000

    @cached_property
    def count(self) -> int:
        # Unordered: any CAP+1 matching rows count the same, and without ORDER BY the
        # database stops at the first CAP+1 it finds instead of walking them in order.
        counted = self.object_list.order_by()[: self.CAP + 1].count()
        self.capped = counted > self.CAP
        return min(counted, self.CAP)

    capped = False


class RelatedWithNamesFilter(admin.RelatedFieldListFilter):
    """Lists the choices with one query: their names include their parents' names
    (project / resource / account), which Django's filter would fetch row by row."""

    def field_choices(
        self, field: Any, request: HttpRequest, model_admin: admin.ModelAdmin
    ) -> list[tuple[Any, str]]:
        related = field.related_model
        choices = related._default_manager.all()
        parents = {"AwsIamResource": ["project"], "PamAccount": ["resource__project"]}
        choices = choices.select_related(*parents.get(related.__name__, []))
        ordering = self.field_admin_ordering(field, request, model_admin)
        if ordering:
            choices = choices.order_by(*ordering)
        return [(obj.pk, str(obj)) for obj in choices]


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
class ConsoleSessionAdmin(RestrictedAdmin):
    """History is read-only: nobody edits or deletes what happened."""

    # At 1280 px, beside the filters, ten columns pushed "expires at" off the right edge:
    # it now sits beside the status, and a failure's step and AWS error code share one
    # column (each keeps its own filter, and the detail page shows both).
    list_display = [
        "id",
        "created_at",
        "user_email",
        "account",
        "kind",
        "status",
        "expires_at",
        "under_request",
        "failure",
        "client_ip",
    ]
    list_filter = [
        ("status", StatusFilter),
        "kind",
        UnderFilter,
        "failure_step",
        # All choices come from the small related tables; RelatedOnlyFieldListFilter
        # would run SELECT DISTINCT over the whole history.
        "account__resource__project",
        ("account__resource", RelatedWithNamesFilter),
        ("account", RelatedWithNamesFilter),
        UserEmailFilter,
    ]
    # Facet counts are COUNT(*)s over the whole history, one per choice.
    show_facets = admin.ShowFacets.NEVER
    list_select_related = ["account__resource__project", "access_request"]
    search_fields = ["user_email"]  # shows the box; the search itself is below
    search_help_text = (
        "Starts of an email, role session name, temporary access key id or assumed-role ARN."
    )
    date_hierarchy = "created_at"
    show_full_result_count = False
    paginator = CappedCountPaginator
    # Rendering costs about a millisecond a row on a small machine; filters and the date
    # drill-down, not paging, are how history is read.
    list_per_page = 50
    raw_id_fields = ["user", "account", "access_request"]
    # The request the session ran under, as its approvers saw it (see get_fieldsets).
    request_fields = ["under_request", "request_reason", "request_ticket", "request_approvers"]
    readonly_fields = request_fields
    actions = ["export_csv", "revoke_sessions"]
    change_list_template = "admin/sessions_app/consolesession/change_list.html"
    change_form_template = "admin/sessions_app/consolesession/change_form.html"

    @admin.display(description=mark_safe('<input type="checkbox" id="action-toggle">'))
    def action_checkbox(self, obj: ConsoleSession) -> str:
        # Django renders this checkbox through the form-widget templates, once per row:
        # a third of the page's time. The same markup, formatted directly.
        return format_html(
            '<input type="checkbox" name="{}" value="{}" class="action-select" aria-label="{}">',
            helpers.ACTION_CHECKBOX_NAME,
            obj.pk,
            format_html(_("Select this object for an action - {}"), str(obj)),
        )

    @admin.display(description="failure", ordering="failure_step")
    def failure(self, obj: ConsoleSession) -> str:
        """The failed step and what AWS (or this app) answered: "Target Role (hop 2):
        AccessDenied"; "—" for a session that did not fail."""
        if not obj.failure_step:
            return "—"
        step = obj.get_failure_step_display()
        return f"{step}: {obj.error_code}" if obj.error_code else step

    @admin.display(description="under request")
    def under_request(self, obj: ConsoleSession) -> str:
        """The request id (#12) linking to its page, flagged BREAK-GLASS; "—" if standing."""
        if not obj.access_request_id:
            return "—"
        url = request_admin_url(obj.access_request_id)
        label = f"#{obj.access_request_id}"
        link = format_html('<a href="{}">{}</a>', url, label) if url else label
        if obj.access_request.break_glass:
            return format_html('{} <strong class="break-glass">{}</strong>', link, BREAK_GLASS_FLAG)
        return link

    def _request_of(self, obj: ConsoleSession) -> AccessRequest | None:
        return obj.access_request if obj.access_request_id else None

    @admin.display(description="request reason")
    def request_reason(self, obj: ConsoleSession) -> str:
        request = self._request_of(obj)
        return request.reason if request else "— (standing grant)"

    @admin.display(description="request ticket")
    def request_ticket(self, obj: ConsoleSession) -> str:
        request = self._request_of(obj)
        return (request.ticket or "—") if request else "—"

    @admin.display(description="approved by")
    def request_approvers(self, obj: ConsoleSession) -> str:
        request = self._request_of(obj)
        if request is None:
            return "—"
        decisions = list(approvals().filter(request=request))
        if not decisions:
            return (
                "nobody: break-glass, opened at once (approvers were notified)"
                if request.break_glass
                else "—"
            )
        return format_html_join(
            mark_safe("<br>"),
            "{} at {}{}",
            (
                (
                    d.approver_name,
                    timezone.localtime(d.created_at).strftime("%Y-%m-%d %H:%M:%S %Z"),
                    f": {d.comment}" if d.comment else "",
                )
                for d in decisions
            ),
        )

    def get_fieldsets(self, request: HttpRequest, obj: ConsoleSession | None = None) -> list:
        # The request's own field is shown (linked, flagged) as under_request.
        shown_apart = {*self.request_fields, "access_request"}
        fields = [f for f in self.get_fields(request, obj) if f not in shown_apart]
        return [
            (None, {"fields": fields}),
            ("Just-in-time access", {"fields": self.request_fields}),
        ]

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
        revoke = self.admin_site.admin_view(self.revoke_view)
        return [
            path("export.csv", export, name="sessions_app_consolesession_export"),
            path("<path:object_id>/revoke/", revoke, name="sessions_app_consolesession_revoke"),
            *super().get_urls(),
        ]

    def get_changelist_instance(self, request: HttpRequest) -> ChangeList:
        # PostgreSQL refuses a NUL in any text parameter, which Django's filters pass on
        # (a 500). No stored value holds one: such a URL is refused as Django refuses any
        # parameter it cannot use, with the "?e=1" page.
        if any("\x00" in value for values in request.GET.lists() for value in values[1]):
            raise IncorrectLookupParameters("a NUL character in the query")
        return super().get_changelist_instance(request)

    def export_view(self, request: HttpRequest) -> HttpResponse:
        """The current filter, search and date drill-down of the list, as CSV."""
        if not self.has_view_permission(request):
            raise PermissionDenied
        try:
            changelist = self.get_changelist_instance(request)
        except IncorrectLookupParameters:
            # As the list itself answers parameters it cannot use.
            changelist_url = reverse("admin:sessions_app_consolesession_changelist")
            return HttpResponseRedirect(f"{changelist_url}?{ERROR_FLAG}=1")
        return self._csv_response(changelist.get_queryset(request))

    @admin.action(description="Export selected console sessions as CSV")
    def export_csv(self, request: HttpRequest, queryset: QuerySet) -> StreamingHttpResponse:
        return self._csv_response(queryset)

    def has_revoke_permission(self, request: HttpRequest) -> bool:
        # Some session may be revoked here: ops (the revoke permission), superusers, the
        # admins and approvers of a project. Each session is checked in _revoke.
        return ConsoleSession.objects.reaches_any(request.user, "revoke")

    @admin.action(description="Revoke selected console sessions", permissions=["revoke"])
    def revoke_sessions(self, request: HttpRequest, queryset: QuerySet) -> HttpResponse | None:
        """Asks for the reason first (a page listing the sessions), then revokes each
        active one; each outcome is reported, nothing is claimed that IAM did not take."""
        live = list(queryset.filter(status=Status.ACTIVE).select_related("account__resource"))
        reason = request.POST.get("reason", "").strip()
        if request.POST.get("confirm") != "yes" or not reason:
            return self._revoke_confirm(
                request,
                live,
                skipped=queryset.exclude(status=Status.ACTIVE).count(),
                selected=request.POST.getlist(helpers.ACTION_CHECKBOX_NAME),
            )
        self._revoke(request, live, reason)
        return None

    def revoke_view(self, request: HttpRequest, object_id: str) -> HttpResponse:
        """The detail page's "Revoke this session": the same reason page and service."""
        session = self.get_object(request, object_id)
        if session is None:
            raise Http404
        if not may_revoke(request.user, session):
            raise PermissionDenied
        change_url = reverse("admin:sessions_app_consolesession_change", args=[session.pk])
        live = [session] if session.status == Status.ACTIVE else []
        reason = request.POST.get("reason", "").strip()
        if request.method != "POST" or request.POST.get("confirm") != "yes" or not reason:
            return self._revoke_confirm(
                request, live, skipped=0 if live else 1, form_action=request.get_full_path()
            )
        self._revoke(request, live, reason)
        return HttpResponseRedirect(change_url)

    def _revoke_confirm(
        self,
        request: HttpRequest,
        live: list[ConsoleSession],
        *,
        skipped: int,
        selected: list[str] | None = None,
        form_action: str = "",
    ) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/sessions_app/consolesession/revoke_confirm.html",
            {
                **self.admin_site.each_context(request),
                "title": "Revoke console sessions",
                "sessions": live,
                "skipped": skipped,
                "selected": selected or [],
                "form_action": form_action,
                "missing_reason": request.POST.get("confirm") == "yes",
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            },
        )

    def _revoke(self, request: HttpRequest, live: list[ConsoleSession], reason: str) -> None:
        for session in live:
            if not may_revoke(request.user, session):
                self.message_user(
                    request,
                    f"#{session.pk}: not revoked: only its own user, an admin or approver of "
                    "its project, or ops (the revoke permission) may.",
                    messages.WARNING,
                )
                continue
            try:
                revocation.session_revoke(session=session, actor=request.user, reason=reason)
            except revocation.RevocationRefused as refused:
                self.message_user(request, f"#{session.pk}: {refused.message}", messages.WARNING)
            except revocation.RevocationFailed as failed:
                self.message_user(
                    request,
                    f"#{session.pk}: IAM did not take the revocation ({failed.error.code}: "
                    f"{failed.error.message}); it is recorded and retried every minute.",
                    messages.ERROR,
                )
            else:
                self.message_user(request, f"#{session.pk} revoked.", messages.SUCCESS)

    def render_change_form(
        self, request: HttpRequest, context: dict, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        original = context.get("original")
        context["can_revoke"] = original is not None and may_revoke(request.user, original)
        original = context.get("original")
        under = self._request_of(original) if original is not None else None
        context["break_glass_request"] = under if under and under.break_glass else None
        return super().render_change_form(request, context, *args, **kwargs)

    def _csv_response(self, queryset: QuerySet) -> StreamingHttpResponse:
        response = StreamingHttpResponse(csv_stream(queryset), content_type="text/csv")
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
