"""REST API for Access (`POST accounts/<id>/access/`) and Console Session history."""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema
from rest_framework import exceptions, filters, pagination, permissions, serializers, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from access_requests.models import AccessRequest
from access_requests.selectors import windows_at
from accounts.models import PamAccount
from accounts.selectors import granted_account
from pam_project.api import NO_STORE
from pam_project.querysets import may
from pam_project.scopes import TokenScope, scope_allows
from resources.aws import ConsoleChoiceError

from . import revocation
from .access import AccessFailed, CredentialsNotAllowed, StepUpRequired, access_from_request
from .exports import approvals_prefetch, approvers_of
from .failures import failure_guidance, failure_status, shows_setup
from .filters import SessionFilter, WhoHadAccessForm
from .models import ConsoleSession, FailureStep, Kind
from .selectors import active_at_q, may_revoke, may_revoke_account


class AccessSerializer(serializers.Serializer):
    session_id = serializers.IntegerField()
    signin_url = serializers.URLField(
        help_text="One-time AWS Console sign-in URL, valid for 15 minutes. A credential: "
        "open it, do not store or log it."
    )
    expires_at = serializers.DateTimeField(help_text="When the console session ends (AWS).")
    region = serializers.CharField(help_text="Where the console opens; empty: its home page.")
    service = serializers.CharField(help_text="The console service it opens; empty: home.")


class CredentialsSerializer(serializers.Serializer):
    """The AWS CLI's credential_process output, as is: `pam credentials` prints it.
    https://docs.aws.amazon.com/cli/v1/userguide/cli-configure-sourcing-external.html"""

    Version = serializers.IntegerField(help_text="Always 1.")
    AccessKeyId = serializers.CharField()
    SecretAccessKey = serializers.CharField(help_text="A secret: never stored or logged.")
    SessionToken = serializers.CharField(help_text="A secret: never stored or logged.")
    Expiration = serializers.DateTimeField(
        help_text="When the keys stop working (AWS's own expiry, ISO 8601 UTC)."
    )


class AccessBodySerializer(serializers.Serializer):
    region = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The region the console opens in: one of the account's allowed_regions "
        "(or its default_region). Left out or empty: the account's default.",
    )
    service = serializers.CharField(
        required=False,
        allow_blank=True,
        help_text="The console service to open, e.g. ec2: one of the account's "
        "allowed_services (or its default_service). Left out or empty: the default.",
    )


def _console_choice(request: Request) -> dict[str, str]:
    """`region`/`service` of the body: strings, or a 400 naming the field."""
    data = request.data if isinstance(request.data, dict) else {}
    if hasattr(request.data, "dict"):
        data = request.data.dict()
    chosen = {}
    for name in ("region", "service"):
        value = data.get(name)
        if value is None:
            value = ""
        if not isinstance(value, str):
            raise exceptions.ValidationError({name: [f"A {name} name (a string)."]})
        chosen[name] = value.strip()
    return chosen


class AccessErrorSerializer(serializers.Serializer):
    session_id = serializers.IntegerField(help_text="The failed attempt's Console Session.")
    step = serializers.ChoiceField(choices=FailureStep.choices)
    code = serializers.CharField(help_text="AWS's error code, or ours for network faults.")
    message = serializers.CharField()
    checks = serializers.ListField(child=serializers.CharField(), help_text="What to check.")


class RevokeSerializer(serializers.Serializer):
    reason = serializers.CharField(max_length=500, help_text="Why (required; audited).")


def _reason_of(request: Request) -> str:
    reason = request.data.get("reason") if isinstance(request.data, dict) else None
    if not isinstance(reason, str) or not reason.strip():
        raise exceptions.ValidationError({"reason": ["Say why the access is being revoked."]})
    return reason


def _may_revoke(request: Request, owner_id: int | None, by_permission: bool) -> None:
    """The session's own user may revoke it; anyone else needs the revoke permission,
    and through a token the `admin` scope."""
    if owner_id == request.user.pk:
        return
    if not by_permission:
        raise exceptions.PermissionDenied(
            "Only its own user, an admin or approver of its project, or ops (the revoke "
            "permission) may."
        )
    scope = getattr(request.auth, "scope", None)
    if scope is not None and not scope_allows(scope, "admin"):
        raise exceptions.PermissionDenied(
            f'This token\'s scope is "{scope}"; revoking others\' sessions needs scope "admin".'
        )


