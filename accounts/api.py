"""REST API for PAM accounts, grants and personal API tokens. (Access itself,
`POST accounts/<id>/access/`, is sessions_app/api.py's.)"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, Group, User
from django.db.models import Prefetch, QuerySet
from drf_spectacular.utils import extend_schema, extend_schema_field
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from pam_project.api import (
    NO_STORE,
    RestrictedWrites,
    ServiceModelViewSet,
    form_errors,
    request_fields,
)
from pam_project.durations import format_duration
from pam_project.forms import form_changes
from pam_project.querysets import may
from pam_project.scopes import SCOPES, TokenScope, scope_allows
from resources.aws import SERVICES
from resources.models import AwsIamResource

from . import services, tokens
from .forms import GrantForm, PamAccountForm
from .models import AccountGrant, ApiToken, GrantKind, PamAccount
from .selectors import accounts_for_user


class AccountSerializer(serializers.ModelSerializer):
    resource = serializers.PrimaryKeyRelatedField(
        queryset=AwsIamResource.objects.all(), help_text="Set at creation; cannot be changed."
    )
    session_duration = serializers.CharField(
        help_text="15m to 1h, written like 15m, 30m, 45m, 1h, 900s or 1h0m (or seconds)."
    )
    session_duration_seconds = serializers.IntegerField(source="session_duration", read_only=True)
    approver_users = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=User.objects.all(),
        help_text="Ids of the users who decide access requests (never their own).",
    )
    approver_groups = serializers.PrimaryKeyRelatedField(
        many=True,
        required=False,
        queryset=Group.objects.all(),
        help_text="Ids of the groups whose members decide access requests.",
    )
    approvals_required = serializers.ChoiceField(
        choices=[1, 2],
        required=False,
        help_text="1 (the default), or 2 from two different people.",
    )
    max_window = serializers.CharField(
        required=False,
        help_text="The longest window a request may ask for: 15m to 12h, written like 1h, "
        "4h or 8h (or seconds); 4h if left out.",
    )
    max_window_seconds = serializers.IntegerField(source="max_window", read_only=True)
    default_region = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The region the console opens in (of the Target Role's partition); empty: "
        "the first of allowed_regions, or the console's home.",
    )
    allowed_regions = serializers.ListField(
        child=serializers.CharField(),
        required=False,
        help_text="Regions Access may open (`region` of POST .../access/); the default "
        "must be one of them.",
    )
    default_service = serializers.ChoiceField(
        choices=["", *SERVICES],
        required=False,
        help_text="The console service Access opens on; empty: the first of "
        "allowed_services, or the console's home.",
    )
    allowed_services = serializers.ListField(
        child=serializers.ChoiceField(choices=list(SERVICES)),
        required=False,
        help_text="Services Access may open (`service` of POST .../access/).",
    )
    granted = serializers.SerializerMethodField(help_text="Whether you may Access it.")
    warnings = serializers.ListField(
        child=serializers.CharField(),
        source="save_warnings",
        read_only=True,
        help_text="On the answer to a create or update only: what the AWS check noticed "
        "but did not refuse, e.g. a Target Role trust policy that does not require "
        "sts:ExternalId (read with iam:GetRole where the Resource Role may).",
    )
    grant_kind = serializers.SerializerMethodField(
        help_text='How you are granted it: "standing" (Access at any time), "eligible" '
        "(Access inside an approved window: request one), or null (not granted)."
    )

    class Meta:
        model = PamAccount
        fields = [
            "id",
            "resource",
            "name",
            "description",
            "target_role_arn",
            "session_duration",
            "session_duration_seconds",
            "require_mfa",
            "allow_cli_credentials",
            "approver_users",
            "approver_groups",
            "approvals_required",
            "max_window",
            "max_window_seconds",
            "break_glass",
            "default_region",
            "allowed_regions",
            "default_service",
            "allowed_services",
            "granted",
            "grant_kind",
            "validated_at",
            "created_at",
            "updated_at",
            "warnings",
        ]
        read_only_fields = ["validated_at", "created_at", "updated_at"]

    def to_representation(self, instance: PamAccount) -> dict:
        data = super().to_representation(instance)
        data["session_duration"] = format_duration(instance.session_duration)
        data["max_window"] = format_duration(instance.max_window)
        return data

    def _grant_kinds(self) -> dict[int, str]:
        """account id -> the caller's grant kind, read once per response."""
        kinds = self.context.get("grant_kinds")
        if kinds is None:
            granted = accounts_for_user(self.context["request"].user)
            kinds = {
                pk: GrantKind.STANDING if standing else GrantKind.ELIGIBLE
                for pk, standing in granted.values_list("pk", "standing")
            }
            self.context["grant_kinds"] = kinds
        return kinds

    def get_granted(self, account: PamAccount) -> bool:
        return account.pk in self._grant_kinds()

    @extend_schema_field(
        serializers.ChoiceField(choices=GrantKind.values, allow_null=True, read_only=True)
    )
    def get_grant_kind(self, account: PamAccount) -> str | None:
        kind = self._grant_kinds().get(account.pk)
        return None if kind is None else str(kind)


