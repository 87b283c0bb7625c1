"""Access requests in the admin: history, read-only, with the decisions of each; and
"Approve / Deny / Revoke selected" through the same services (and rules) as the pages and
the API. Requests are made by their requester and never deleted, so no add or delete."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest

from accounts.models import PamAccount
from pam_project.admin import RestrictedAdmin
from pam_project.querysets import may

from . import services
from .models import AccessRequest, Decision, approver_q


def _approves_something(user: AbstractBaseUser | AnonymousUser) -> bool:
    """May decide some request: the global decide permission, or named (directly or
    through a group) as an approver of some account. The services decide each row."""
    if not user.is_authenticated or not user.is_active:
        return False
    if may(user, "decide", AccessRequest):
        return True
    return PamAccount.objects.filter(approver_q(user)).exists()


class DecisionInline(admin.TabularInline):
    model = Decision
    extra = 0
    can_delete = False
    fields = ["approver_name", "verdict", "comment", "created_at"]
    readonly_fields = fields
    verbose_name_plural = "Decisions"

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Whoever sees the request sees who decided it.
        return True


@admin.register(AccessRequest)
class AccessRequestAdmin(RestrictedAdmin):
    """Who asked for which account, why, who decided, and the window. Read-only."""

    list_display = [
        "id",
        "status",
        "account",
        "requester_name",
        "flag_break_glass",
        "duration",
        "created_at",
        "starts_at",
        "ends_at",
    ]
    # Only the accounts of the requests this person sees: the sidebar names no others.
    list_filter = ["status", "break_glass", ("account", admin.RelatedOnlyFieldListFilter)]
    list_select_related = ["account__resource__project"]
    search_fields = ["requester_name", "reason", "ticket"]
    search_help_text = "Requester, reason or ticket."
    date_hierarchy = "created_at"
    inlines = [DecisionInline]
    actions = ["approve_selected", "deny_selected", "revoke_selected"]
    fieldsets = [
        (
            None,
            {
                "fields": [
                    "account",
                    "requester",
                    "requester_name",
                    "status",
                    "break_glass",
                    "reason",
                    "ticket",
                    "duration",
                    "requested_start",
                    "approvals_required",
                ]
            },
        ),
        (
            "Timeline",
            {
                "fields": [
                    "created_at",
                    "expires_at",
                    "decided_at",
                    "starts_at",
                    "ends_at",
                    "ended_at",
                    "ended_by_name",
                    "end_reason",
                ]
            },
        ),
    ]
    # Every field is shown, none edited (the page is view-only: no change permission).
    readonly_fields = [name for _, section in fieldsets for name in section["fields"]]

    @admin.display(description="break-glass", boolean=True, ordering="break_glass")
    def flag_break_glass(self, obj: AccessRequest) -> bool:
        return obj.break_glass

    @admin.display(description="duration", ordering="duration_seconds")
    def duration(self, obj: AccessRequest) -> str:
        return obj.duration_text

    # --- who sees the page ------------------------------------------------------------

    def has_view_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        # Ops (view permission) see all; an approver (staff) sees the requests they may
        # decide, and the queryset (restrict) shows nothing else.
        return super().has_view_permission(request, obj) or _approves_something(request.user)

    def has_module_permission(self, request: HttpRequest) -> bool:
        return super().has_module_permission(request) or _approves_something(request.user)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- actions ----------------------------------------------------------------------

    def has_decide_permission(self, request: HttpRequest) -> bool:
        return _approves_something(request.user)

    def _each(
        self,
        request: HttpRequest,
        queryset: QuerySet[AccessRequest],
        operation: Callable[[AccessRequest], AccessRequest],
        done: str,
    ) -> None:
        """Run `operation` on each selected request; every refusal is reported (error
        level), never a 500, and the others still go through."""
        succeeded = []
        for access_request in queryset.order_by("pk"):
            try:
                operation(access_request)
            except services.RequestRefused as refused:
                self.message_user(
                    request, f"#{access_request.pk}: {refused.message}", messages.ERROR
                )
            except ValidationError as invalid:
                self.message_user(
                    request, f"#{access_request.pk}: {' '.join(invalid.messages)}", messages.ERROR
                )
            else:
                succeeded.append(f"#{access_request.pk}")
        if succeeded:
            self.message_user(request, f"{done}: {', '.join(succeeded)}.", messages.SUCCESS)

    @admin.action(description="Approve selected requests", permissions=["decide"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[AccessRequest]) -> None:
        self._each(
            request,
            queryset,
            lambda r: services.request_decide(request=r, approver=request.user, approve=True),
            "Approved",
        )

    @admin.action(description="Deny selected requests", permissions=["decide"])
    def deny_selected(self, request: HttpRequest, queryset: QuerySet[AccessRequest]) -> None:
        self._each(
            request,
            queryset,
            lambda r: services.request_decide(request=r, approver=request.user, approve=False),
            "Denied",
        )

    @admin.action(description="Revoke selected windows", permissions=["decide"])
    def revoke_selected(self, request: HttpRequest, queryset: QuerySet[AccessRequest]) -> None:
        self._each(
            request,
            queryset,
            lambda r: services.request_revoke(
                request=r, actor=request.user, comment="revoked in the admin"
            ),
            "Revoked",
        )
