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

    # What changed comes right after who did what: at 1280 px, with the filters beside
    # it, the object's name was the column squeezed to two letters at the table's end.
    list_display = [
        "created_at",
        "actor_name",
        "action",
        "object",
        "object_type",
        "via",
        "project_id",
    ]
    list_filter = ["action", "object_type", "via"]
    search_fields = ["actor_name", "object_repr", "object_id"]
    date_hierarchy = "created_at"
    show_full_result_count = False
    readonly_fields = [f.name for f in AuditEvent._meta.fields]

    change_list_template = "admin/audit/auditevent/change_list.html"

    @admin.display(description="object", ordering="object_repr")
    def object(self, obj: AuditEvent) -> str:
        return obj.object_repr

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: AuditEvent | None = None) -> bool:
        return False
