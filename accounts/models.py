from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Exists, OuterRef, Q

from pam_project.durations import (
    MAX_SECONDS,
    MAX_WINDOW_SECONDS,
    MIN_SECONDS,
    format_duration,
)
from pam_project.querysets import RestrictedQuerySet
from pam_project.roles import ADMINS, ALL_ROLES, CONFIG_ROLE_ACTIONS
from pam_project.scopes import SCOPES
from resources.aws import (
    SERVICES,
    ArnError,
    ConsoleChoiceError,
    RoleArn,
    check_region,
    check_service,
    parse_role_arn,
)
from resources.models import AwsIamResource
from resources.validators import NAME_MAX_LENGTH, validate_name, validate_role_arn


def _names(user: object) -> Q:
    """A grant row that names `user`, directly or through one of their groups.

    The groups as `group_id IN (the user's memberships)`, not `group__user`: the join
    through auth_group and an OR across joined tables took PostgreSQL longer to plan
    than to run, on every Access (bench/access.py, the grant lookup)."""
    memberships = get_user_model().groups.through.objects.filter(user_id=user.pk)
    return Q(user=user) | Q(group_id__in=memberships.values("group_id"))


class GrantKind(models.TextChoices):
    # Access at any time (wave 1's only kind).
    STANDING = "standing", "Standing"
    # Access only inside an approved window (a request, or break-glass).
    ELIGIBLE = "eligible", "Eligible (needs an approved request)"


class PamAccountQuerySet(RestrictedQuerySet):
    project_path = "resource__project_id"
    # Approvers see the accounts they decide on, as admins and auditors do.
    role_actions = {"view": ALL_ROLES, "change": ADMINS, "delete": ADMINS}

    def granted_to(self, user: object) -> PamAccountQuerySet:
        """The accounts a grant names `user` for, standing or eligible, annotated with
        `standing` (whether one of those grants is standing: Access at any time; else
        only inside an approved window). Nobody is granted by default, superusers
        included: seeing an account (restrict) is not being granted it."""
        if not getattr(user, "is_authenticated", False) or not user.is_active:
            return self.none()
        grants = AccountGrant.objects.filter(account=OuterRef("pk")).filter(_names(user))
        return self.filter(Exists(grants)).annotate(
            standing=Exists(grants.filter(kind=GrantKind.STANDING))
        )

    def own(self, user: object) -> PamAccountQuerySet:
        return self.granted_to(user)


class AccountGrantQuerySet(RestrictedQuerySet):
    project_path = "account__resource__project_id"
    role_actions = CONFIG_ROLE_ACTIONS

    def own(self, user: object) -> AccountGrantQuerySet:
        """The grants that name the user (directly or through a group)."""
        return self.filter(pk__in=AccountGrant.objects.filter(_names(user)).values("pk"))


