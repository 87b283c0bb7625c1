"""The request form, shared by the page (/requests/new/) and the API (POST requests/):
parsing here, the rules (eligibility, ranges, MFA) in services.request_create."""

from __future__ import annotations

from django import forms
from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.http import HttpRequest

from accounts.models import ApiToken, PamAccount
from mfa import stepup
from pam_project.durations import parse_seconds

from . import services
from .models import REASON_MAX, TICKET_MAX, AccessRequest


def second_factor_fresh(request: HttpRequest) -> bool:
    """A second factor verified in this web session in the last 5 minutes. Never for an
    API token: a token is one factor however it is kept."""
    if isinstance(getattr(request, "auth", None), ApiToken):
        return False
    return stepup.is_fresh(request)


class RequestForm(forms.Form):
    reason = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=REASON_MAX,
        error_messages={"required": "Say why you need access (required)."},
        help_text="What you will do, and why now. Approvers and history see it.",
    )
    ticket = forms.CharField(
        label="Ticket reference",
        required=False,
        max_length=TICKET_MAX,
        help_text="Optional: an incident or change ticket, e.g. INC-1234.",
    )
    duration = forms.CharField(
        max_length=32,
        error_messages={"required": "Enter a duration such as 30m or 2h."},
        help_text="How long the window lasts, e.g. 30m, 1h, 2h (15m up to the account's maximum).",
    )
    starts_at = forms.DateTimeField(
        label="Start",
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        help_text="Leave empty to start as soon as it is approved; at most 7 days ahead.",
    )

    def clean_duration(self) -> int:
        return parse_seconds(self.cleaned_data["duration"])

    def submit(
        self,
        *,
        requester: AbstractUser,
        account: PamAccount,
        break_glass: bool = False,
        second_factor: bool = False,
    ) -> AccessRequest | None:
        """Create the request, or put the service's field errors on the form (None)."""
        if not self.is_valid():
            return None
        try:
            return services.request_create(
                requester=requester,
                account=account,
                reason=self.cleaned_data["reason"],
                ticket=self.cleaned_data.get("ticket") or "",
                duration_seconds=self.cleaned_data["duration"],
                starts_at=self.cleaned_data.get("starts_at"),
                break_glass=break_glass,
                second_factor=second_factor,
            )
        except ValidationError as exc:
            for field, messages in exc.message_dict.items():
                # account, break_glass, second_factor: not inputs of the form; the page
                # shows them above it, the API under their own names.
                self.add_error(field if field in self.fields else None, messages)
                self.service_errors[field] = messages
            return None

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)
        self.service_errors: dict[str, list[str]] = {}

    def errors_by_field(self) -> dict[str, list[str]]:
        """Every error under the name of the field it is about: what the API answers."""
        errors = {k: list(v) for k, v in self.errors.items() if k != "__all__"}
        errors.update(self.service_errors)
        return errors