def _access_failed(request: Request, account: PamAccount, failure: AccessFailed) -> Response:
    """A failed Access (recorded on its row) as the API answers it: the step, the code,
    what to check; AWS's own message only to who administers the project."""
    setup = shows_setup(request.user, account, failure.step)
    body = {
        "session_id": failure.session.pk,
        "step": failure.step,
        "code": failure.code,
        # AWS's own words can quote account IDs and ARNs: project admins only.
        "message": failure.message if setup else "",
        "checks": failure_guidance(account, failure, request.user).checks,
    }
    headers = dict(NO_STORE)
    if failure.retry_after:
        headers["Retry-After"] = str(failure.retry_after)
    return Response(body, status=failure_status(failure.step), headers=headers)


def _revocation_failed(failed: revocation.RevocationFailed) -> Response:
    body = {
        "detail": "IAM did not take the revocation; it is recorded and retried every minute.",
        "code": failed.error.code,
        "message": failed.error.message,
    }
    return Response(body, status=502, headers=NO_STORE)


# What both ways into the chain (console sign-in, CLI credentials) can answer besides
# their own refusals.
CHAIN_FAILURES = {
    404: OpenApiResponse(description="No such account, or not yours to see."),
    502: OpenApiResponse(AccessErrorSerializer, description="An AWS step failed."),
    429: OpenApiResponse(AccessErrorSerializer, description="Too many attempts (see Retry-After)."),
    503: OpenApiResponse(AccessErrorSerializer, description="Could not finish here."),
}


class AccessViewSet(viewsets.GenericViewSet):
    """Access from a script: `POST /api/v1/accounts/<id>/access/`, beside the accounts
    endpoint it extends. The same grants, recording and failures as the web page."""

    queryset = PamAccount.objects.none()
    permission_classes = [permissions.IsAuthenticated, TokenScope]
    serializer_class = AccessSerializer

    def required_scope(self, request: Request) -> str:
        return "admin" if self.action == "revoke_sessions" else "access"

    def get_queryset(self) -> QuerySet[PamAccount]:
        user = self.request.user
        if self.action == "revoke_sessions" and may(user, "revoke", ConsoleSession):
            # The global revoke permission acts everywhere (SPEC "Separation of duties"):
            # ops end an incident's sessions on accounts they otherwise do not see.
            return PamAccount.objects.select_related("resource__project")
        return PamAccount.objects.restrict(user).select_related("resource__project")

    @extend_schema(
        request=AccessBodySerializer,
        responses={
            200: AccessSerializer,
            400: OpenApiResponse(
                description="`region` or `service` not one this account offers (the body "
                "names the field and the rule); nothing was attempted or recorded."
            ),
            403: OpenApiResponse(
                description="Visible to you (you manage it) but not granted; or the account "
                "requires MFA (require_mfa), which an API token can never satisfy."
            ),
            **CHAIN_FAILURES,
        },
        summary="Access: a console sign-in URL for this account",
        tags=["accounts"],
    )
    @action(detail=True, methods=["post"])
    def access(self, request: Request, pk: str | None = None) -> Response:
        """Run the Access chain for this account."""
        account = self._granted()
        chosen = _console_choice(request)
        try:
            granted = access_from_request(request, account, **chosen)
        except ConsoleChoiceError as refused:
            # Checked before anything is written: nothing was attempted or recorded.
            raise exceptions.ValidationError({refused.field: [refused.message]}) from None
        except StepUpRequired as refused:
            raise exceptions.PermissionDenied(refused.message) from None
        except AccessFailed as failure:
            return _access_failed(request, account, failure)
        body = {
            "session_id": granted.session.pk,
            "signin_url": granted.signin_url,
            "expires_at": serializers.DateTimeField().to_representation(granted.session.expires_at),
            "region": granted.session.region,
            "service": granted.session.service,
        }
        return Response(body, headers=NO_STORE)

    @extend_schema(
        request=None,
        responses={
            200: CredentialsSerializer,
            403: OpenApiResponse(
                description="Not granted (but visible to you); the account's "
                "allow_cli_credentials is off; or it requires MFA (require_mfa), which an API "
                "token can never satisfy. Nothing was sent to AWS."
            ),
            **CHAIN_FAILURES,
        },
        summary="CLI credentials: the Target Role's temporary keys (credential_process)",
        tags=["accounts"],
    )
    @action(detail=True, methods=["post"])
    def credentials(self, request: Request, pk: str | None = None) -> Response:
        """The Access chain without its federation step, for accounts with
        allow_cli_credentials: hop 2's keys as the AWS CLI's credential_process JSON,
        recorded as a Console Session of kind `credentials` (revocable like any). The
        body is ignored: nothing the client sends becomes a credential."""
        account = self._granted()
        try:
            granted = access_from_request(request, account, kind=Kind.CREDENTIALS)
        except (CredentialsNotAllowed, StepUpRequired) as refused:
            raise exceptions.PermissionDenied(refused.message) from None
        except AccessFailed as failure:
            return _access_failed(request, account, failure)
        keys = granted.credentials
        body = {
            "Version": 1,
            "AccessKeyId": keys.access_key_id,
            "SecretAccessKey": keys.secret_access_key,
            "SessionToken": keys.session_token,
            # AWS's own expiry (hop 2's Credentials.Expiration), in UTC.
            "Expiration": keys.expiration.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
        }
        return Response(body, headers=NO_STORE)

    def _granted(self) -> PamAccount:
        """The account of the URL (404 unless visible), read again through the grants for
        the `standing` annotation Access uses (403 if visible but not granted)."""
        account = self.get_object()
        account = granted_account(self.request.user, account.pk)
        if account is None:
            raise exceptions.PermissionDenied("You are not granted this account.")
        return account

    @extend_schema(
        request=RevokeSerializer,
        responses={
            200: OpenApiResponse(description='{"revoked": [session ids], "state": "written"}'),
            403: OpenApiResponse(description="Needs the revoke permission (and scope admin)."),
            404: OpenApiResponse(description="No such account, or not yours to see."),
            502: OpenApiResponse(description="IAM refused the write (recorded, retried)."),
        },
        summary="Revoke every session of this account's Target Role (incidents)",
        tags=["accounts"],
    )
    @action(detail=True, methods=["post"])
    def revoke_sessions(self, request: Request, pk: str | None = None) -> Response:
        """AWS's AWSRevokeOlderSessions: every credential of the Target Role issued
        until now stops working."""
        account = self.get_object()
        _may_revoke(request, None, may_revoke_account(request.user, account))
        try:
            done = revocation.account_sessions_revoke(
                account=account, actor=request.user, reason=_reason_of(request)
            )
        except revocation.RevocationRefused as refused:
            raise exceptions.ValidationError({"detail": refused.message}) from None
        except revocation.RevocationFailed as failed:
            return _revocation_failed(failed)
        revoked = list(
            ConsoleSession.objects.filter(
                status="revoked", target_role_arn=done.target_role_arn, revoked_at=done.before
            ).values_list("pk", flat=True)
        )
        return Response({"revoked": revoked, "state": done.state}, headers=NO_STORE)


