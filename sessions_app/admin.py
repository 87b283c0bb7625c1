from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from .models import ConsoleSession


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
    list_filter = ["status", "failure_step"]
    list_select_related = ["account__resource__project"]
    search_fields = ["user_email", "role_session_name", "access_key_id", "assumed_role_arn"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    raw_id_fields = ["user", "account"]

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