class PamAccountUpdateForm(PamAccountForm):
    class Meta(PamAccountForm.Meta):
        fields = [f for f in PamAccountForm.Meta.fields if f != "resource"]


class AccountViewSet(ServiceModelViewSet):
    """PAM accounts. Saving validates the whole chain (both hops) against AWS. The
    just-in-time fields (approver_users, approver_groups, approvals_required, max_window,
    break_glass) change who decides requests and how long a window lasts, not what AWS
    must allow: changing only them calls no AWS."""

    serializer_class = AccountSerializer
    queryset = PamAccount.objects.none()
    create_form = PamAccountForm
    update_form = PamAccountUpdateForm
    immutable_fields = frozenset({"resource"})

    def get_queryset(self) -> QuerySet[PamAccount]:
        return (
            PamAccount.objects.restrict(self.request.user)
            .select_related("resource__project")
            .prefetch_related(
                Prefetch("approver_users", queryset=User.objects.only("pk")),
                Prefetch("approver_groups", queryset=Group.objects.only("pk")),
            )
            .order_by("resource__project__name", "resource__name", "name")
        )

    def create_object(self, form: PamAccountForm, *, actor: AbstractBaseUser) -> PamAccount:
        return services.account_create(actor=actor, checked=True, **form.cleaned_data)

    def update_object(
        self, instance: PamAccount, form: PamAccountForm, *, actor: AbstractBaseUser
    ) -> PamAccount:
        return services.account_update(
            account=instance, actor=actor, checked=True, **form_changes(form)
        )

    def delete_object(self, instance: PamAccount, *, actor: AbstractBaseUser) -> None:
        services.account_delete(account=instance, actor=actor)


class GrantSerializer(serializers.ModelSerializer):
    account = serializers.PrimaryKeyRelatedField(queryset=PamAccount.objects.all())
    user = serializers.PrimaryKeyRelatedField(
        queryset=User.objects.all(), allow_null=True, required=False
    )
    group = serializers.PrimaryKeyRelatedField(
        queryset=Group.objects.all(), allow_null=True, required=False
    )
    kind = serializers.ChoiceField(
        choices=GrantKind.choices,
        default=GrantKind.STANDING,
        help_text="standing (the default): Access at any time; eligible: Access only inside "
        "a window someone else approved (an access request).",
    )

    class Meta:
        model = AccountGrant
        fields = ["id", "account", "user", "group", "kind", "created_at", "created_by"]
        read_only_fields = ["created_at", "created_by"]


class GrantViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Who may Access which account: one user or one group per grant, standing (Access
    at any time) or eligible (Access inside an approved request's window). To change a
    grant, delete it and create another."""

    serializer_class = GrantSerializer
    permission_classes = [TokenScope, RestrictedWrites]
    queryset = AccountGrant.objects.none()

    def get_queryset(self) -> QuerySet[AccountGrant]:
        return (
            AccountGrant.objects.restrict(self.request.user)
            .select_related("account", "user", "group")
            .order_by("id")
        )

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        form = GrantForm(data=request_fields(request), actor=request.user)
        if not form.is_valid():
            raise serializers.ValidationError(form_errors(form))
        grant = services.grant_create(actor=request.user, **form.cleaned_data)
        return Response(self.get_serializer(grant).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: AccountGrant) -> None:
        services.grant_delete(grant=instance, actor=self.request.user)


class TokenSerializer(serializers.ModelSerializer):
    expires_in_days = serializers.IntegerField(
        write_only=True,
        required=False,
        allow_null=True,
        min_value=1,
        max_value=tokens.TOKEN_MAX_DAYS,
        help_text="Lifetime in days: 30 if left out, at most 365.",
    )
    scope = serializers.ChoiceField(
        choices=SCOPES,
        default="read",
        help_text="read (the default): reads and history; access: also Access; admin: also "
        "configuration writes, within your own permissions.",
    )

    class Meta:
        model = ApiToken
        fields = [
            "id",
            "user",
            "name",
            "prefix",
            "scope",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
            "expires_in_days",
        ]
        read_only_fields = [
            "user",
            "prefix",
            "created_at",
            "expires_at",
            "last_used_at",
            "revoked_at",
        ]


class NewTokenSerializer(TokenSerializer):
    token = serializers.CharField(read_only=True, help_text="The token. Shown once: store it now.")

    class Meta(TokenSerializer.Meta):
        fields = [*TokenSerializer.Meta.fields, "token"]


class TokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Your personal API tokens (admins with `accounts.view_apitoken` see everyone's, and
    with `accounts.delete_apitoken` revoke them). Send one as `Authorization: Bearer
    pam_...`. Only a hash is stored; revoking (DELETE) takes effect at once. Tokens expire
    (30 days by default) and die when their user's password changes or the user is
    deactivated."""

    serializer_class = TokenSerializer
    permission_classes = [permissions.IsAuthenticated, TokenScope]
    queryset = ApiToken.objects.none()

    def get_queryset(self) -> QuerySet[ApiToken]:
        return ApiToken.objects.restrict(self.request.user).select_related("user")

    def required_scope(self, request: Request) -> str:
        # Listing and revoking need no more than read: revoking a leaked token must
        # always be possible, and creating one with a token is refused outright.
        return "read"

    @extend_schema(responses={201: NewTokenSerializer})
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        if isinstance(request.auth, ApiToken):
            # A stolen token must not be able to mint itself a successor.
            raise exceptions.PermissionDenied(
                "Create tokens from a signed-in session, not with another token."
            )
        serializer = self.get_serializer(data=request.data)
        serializer.is_valid(raise_exception=True)
        token, raw = tokens.token_create(
            user=request.user,
            name=serializer.validated_data["name"],
            expires_in_days=serializer.validated_data.get("expires_in_days"),
            scope=serializer.validated_data["scope"],
        )
        token.token = raw
        return Response(
            NewTokenSerializer(token).data, status=status.HTTP_201_CREATED, headers=NO_STORE
        )

    def perform_destroy(self, instance: ApiToken) -> None:
        user, auth = self.request.user, self.request.auth
        if instance.user_id != user.pk:
            if not may(user, "delete", ApiToken):
                raise exceptions.PermissionDenied("Only its owner or an admin may revoke a token.")
            if isinstance(auth, ApiToken) and not scope_allows(auth.scope, "admin"):
                # Revoking someone else's token is an admin write, not a read.
                raise exceptions.PermissionDenied(
                    f"This token's scope is \"{auth.scope}\"; revoking another user's token "
                    'needs scope "admin".'
                )
        tokens.token_revoke(token=instance, actor=user)
