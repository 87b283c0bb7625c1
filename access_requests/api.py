"""REST API for just-in-time access requests (SPEC "Just-in-time access"):

    POST /api/v1/requests/                  ask for a window (or break-glass)
    GET  /api/v1/requests/[<id>/]           one's own, those one approves (ops: all)
    POST /api/v1/requests/<id>/approve/     and deny/, cancel/, revoke/, with {"comment"?}

The rules live in services (nobody decides their own request, a second approval from a
different person, ...); the fields are parsed by the same RequestForm as the page. An
account one may not request is a 404, as for Access; a refusal is a 403 (not allowed)
or a 409 (the request is no longer in a state for it).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Prefetch, QuerySet
from django_filters.rest_framework import DjangoFilterBackend
from drf_spectacular.utils import OpenApiResponse, extend_schema, extend_schema_view
from rest_framework import exceptions, mixins, permissions, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.request import Request
from rest_framework.response import Response

from pam_project.api import Conflict, request_fields
from pam_project.scopes import TokenScope

from . import services
from .filters import RequestFilter
from .forms import RequestForm, second_factor_fresh
from .models import COMMENT_MAX, REASON_MAX, TICKET_MAX, AccessRequest, Decision
from .selectors import requestable_accounts


class DecisionSerializer(serializers.ModelSerializer):
    class Meta:
        model = Decision
        fields = ["approver", "approver_name", "verdict", "comment", "created_at"]
        read_only_fields = fields


class AccessRequestSerializer(serializers.ModelSerializer):
    account_name = serializers.CharField(source="account.name", read_only=True)
    duration = serializers.CharField(
        source="duration_text", read_only=True, help_text="The window's length, e.g. 2h."
    )
    decisions = DecisionSerializer(many=True, read_only=True)

    class Meta:
        model = AccessRequest
        fields = [
            "id",
            "account",
            "account_name",
            "requester",
            "requester_name",
            "reason",
            "ticket",
            "duration",
            "duration_seconds",
            "requested_start",
            "status",
            "break_glass",
            "approvals_required",
            "decisions",
            "created_at",
            "expires_at",
            "decided_at",
            "starts_at",
            "ends_at",
            "ended_at",
            "ended_by_name",
            "end_reason",
        ]
        read_only_fields = fields


class AccessRequestCreateSerializer(serializers.Serializer):
    """The body of POST requests/ (for the OpenAPI document: RequestForm parses it)."""

    account = serializers.IntegerField(help_text="The PAM account (an eligible grant of yours).")
    reason = serializers.CharField(max_length=REASON_MAX, help_text="Why (required).")
    duration = serializers.CharField(
        max_length=32, help_text="The window's length: 15m up to the account's max_window."
    )
    ticket = serializers.CharField(
        max_length=TICKET_MAX, required=False, allow_blank=True, help_text="e.g. INC-1234."
    )
    starts_at = serializers.DateTimeField(
        required=False,
        allow_null=True,
        help_text="ISO 8601; left out: as soon as approved. At most 7 days ahead.",
    )
    break_glass = serializers.BooleanField(
        required=False,
        default=False,
        help_text="Open a window of at most 1h at once, where the account allows it. Needs "
        "a second factor verified in the web session in the last 5 minutes (never a token).",
    )


class RequestCommentSerializer(serializers.Serializer):
    comment = serializers.CharField(
        max_length=COMMENT_MAX,
        required=False,
        allow_blank=True,
        allow_null=True,
        help_text="Optional; audited.",
    )


class ApiRequestForm(RequestForm):
    def clean_starts_at(self) -> datetime | None:
        # PostgreSQL refuses offsets over 15:59 that Python accepts: the instant is kept,
        # in UTC.
        value = self.cleaned_data.get("starts_at")
        if value is None:
            return None
        try:
            return value.astimezone(UTC)
        except (OverflowError, ValueError):
            raise DjangoValidationError("Enter a time between years 1 and 9999.") from None


def _account_id(value: Any) -> int:
    if value is None or value == "":
        raise exceptions.ValidationError({"account": ["This field is required."]})
    if isinstance(value, bool):
        raise exceptions.ValidationError({"account": ["A valid integer is required."]})
    try:
        number = int(value)
    except (TypeError, ValueError, OverflowError):
        raise exceptions.ValidationError({"account": ["A valid integer is required."]}) from None
    if isinstance(value, float) and value != number:
        raise exceptions.ValidationError({"account": ["A valid integer is required."]})
    return number


# Beyond this, an id names no row (and PostgreSQL's bigint would refuse it).
MAX_ID = 2**63 - 1


def _comment(request: Request) -> str:
    data = request_fields(request)
    if data.get("comment") is not None and not isinstance(data["comment"], str):
        raise exceptions.ValidationError({"comment": ["Not a valid string."]})
    body = RequestCommentSerializer(data=data)
    body.is_valid(raise_exception=True)
    return body.validated_data.get("comment") or ""


def _form_data(data: dict[str, Any]) -> dict[str, Any]:
    """The body's form fields; each a string (or null), else a 400 naming it."""
    fields = {}
    for name in RequestForm.base_fields:
        value = data.get(name)
        if value is not None and not isinstance(value, str):
            raise exceptions.ValidationError({name: ["Not a valid string."]})
        fields[name] = value
    return fields


