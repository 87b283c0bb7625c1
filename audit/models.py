from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from pam_project.querysets import RestrictedQuerySet
from pam_project.roles import CONFIG_READERS


class AuditEventQuerySet(RestrictedQuerySet):
    """Superusers and holders of `audit.view_auditevent` (a security team) read every
    event; a project's admins and auditors read its events; nobody else reads any, not
    even the events about themselves."""

    project_path = "project_id"
    role_actions = {"view": CONFIG_READERS}


class AuditEvent(models.Model):
    """Who changed which configuration or access, when, through what, and what changed.
    Written in the same transaction as the change (by the services, and by receivers for
    Django's own users and groups: identity/audit.py); never edited or deleted by the app
    once that transaction commits."""

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
        help_text="The channel: admin, api, web, cli (manage.py, the demo seed) or idp (the "
        "identity provider's sign-in sync; sso in older events); empty for a background task",
    )
    # The project the changed row belongs to (pam_project.querysets.project_id_of), so
    # its admins and auditors read its events; null for rows of no project (users,
    # groups, tokens). A plain integer: the audit log sits below the projects' app, and
    # an event outlives its project.
    project_id = models.PositiveIntegerField(null=True, blank=True, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["object_type", "object_id"], name="audit_object_idx")]

    def __str__(self) -> str:
        return (
            f"{self.created_at:%Y-%m-%d %H:%M} {self.actor_name} {self.action} {self.object_repr}"
        )
