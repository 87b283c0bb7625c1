from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from pam_project.admin import RestrictedAdmin

from .models import AuditEvent


@admin.register(AuditEvent)
class AuditEventAdmin(RestrictedAdmin):
    """Read-only: the log of who changed the configuration and who holds what access.
    Reads through restrict(): superusers and holders of `audit.view_auditevent` see
    every event, a project's admins and auditors its events, anyone else none (and no
    link to the list)."""

    list_display = [
        "created_at",
        "actor_name",
        "action",
        "object_type",
        "object_repr",
        "via",
        "project_id",
    ]
    list_filter = ["action", "object_type", "via"]
    search_fields = ["actor_name", "object_repr", "object_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
