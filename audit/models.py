from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone


class AuditEvent(models.Model):
    """Who changed which configuration, when, and what changed. Written by the services,
    in the same transaction as the change; never edited or deleted by the app."""

    class Action(models.TextChoices):
        CREATE = "create"
        UPDATE = "update"
        DELETE = "delete"
        # Second factor (mfa/) and refusals of Access before any session row.
        VERIFY = "verify"
        VERIFY_FAILED = "verify_failed"
        ACCESS_REFUSED = "access_refused"
        # Just-in-time access (access_requests/).
        REQUEST = "request"
        BREAK_GLASS = "break_glass"
        APPROVE = "approve"
        DENY = "deny"
        CANCEL = "cancel"
        REVOKE = "revoke"
        EXPIRE = "expire"
        END = "end"

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+"
    )
    # A snapshot, so the log still names the actor after the user is deleted.
    actor_name = models.CharField(max_length=254)
    action = models.CharField(max_length=16, choices=Action.choices)
    object_type = models.CharField(max_length=64)  # e.g. "resources.project"
    object_id = models.CharField(max_length=64)
    object_repr = models.CharField(max_length=255)
    # {field: [before, after]} for updates; the whole object for create and delete.
    changes = models.JSONField(default=dict)
    via = models.CharField(
        max_length=16,
        blank=True,
        help_text="admin, api or web; empty for a command (manage.py, the demo seed)",
    )

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_repr}"
        )
