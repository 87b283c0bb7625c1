from __future__ import annotations

from django import forms

from pam_project.durations import check_session_duration, format_duration, parse_duration
from pam_project.forms import ServiceCheckedForm

from . import services
from .models import AccountGrant, PamAccount


class SessionDurationField(forms.CharField):
    """`30m` in the form, 1800 in the model."""

    default_error_messages = {"required": "Enter a duration such as 15m, 30m or 1h."}

    def prepare_value(self, value: object) -> object:
        return format_duration(value) if isinstance(value, int) else value

    def to_python(self, value: object) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            # Seconds, as the API returns them.
            check_session_duration(value)
            return value
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        return parse_duration(text)


class PamAccountForm(ServiceCheckedForm):
    checked_fields = frozenset(services.ACCOUNT_CHECKED_FIELDS)
    session_duration = SessionDurationField(
        label="Session duration",
        help_text="15m to 1h, e.g. 15m, 30m, 45m, 1h, 900s or 1h0m.",
    )

    class Meta:
        model = PamAccount
        fields = [
            "resource",
            "name",
            "description",
            "target_role_arn",
            "session_duration",
            "require_mfa",
        ]
        widgets = {
            "target_role_arn": forms.TextInput(attrs={"size": 80}),
            "description": forms.Textarea(attrs={"rows": 2}),
        }

    def run_check(self) -> None:
        services.account_check(
            resource=self.instance.resource,
            target_role_arn=self.instance.target_role_arn,
            session_duration=self.instance.session_duration,
            actor=self.actor,
        )


class GrantForm(forms.ModelForm):
    class Meta:
        model = AccountGrant
        fields = ["account", "user", "group"]

    # "Exactly one of user or group" and uniqueness come from the model's constraints,
    # which ModelForm validation runs.