def _iso(value: datetime | None, zone: tzinfo) -> str | None:
    # DRF's DateTimeField output (ISO 8601 in the current zone, UTC as "Z") without its
    # per-value settings lookups; tests/test_api.py holds the two equal.
    if value is None:
        return None
    text = value.astimezone(zone).isoformat()
    return text[:-6] + "Z" if text.endswith("+00:00") else text


class SessionSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)
    resource = serializers.IntegerField(source="account.resource_id", read_only=True)
    resource_name = serializers.CharField(source="account.resource.name", read_only=True)
    project = serializers.IntegerField(source="account.resource.project_id", read_only=True)
    project_name = serializers.CharField(source="account.resource.project.name", read_only=True)
    # Just-in-time access: the approved window (or break-glass) the session ran under.
    # All null / false / empty for a session under a standing grant.
    break_glass = serializers.SerializerMethodField(
        help_text="Opened under a break-glass window (no approval beforehand)."
    )
    request_reason = serializers.CharField(
        source="access_request.reason",
        read_only=True,
        allow_null=True,
        help_text="The reason given in the request; null under a standing grant.",
    )
    request_ticket = serializers.CharField(
        source="access_request.ticket",
        read_only=True,
        allow_null=True,
        help_text="The request's ticket reference (may be empty); null under a standing grant.",
    )
    approvers = serializers.SerializerMethodField(
        help_text="Who approved the request, in order (empty for break-glass and standing)."
    )

    class Meta:
        model = ConsoleSession
        fields = [
            "id",
            "user",
            "user_email",
            "account",
            "account_name",
            "resource",
            "resource_name",
            "project",
            "project_name",
            "target_role_arn",
            "resource_role_arn",
            "role_session_name",
            "duration_seconds",
            "region",
            "service",
            "kind",
            "status",
            "failure_step",
            "error_code",
            "error_message",
            "refused_count",
            "client_ip",
            "user_agent",
            "assumed_role_arn",
            "access_key_id",
            "assumed_role_id",
            "created_at",
            "activated_at",
            "expires_at",
            "ended_at",
            "revoked_at",
            "revoked_by_name",
            "revoke_reason",
            "revocation_error",
            "access_request",
            "break_glass",
            "request_reason",
            "request_ticket",
            "approvers",
        ]
        read_only_fields = fields
        extra_kwargs = {
            "access_request": {
                "help_text": "The access request whose window this ran under; null for a "
                "standing grant."
            }
        }

    @staticmethod
    def _request(instance: ConsoleSession) -> AccessRequest | None:
        return instance.access_request if instance.access_request_id else None

    def get_break_glass(self, instance: ConsoleSession) -> bool:
        request = self._request(instance)
        return bool(request and request.break_glass)

    def get_approvers(self, instance: ConsoleSession) -> list[str]:
        return approvers_of(self._request(instance))

    def to_representation(self, instance: ConsoleSession) -> dict[str, Any]:
        # A list page is 100 rows of 25 fields; going through DRF's per-field machinery
        # was most of its server time. Same output: tests/test_api.py holds this to
        # ModelSerializer's own representation.
        account = instance.account
        resource = account.resource
        request = self._request(instance)
        zone = timezone.get_current_timezone()
        return {
            "id": instance.pk,
            "user": instance.user_id,
            "user_email": instance.user_email,
            "account": instance.account_id,
            "account_name": account.name,
            "resource": account.resource_id,
            "resource_name": resource.name,
            "project": resource.project_id,
            "project_name": resource.project.name,
            "target_role_arn": instance.target_role_arn,
            "resource_role_arn": instance.resource_role_arn,
            "role_session_name": instance.role_session_name,
            "duration_seconds": instance.duration_seconds,
            "region": instance.region,
            "service": instance.service,
            "kind": instance.kind,
            "status": instance.status,
            "failure_step": instance.failure_step,
            "error_code": instance.error_code,
            "error_message": instance.error_message,
            "refused_count": instance.refused_count,
            "client_ip": None if instance.client_ip is None else str(instance.client_ip),
            "user_agent": instance.user_agent,
            "assumed_role_arn": instance.assumed_role_arn,
            "access_key_id": instance.access_key_id,
            "assumed_role_id": instance.assumed_role_id,
            "created_at": _iso(instance.created_at, zone),
            "activated_at": _iso(instance.activated_at, zone),
            "expires_at": _iso(instance.expires_at, zone),
            "ended_at": _iso(instance.ended_at, zone),
            "revoked_at": _iso(instance.revoked_at, zone),
            "revoked_by_name": instance.revoked_by_name,
            "revoke_reason": instance.revoke_reason,
            "revocation_error": instance.revocation_error,
            "access_request": instance.access_request_id,
            "break_glass": bool(request and request.break_glass),
            "request_reason": request.reason if request else None,
            "request_ticket": request.ticket if request else None,
            "approvers": approvers_of(request),
        }