class ApiTokenQuerySet(RestrictedQuerySet):
    # Tokens belong to people, not projects: their owner, and holders of the global
    # token permissions (view, and delete to revoke), see them.
    global_actions = frozenset({"delete"})

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
    # Just-in-time access (SPEC): who decides requests for eligible grants, and how.
    approver_users = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        blank=True,
        related_name="approver_for",
        help_text="People who decide access requests for this account (never their own).",
    )
    approver_groups = models.ManyToManyField(
        Group,
        blank=True,
        related_name="approver_for",
        help_text="Groups whose members decide access requests (never their own).",
    )
    approvals_required = models.PositiveSmallIntegerField(
        default=1,
        choices=[(1, "1 approval"), (2, "2 approvals, from different people")],
        validators=[
            MinValueValidator(1, "At least 1 approval."),
            MaxValueValidator(2, "At most 2 approvals."),
        ],
    )
    max_window = models.PositiveIntegerField(
        default=4 * 3600,
        help_text="The longest window a request may ask for: 15m to 12h (default 4h).",
        validators=[
            MinValueValidator(MIN_SECONDS, "A window lasts at least 15m."),
            MaxValueValidator(MAX_WINDOW_SECONDS, "A window lasts at most 12h."),
        ],
    )
    break_glass = models.BooleanField(
        "allow break-glass",
        default=False,
        help_text="Eligible people may open a window of up to 1h at once, with a reason "
        "and a second factor; approvers are told at once and history flags it.",
    )
    # Where the console opens (SPEC "The console experience"): a region of the Target
    # Role's partition and a service of resources.aws.SERVICES, each checked against its
    # list (clean()), so that nothing typed ever reaches the sign-in URL. All empty: the
    # console's home page, as before.
    default_region = models.CharField(
        max_length=32,
        blank=True,
        help_text="The region the console opens in, e.g. eu-west-1 (a region of the Target "
        "Role's partition). Empty: the first allowed region, or none (the console's home).",
    )
    default_service = models.CharField(
        max_length=32,
        blank=True,
        help_text="The service the console opens on, e.g. ec2 or s3. Empty: the first "
        "allowed service, or none (the console's home page).",
    )
    allowed_regions = models.JSONField(
        default=list,
        blank=True,
        help_text="Regions the Access button offers in a picker (with more than one). "
        "Empty: only the default region. The default must be one of them.",
    )
    allowed_services = models.JSONField(
        default=list,
        blank=True,
        help_text="Services the Access button offers in a picker (with more than one). "
        "Empty: only the default service. The default must be one of them.",
    )
    # `pam credentials` (SPEC "The console experience"): the chain's temporary keys
    # handed to the person's AWS CLI (credential_process) instead of a console sign-in.
    # Off by default: keys leave the browser's one-time link for a file or a process.
    allow_cli_credentials = models.BooleanField(
        "allow CLI credentials",
        default=False,
        help_text="People with access may also get the Target Role's temporary keys for "
        "the AWS CLI (`pam credentials`, credential_process); recorded as sessions of kind "
        "credentials. API tokens can use it; require_mfa accounts still refuse tokens.",
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
            models.CheckConstraint(
                condition=Q(approvals_required__gte=1, approvals_required__lte=2),
                name="account_approvals_required_range",
            ),
            models.CheckConstraint(
                condition=Q(max_window__gte=MIN_SECONDS, max_window__lte=MAX_WINDOW_SECONDS),
                name="account_max_window_range",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.resource} / {self.name}"

    @property
    def role(self) -> RoleArn:
        return parse_role_arn(self.target_role_arn)

    def clean(self) -> None:
        """The console choices: each region one of the Target Role's partition, each
        service on the console list, a default within its allowed list."""
        super().clean()
        try:
            partition = parse_role_arn(self.target_role_arn).partition
        except ArnError:
            partition = None  # target_role_arn's own error says why
        errors: dict[str, str] = {}
        for kind, default_name, allowed_name in (
            ("region", "default_region", "allowed_regions"),
            ("service", "default_service", "allowed_services"),
        ):
            allowed = getattr(self, allowed_name)
            if not isinstance(allowed, list) or not all(isinstance(v, str) for v in allowed):
                example = '["eu-west-1", "us-east-1"]' if kind == "region" else '["ec2", "s3"]'
                errors[allowed_name] = f"A list of {kind} names, e.g. {example}."
                continue
            # Kept in the order given (the picker's), once each.
            allowed = list(dict.fromkeys(v.strip() for v in allowed if v.strip()))
            setattr(self, allowed_name, allowed)
            default = getattr(self, default_name).strip()
            setattr(self, default_name, default)
            if kind == "region" and partition is None:
                continue
            for name, values in (
                (allowed_name, allowed),
                (default_name, [default] if default else []),
            ):
                try:
                    for value in values:
                        if kind == "region":
                            check_region(partition, value)
                        else:
                            check_service(value)
                except ConsoleChoiceError as exc:
                    errors[name] = exc.message
            already = default_name in errors or allowed_name in errors
            if default and allowed and default not in allowed and not already:
                errors[default_name] = (
                    f"The default {kind} must be one of the allowed {kind}s "
                    f"({', '.join(allowed)}), or leave it empty for the first of them."
                )
        if errors:
            raise ValidationError(errors)

    @property
    def region_options(self) -> list[str]:
        """The regions Access may open: the allowed list, else the default alone."""
        return list(self.allowed_regions) or ([self.default_region] if self.default_region else [])

    @property
    def service_options(self) -> list[tuple[str, str]]:
        """(slug, label) of the services Access may open, as region_options."""
        slugs = list(self.allowed_services) or (
            [self.default_service] if self.default_service else []
        )
        return [(slug, SERVICES[slug].label if slug in SERVICES else slug) for slug in slugs]

    @property
    def console_region(self) -> str:
        """Where Access opens when nothing is chosen: the default, else the first allowed."""
        return self.default_region or next(iter(self.allowed_regions), "")

    @property
    def console_service(self) -> str:
        return self.default_service or next(iter(self.allowed_services), "")

    def console_choice(self, region: str = "", service: str = "") -> tuple[str, str]:
        """(region, service) for one Access: the chosen ones (empty: the account's
        defaults), or ConsoleChoiceError naming the field if the account does not offer
        that value. Only ever values of the account's lists, which clean() checked."""
        chosen = []
        for kind, value, options, fallback in (
            ("region", region, self.region_options, self.console_region),
            ("service", service, [slug for slug, _ in self.service_options], self.console_service),
        ):
            if not value:
                chosen.append(fallback)
                continue
            if value not in options:
                shown = value[:40]
                if not options:
                    rule = (
                        f"this account offers no {kind} choice (the console opens on its home page)"
                    )
                elif len(options) == 1:
                    rule = f"this account opens the console in {options[0]} only"
                    if kind == "service":
                        rule = f"this account opens the console on {options[0]} only"
                else:
                    rule = f"this account offers only {', '.join(options)}"
                raise ConsoleChoiceError(kind, f'{kind} "{shown}" is not allowed: {rule}.')
            chosen.append(value)
        return chosen[0], chosen[1]

    @property
    def duration_text(self) -> str:
        return format_duration(self.session_duration)

    @property
    def max_window_text(self) -> str:
        return format_duration(self.max_window)


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
    kind = models.CharField(
        max_length=8,
        choices=GrantKind.choices,
        default=GrantKind.STANDING,
        help_text="Standing: Access at any time. Eligible: Access only inside a window "
        "someone else approved (or break-glass, where the account allows it).",
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
        kind = " (eligible)" if self.kind == GrantKind.ELIGIBLE else ""
        return f"{self.account} -> {grantee}{kind}"


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


class Favourite(models.Model):
    """An account a person pinned to the top of their accounts page. Confers nothing:
    the page still lists only accounts the person has a grant on (accounts_for_user)."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="favourite_accounts"
    )
    account = models.ForeignKey(PamAccount, on_delete=models.CASCADE, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["user", "account"], name="favourite_unique")]

    def __str__(self) -> str:
        return f"{self.account_id} for {self.user_id}"
