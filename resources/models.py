from __future__ import annotations

import secrets
import string
from typing import Any

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import models

from pam_project.querysets import RestrictedQuerySet
from pam_project.roles import ALL_ROLES, CONFIG_ROLE_ACTIONS, Role

from .aws import RoleArn, parse_role_arn
from .validators import NAME_MAX_LENGTH, validate_name, validate_role_arn

# An External ID starts with a letter or digit, never `-`, which a command line takes for
# an option (`aws sts assume-role --external-id -x...` fails to parse).
FIRST_CHARACTERS = string.ascii_letters + string.digits


def generate_external_id() -> str:
    """A random External ID (over 192 bits): unguessable, so one customer cannot name
    another's. Projects keep the ID they were given; only new ones get this form.

    STS accepts 2..1224 characters of [\\w+=,.@:/-]; token_urlsafe uses [A-Za-z0-9_-],
    after a letter or digit (33 characters in all).
    """
    return secrets.choice(FIRST_CHARACTERS) + secrets.token_urlsafe(24)


class ProjectQuerySet(RestrictedQuerySet):
    # Everyone with a role in a project sees it; only its admins change it; creating or
    # deleting a project is for superusers.
    project_path = "pk"
    role_actions = {"view": ALL_ROLES, "change": CONFIG_ROLE_ACTIONS["change"]}

    def own(self, user: Any) -> ProjectQuerySet:
        """Projects holding an account granted to the user. The grants are the accounts
        app's rows; a lower app reaches them through reverse relations, never an import."""
        granted = models.Q(resources__accounts__grants__user=user) | models.Q(
            resources__accounts__grants__group__user=user
        )
        return self.filter(pk__in=Project.objects.filter(granted).values("pk"))


class AwsIamResourceQuerySet(RestrictedQuerySet):
    project_path = "project_id"
    role_actions = CONFIG_ROLE_ACTIONS

    def own(self, user: Any) -> AwsIamResourceQuerySet:
        """Resources holding an account granted to the user (see ProjectQuerySet.own)."""
        granted = models.Q(accounts__grants__user=user) | models.Q(
            accounts__grants__group__user=user
        )
        return self.filter(pk__in=AwsIamResource.objects.filter(granted).values("pk"))


class ProjectRoleQuerySet(RestrictedQuerySet):
    project_path = "project_id"
    role_actions = CONFIG_ROLE_ACTIONS

    def own(self, user: Any) -> ProjectRoleQuerySet:
        """The roles a person holds, directly or through a group."""
        held = ProjectRole.objects.filter(models.Q(user=user) | models.Q(group__user=user))
        return self.filter(pk__in=held.values("pk"))


class Project(models.Model):
    """The boundary that owns AWS IAM resources and PAM accounts, with its own External ID."""

    name = models.CharField(max_length=NAME_MAX_LENGTH, unique=True, validators=[validate_name])
    description = models.TextField(blank=True, max_length=1000)
    # Generated, never typed, never changed: trust policies in customer accounts embed it,
    # and it is what stops another tenant of this deployment from borrowing those roles
    # (the confused-deputy problem).
    external_id = models.CharField(
        "External ID",
        max_length=64,
        unique=True,
        editable=False,
        default=generate_external_id,
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ProjectQuerySet.as_manager()

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            stored = Project.objects.filter(pk=self.pk).values_list("external_id", flat=True)
            if stored and stored[0] != self.external_id:
                raise ValidationError({"external_id": "The External ID cannot be changed."})
        super().save(*args, **kwargs)


class AwsIamResource(models.Model):
    """One AWS account connection: the Resource Role that trusts this deployment."""

    project = models.ForeignKey(Project, on_delete=models.PROTECT, related_name="resources")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    resource_role_arn = models.CharField(
        "Resource Role ARN", max_length=2048, validators=[validate_role_arn]
    )
    # Off by default: each needs an extra permission in the trust policies
    # (sts:SetSourceIdentity / sts:TagSession), without which AssumeRole is denied.
    set_source_identity = models.BooleanField(
        "Set SourceIdentity",
        default=False,
        help_text=(
            "Also pass the user's email as SourceIdentity on both hops. Both trust policies "
            "must then allow sts:SetSourceIdentity."
        ),
    )
    tag_session = models.BooleanField(
        "Tag sessions",
        default=False,
        help_text=(
            "Tag the Target Role session with the console-session id "
            "(pam-console-session). The Target Role's trust policy must allow sts:TagSession."
        ),
    )
    # On for new resources; migration 0002 leaves it off for existing ones, whose
    # Resource Roles were created without the IAM permissions it needs.
    allow_revocation = models.BooleanField(
        "Allow revocation",
        default=True,
        help_text=(
            "Let this app revoke live console sessions of its Target Roles, by writing a "
            "deny into one inline policy (PamRevokedSessions) on the Target Role. The "
            "Resource Role then needs iam:GetRolePolicy, iam:PutRolePolicy and "
            "iam:DeleteRolePolicy on the Target Roles (in the permissions policy below)."
        ),
    )
    validated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the Resource Role was last assumed successfully."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AwsIamResourceQuerySet.as_manager()

    class Meta:
        verbose_name = "AWS IAM resource"
        ordering = ["project__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["project", "name"],
                name="resource_name_unique_in_project",
                violation_error_message="A resource with this name already exists in the project.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.project.name} / {self.name}"

    @property
    def role(self) -> RoleArn:
        return parse_role_arn(self.resource_role_arn)


class ProjectRole(models.Model):
    """What one user or group may do in one project: admin, approver or auditor. Nobody
    holds a role by default; superusers act everywhere without one."""

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="roles")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="project_roles",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="project_roles"
    )
    role = models.CharField(max_length=8, choices=Role.choices)
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = ProjectRoleQuerySet.as_manager()

    class Meta:
        verbose_name = "project role"
        ordering = ["project__name", "role", "pk"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(user__isnull=False, group__isnull=True)
                | models.Q(user__isnull=True, group__isnull=False),
                name="project_role_exactly_one_holder",
                violation_error_message="Give the role to either a user or a group.",
            ),
            models.UniqueConstraint(
                fields=["project", "user", "role"],
                condition=models.Q(user__isnull=False),
                name="project_role_unique_user",
                violation_error_message="This user already holds this role in the project.",
            ),
            models.UniqueConstraint(
                fields=["project", "group", "role"],
                condition=models.Q(group__isnull=False),
                name="project_role_unique_group",
                violation_error_message="This group already holds this role in the project.",
            ),
        ]

    def __str__(self) -> str:
        holder = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{self.project}: {self.role} -> {holder}"