class WindowSerializer(serializers.ModelSerializer):
    """An approved window on an account: who could Access it, from when to when, why."""

    approvers = serializers.SerializerMethodField(help_text="Who approved it, in order.")
    # Plain text in the schema: a second enum named "status" beside the sessions' one
    # would need its own ENUM_NAME_OVERRIDES entry.
    status = serializers.CharField(
        read_only=True, help_text="approved (open now), ended, or revoked (taken back early)."
    )

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "account",
            "requester",
            "requester_name",
            "status",
            "break_glass",
            "reason",
            "ticket",
            "starts_at",
            "ends_at",
            "ended_at",
            "approvers",
        ]
        read_only_fields = fields

    def get_approvers(self, instance: AccessRequest) -> list[str]:
        return approvers_of(instance)


class WhoHadAccessSerializer(serializers.Serializer):
    account = serializers.IntegerField()
    at = serializers.DateTimeField()
    sessions = SessionSerializer(many=True, help_text="Console sessions live at `at`.")
    windows = WindowSerializer(
        many=True, help_text="Approved windows covering `at` (may Access; not a session)."
    )


class SessionCursorPagination(pagination.CursorPagination):
    # A cursor keeps each page a short index range scan however deep one pages into
    # millions of rows, and rows arriving meanwhile never shift a page.
    ordering = "-created_at"
    page_size = 100
    page_size_query_param = "limit"
    max_page_size = 1000


