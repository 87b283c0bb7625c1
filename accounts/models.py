from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import Group
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q

from pam_project.durations import MAX_SECONDS, MIN_SECONDS, format_duration
from pam_project.querysets import RestrictedQuerySet
from pam_project.scopes import SCOPES
from resources.aws import RoleArn, parse_role_arn
from resources.models import AwsIamResource
from resources.validators import NAME_MAX_LENGTH, validate_name, validate_role_arn


def _names(user: object) -> Q:
    """A grant row that names `user`, directly or through one of their groups."""
    return Q(user=user) | Q(group__user=user)


class PamAccountQuerySet(RestrictedQuerySet):
    def granted_to(self, user: object) -> PamAccountQuerySet:
        """The accounts `user` may Access. Nobody is granted by default, superusers
        included: seeing an account (restrict) is not being granted it."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        grants = AccountGrant.objects.filter(account=OuterRef("pk")).filter(_names(user))
        return self.filter(Exists(grants))

    def own(self, user: object) -> PamAccountQuerySet:
        return self.granted_to(user)


class AccountGrantQuerySet(RestrictedQuerySet):
    def own(self, user: object) -> AccountGrantQuerySet:
        """The grants that name the user (directly or through a group)."""
        return self.filter(pk__in=AccountGrant.objects.filter(_names(user)).values("pk"))


class ApiTokenQuerySet(RestrictedQuerySet):
    def own(self, user: object) -> ApiTokenQuerySet:
        return self.filter(user=user)


class PamAccount(models.Model):
    """One Target Role people can get in the AWS Console, for a fixed session duration."""

    resource = models.ForeignKey(AwsIamResource, on_delete=models.PROTECT, related_name="accounts")
    name = models.CharField(max_length=NAME_MAX_LENGTH, validators=[validate_name])
    description = models.TextField(blank=True, max_length=1000)
    target_role_arn = models.CharField(
        "Target Role ARN", max_length=2048, validators=[validate_role_arn]
    )
    session_duration = models.PositiveIntegerField(
        help_text="Seconds, 900 to 3600.",
        validators=[
            MinValueValidator(MIN_SECONDS, "A session lasts at least 15m (900 seconds)."),
            MaxValueValidator(MAX_SECONDS, "AWS caps role-chained sessions at 1h (3600 seconds)."),
        ],
    )
    require_mfa = models.BooleanField(
        "require MFA",
        default=False,
        help_text="Access needs a second-factor check (authenticator app, passkey or "
        "recovery code) in the last 5 minutes; API tokens can never Access it.",
    )
    validated_at = models.DateTimeField(
        null=True, blank=True, help_text="When the whole chain was last assumed successfully."
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = PamAccountQuerySet.as_manager()

    class Meta:
        verbose_name = "PAM account"
        ordering = ["resource__project__name", "resource__name", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["resource", "name"],
                name="account_name_unique_in_resource",
                violation_error_message="An account with this name already exists on the resource.",
            ),
            models.CheckConstraint(
                condition=Q(session_duration__gte=MIN_SECONDS, session_duration__lte=MAX_SECONDS),
                name="account_session_duration_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource} / {self.name}"

    @property
    def role(self) -> RoleArn:
        return parse_role_arn(self.target_role_arn)

    @property
    def duration_text(self) -> str:
        return format_duration(self.session_duration)


class AccountGrant(models.Model):
    """Who may Access a PAM account: one user or one group per row. Nobody by default."""

    account = models.ForeignKey(PamAccount, on_delete=models.CASCADE, related_name="grants")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="pam_grants",
    )
    group = models.ForeignKey(
        Group, null=True, blank=True, on_delete=models.CASCADE, related_name="pam_grants"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )

    objects = AccountGrantQuerySet.as_manager()

    class Meta:
        verbose_name = "grant"
        constraints = [
            models.CheckConstraint(
                condition=Q(user__isnull=False, group__isnull=True)
                | Q(user__isnull=True, group__isnull=False),
                name="grant_exactly_one_grantee",
                violation_error_message="Grant the account to either a user or a group.",
            ),
            models.UniqueConstraint(
                fields=["account", "user"],
                condition=Q(user__isnull=False),
                name="grant_unique_user",
                violation_error_message="This user is already granted the account.",
            ),
            models.UniqueConstraint(
                fields=["account", "group"],
                condition=Q(group__isnull=False),
                name="grant_unique_group",
                violation_error_message="This group is already granted the account.",
            ),
        ]

    def __str__(self) -> str:
        grantee = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{self.account} -> {grantee}"


class ApiToken(models.Model):
    """A personal API token for scripts. Only a SHA-256 digest is stored: the token is
    shown once, at creation, and a database leak does not reveal usable tokens."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    # The first characters of the token, so its owner can tell tokens apart.
    prefix = models.CharField(max_length=16)
    digest = models.CharField(max_length=64, unique=True)
    scope = models.CharField(
        max_length=8,
        choices=[(s, s) for s in SCOPES],
        default="read",
        help_text="read: history and reads; access: also Access; admin: also configuration "
        "writes, within the user's own permissions.",
    )
    # SHA-256 of the user's password hash when the token was made: a password change
    # (or reset) ends every token made before it. The hash itself is already in the
    # user table, so this digest of it tells a reader nothing new.
    password_fingerprint = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    expires_at = models.DateTimeField(null=True, blank=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = ApiTokenQuerySet.as_manager()

    class Meta:
        verbose_name = "API token"
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