REFUSALS = {
    403: OpenApiResponse(description="Not allowed: your own request, or not an approver."),
    404: OpenApiResponse(description="No such request, or not yours to see."),
    409: OpenApiResponse(
        description="The request is no longer in a state for it (already decided, by you "
        "or others; expired; not approved)."
    ),
}


@extend_schema_view(
    list=extend_schema(summary="Access requests: yours, those you approve (ops: all)"),
    retrieve=extend_schema(summary="One access request, with its decisions"),
)
class RequestViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Just-in-time access requests. You see your own and those of the accounts you
    approve; holders of `access_requests.view_accessrequest` (ops, auditors) see all.
    Tokens: reads need scope `read`; asking and deciding need `access`."""

    serializer_class = AccessRequestSerializer
    queryset = AccessRequest.objects.none()
    permission_classes = [permissions.IsAuthenticated, TokenScope]
    filter_backends = [DjangoFilterBackend]
    filterset_class = RequestFilter

    def required_scope(self, request: Request) -> str:
        return "read" if request.method in permissions.SAFE_METHODS else "access"

    def get_queryset(self) -> QuerySet[AccessRequest]:
        return (
            AccessRequest.objects.restrict(self.request.user)
            .select_related("account")
            .prefetch_related(
                Prefetch("decisions", queryset=Decision.objects.order_by("created_at", "id"))
            )
            .order_by("-created_at", "-id")
        )

    @extend_schema(
        request=AccessRequestCreateSerializer,
        responses={
            201: AccessRequestSerializer,
            400: OpenApiResponse(
                description="A field is wrong: the body names it (duration, starts_at, "
                "reason, ticket, break_glass, second_factor, account: e.g. an open request "
                "already exists)."
            ),
            404: OpenApiResponse(description="No such account, or not one you may request."),
        },
        summary="Ask for a window on an account (pending), or break-glass (approved)",
    )
    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        data = request_fields(request)
        account_id = _account_id(data.get("account"))
        account = None
        if 0 < account_id <= MAX_ID:
            account = requestable_accounts(request.user).filter(pk=account_id).first()
        if account is None:
            raise exceptions.NotFound("No such account, or not one you may request.")
        try:
            break_glass = serializers.BooleanField().to_internal_value(
                data.get("break_glass", False)
            )
        except serializers.ValidationError as exc:
            raise exceptions.ValidationError({"break_glass": exc.detail}) from None
        form = ApiRequestForm(data=_form_data(data))
        made = form.submit(
            requester=request.user,
            account=account,
            break_glass=break_glass,
            second_factor=second_factor_fresh(request),
        )
        if made is None:
            errors = form.errors_by_field() or {"non_field_errors": form.non_field_errors()}
            raise exceptions.ValidationError(errors)
        return Response(
            self.get_serializer(self.get_queryset().get(pk=made.pk)).data,
            status=status.HTTP_201_CREATED,
        )

    def _answer(self, made: AccessRequest) -> Response:
        return Response(self.get_serializer(self.get_queryset().get(pk=made.pk)).data)

    def _run(self, operation: Any, **kwargs: Any) -> Response:
        """A decision, cancel or revoke on the request in the URL (404 unless one sees
        it): the service's refusals are 403 (not allowed) or 409 (too late)."""
        access_request = self.get_object()
        try:
            made = operation(request=access_request, comment=_comment(self.request), **kwargs)
        except services.RequestRefused as refused:
            if refused.conflict:
                raise Conflict(refused.message) from None
            raise exceptions.PermissionDenied(refused.message) from None
        return self._answer(made)

    @extend_schema(
        request=RequestCommentSerializer,
        responses={200: AccessRequestSerializer, **REFUSALS},
        summary="Approve (an approver of the account; never your own request)",
    )
    @action(detail=True, methods=["post"])
    def approve(self, request: Request, pk: str | None = None) -> Response:
        """Approve. With approvals_required 2, the second approval must come from someone
        else; the last one opens the window."""
        return self._run(services.request_decide, approver=request.user, approve=True)

    @extend_schema(
        request=RequestCommentSerializer,
        responses={200: AccessRequestSerializer, **REFUSALS},
        summary="Deny (an approver of the account): it ends the request",
    )
    @action(detail=True, methods=["post"])
    def deny(self, request: Request, pk: str | None = None) -> Response:
        return self._run(services.request_decide, approver=request.user, approve=False)

    @extend_schema(
        request=RequestCommentSerializer,
        responses={200: AccessRequestSerializer, **REFUSALS},
        summary="Cancel your own request, or end your approved window early",
    )
    @action(detail=True, methods=["post"])
    def cancel(self, request: Request, pk: str | None = None) -> Response:
        return self._run(services.request_cancel, actor=request.user)

    @extend_schema(
        request=RequestCommentSerializer,
        responses={200: AccessRequestSerializer, **REFUSALS},
        summary="Revoke an approved window (an approver of the account, or an admin)",
    )
    @action(detail=True, methods=["post"])
    def revoke(self, request: Request, pk: str | None = None) -> Response:
        """Ends the window now; its live console sessions are revoked where the resource
        allows it."""
        return self._run(services.request_revoke, actor=request.user)