class SessionViewSet(viewsets.ReadOnlyModelViewSet):
    """Console Sessions: one per Access attempt. Ops (the `sessions_app.view_consolesession`
    permission) see all of them; everyone else sees their own."""

    serializer_class = SessionSerializer
    queryset = ConsoleSession.objects.none()
    filter_backends = [DjangoFilterBackend, filters.OrderingFilter]
    filterset_class = SessionFilter
    ordering_fields = ["created_at"]
    ordering = ["-created_at"]
    pagination_class = SessionCursorPagination

    def required_scope(self, request: Request) -> str:
        # Revoking one's own session is `access`; someone else's is checked below.
        if self.action == "revoke":
            return "access"
        return "read" if request.method in permissions.SAFE_METHODS else "admin"

    @extend_schema(
        request=RevokeSerializer,
        responses={
            200: SessionSerializer,
            400: OpenApiResponse(description="No reason, or not revocable (names the rule)."),
            403: OpenApiResponse(description="Seen (ops) but not yours to revoke."),
            404: OpenApiResponse(description="No such session, or not yours to see."),
            502: OpenApiResponse(description="IAM refused the write (recorded, retried)."),
        },
        summary="Revoke a live console session",
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Deny the session's credentials on its Target Role (within minutes, console
        included). Idempotent."""
        session = self.get_object()
        _may_revoke(request, session.user_id, may_revoke(request.user, session))
        try:
            revoked = revocation.session_revoke(
                session=session, actor=request.user, reason=_reason_of(request)
            )
        except revocation.RevocationRefused as refused:
            raise exceptions.ValidationError({"detail": refused.message}) from None
        except revocation.RevocationFailed as failed:
            return _revocation_failed(failed)
        return Response(self.get_serializer(revoked).data, headers=NO_STORE)

    @extend_schema(
        parameters=[
            OpenApiParameter(
                "account", OpenApiTypes.INT, required=True, description="PAM account id."
            ),
            OpenApiParameter(
                "at", OpenApiTypes.DATETIME, required=True, description="The instant (ISO 8601)."
            ),
        ],
        responses={
            200: WhoHadAccessSerializer,
            400: OpenApiResponse(description="No account, or `at` is not an ISO 8601 time."),
        },
        summary="Who had access to an account at an instant",
    )
    @action(detail=False, methods=["get"], filter_backends=[], pagination_class=None)
    def who_had_access(self, request: Request) -> Response:
        """Console sessions that gave access to the account at `at` (as the list's
        `?account=&active_at=` filter), and the approved windows that covered `at`: the
        people who could have opened one then, whether or not they did. Both as you may
        see them (your own, or everyone's with the history permission)."""
        form = WhoHadAccessForm(request.query_params)
        if not form.is_valid():
            raise exceptions.ValidationError(form.errors)
        account_id, instant = form.cleaned_data["account"], form.cleaned_data["at"]
        sessions = (
            self.get_queryset()
            .filter(account_id=account_id)
            .filter(active_at_q(instant))
            .order_by("activated_at", "id")
        )
        account = PamAccount.objects.filter(pk=account_id).first()
        windows = (
            (windows_at(account, instant) if account else AccessRequest.objects.none())
            .restrict(request.user)
            .prefetch_related(approvals_prefetch("decisions"))
            .order_by("starts_at", "id")
        )
        body = {
            "account": account_id,
            "at": _iso(instant, timezone.get_current_timezone()),
            "sessions": SessionSerializer(sessions, many=True).data,
            "windows": WindowSerializer(windows, many=True).data,
        }
        return Response(body)

    def get_queryset(self) -> QuerySet[ConsoleSession]:
        # Of the joined account, resource and project the rows show only names and ids;
        # loading their other columns (timestamps, descriptions) cost a tenth of a page.
        # The request a session ran under comes in the same join (its reason, ticket and
        # break-glass flag) and its approvals in one more query per page.
        sessions = ConsoleSession.objects.restrict(self.request.user)
        return (
            sessions.select_related("account__resource__project", "access_request")
            .only(
                *(field.name for field in ConsoleSession._meta.concrete_fields),
                "account__name",
                "account__resource",
                "account__resource__name",
                "account__resource__project",
                "account__resource__project__name",
                "access_request__reason",
                "access_request__ticket",
                "access_request__break_glass",
            )
            .prefetch_related(approvals_prefetch())
        )
