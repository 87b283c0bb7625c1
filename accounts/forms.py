from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Model

from pam_project.durations import (
    MAX_WINDOW_SECONDS,
    check_session_duration,
    check_window,
    format_duration,
    parse_duration,
    parse_window,
)
from pam_project.forms import ServiceCheckedForm
from pam_project.roles import refuse_self
from resources.aws import PARTITIONS, SERVICES
from resources.models import AwsIamResource

from . import services
from .models import AccountGrant, GrantKind, PamAccount

# The model's defaults: what a JSON body that leaves the field out means.
DEFAULT_MAX_WINDOW = PamAccount._meta.get_field("max_window").default
DEFAULT_APPROVALS = PamAccount._meta.get_field("approvals_required").default


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


class MaxWindowField(forms.CharField):
    """The longest window a request may ask for: `4h` in the form, 14400 in the model,
    15m to 12h. Left out (or empty), it is the model's default."""

    def prepare_value(self, value: object) -> object:
        return format_duration(value) if isinstance(value, int) else value

    def to_python(self, value: object) -> int | None:
        if isinstance(value, int) and not isinstance(value, bool):
            check_window(value, maximum=MAX_WINDOW_SECONDS)
            return value
        text = super().to_python(value)
        if text in self.empty_values:
            return None
        return parse_window(text, maximum=MAX_WINDOW_SECONDS)


class IdsMultipleChoiceField(forms.ModelMultipleChoiceField):
    """A ModelMultipleChoiceField that also takes model instances, as the API's PATCH
    fills in the fields a body leaves out (model_to_dict gives instances)."""

    @staticmethod
    def _ids(value: Any) -> Any:
        if isinstance(value, (list, tuple)):
            return [item.pk if isinstance(item, Model) else item for item in value]
        return value

    def clean(self, value: Any) -> Any:
        return super().clean(self._ids(value))

    def has_changed(self, initial: Any, data: Any) -> bool:
        return super().has_changed(initial, self._ids(data))


# Every partition's regions, grouped; the model's clean() keeps them to the Target Role's.
REGION_CHOICES = [(p.name, [(r, r) for r in p.regions]) for p in PARTITIONS.values()]
SERVICE_CHOICES = [(s.slug, f"{s.label} ({s.slug})") for s in SERVICES.values()]


class PamAccountForm(ServiceCheckedForm):
    checked_fields = frozenset(services.ACCOUNT_CHECKED_FIELDS)
    default_region = forms.ChoiceField(
        label="Default region",
        choices=[("", "(none: the console's home)"), *REGION_CHOICES],
        required=False,
        help_text=PamAccount._meta.get_field("default_region").help_text,
    )
    allowed_regions = forms.MultipleChoiceField(
        label="Regions offered",
        choices=REGION_CHOICES,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=PamAccount._meta.get_field("allowed_regions").help_text,
    )
    default_service = forms.ChoiceField(
        label="Default service",
        choices=[("", "(none: the console's home)"), *SERVICE_CHOICES],
        required=False,
        help_text=PamAccount._meta.get_field("default_service").help_text,
    )
    allowed_services = forms.MultipleChoiceField(
        label="Services offered",
        choices=SERVICE_CHOICES,
        required=False,
        widget=forms.SelectMultiple(attrs={"size": 8}),
        help_text=PamAccount._meta.get_field("allowed_services").help_text,
    )
    session_duration = SessionDurationField(
        label="Session duration",
        help_text="15m to 1h, e.g. 15m, 30m, 45m, 1h, 900s or 1h0m.",
    )
    max_window = MaxWindowField(
        label="Longest window",
        required=False,
        initial=DEFAULT_MAX_WINDOW,
        help_text="The longest window a request may ask for: 15m to 12h, e.g. 1h, 4h, "
        "8h (default 4h).",
    )
    approvals_required = forms.TypedChoiceField(
        label="Approvals required",
        choices=PamAccount._meta.get_field("approvals_required").choices,
        coerce=int,
        required=False,
        empty_value=None,
        initial=DEFAULT_APPROVALS,
        help_text="1, or 2 from two different people. Nobody approves their own request.",
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
            "allow_cli_credentials",
            "approver_users",
            "approver_groups",
            "approvals_required",
            "max_window",
            "break_glass",
            "default_region",
            "allowed_regions",
            "default_service",
            "allowed_services",
        ]
        field_classes = {
            "approver_users": IdsMultipleChoiceField,
            "approver_groups": IdsMultipleChoiceField,
        }
        widgets = {
            "target_role_arn": forms.TextInput(attrs={"size": 80}),
            "description": forms.Textarea(attrs={"rows": 2}),
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "resource" in self.fields and self.actor is not None:
            # Only resources of projects one administers are offered.
            self.fields["resource"].queryset = AwsIamResource.objects.restrict(self.actor, "change")
            self._resource_from_initial()

    def _resource_from_initial(self) -> None:
        """The admin's add form, opened with ?resource=<id>: the unsaved account takes
        that resource, so the page can show the policies to create in AWS before the
        first save. Only a resource this person may choose: any other id (or no number)
        is ignored, never a hint of another project's External ID."""
        chosen = self.initial.get("resource")
        if self.is_bound or not self.instance._state.adding or chosen in (None, ""):
            return
        if not str(chosen).isdigit():
            return
        resource = self.fields["resource"].queryset.filter(pk=int(chosen)).first()
        if resource is not None:
            self.instance.resource = resource

    def check_rules(self) -> None:
        data = self.cleaned_data
        services.account_rules(
            account=self.instance,
            actor=self.actor,
            target_role_changed="target_role_arn" in self.changed_data,
            approver_users=data.get("approver_users")
            if "approver_users" in self.changed_data
            else None,
            approver_groups=(
                data.get("approver_groups") if "approver_groups" in self.changed_data else None
            ),
        )

    def clean_max_window(self) -> int:
        value = self.cleaned_data.get("max_window")
        return DEFAULT_MAX_WINDOW if value is None else value

    def clean_approvals_required(self) -> int:
        value = self.cleaned_data.get("approvals_required")
        return DEFAULT_APPROVALS if value is None else value

    def run_check(self) -> None:
        checked = services.account_check(
            resource=self.instance.resource,
            target_role_arn=self.instance.target_role_arn,
            session_duration=self.instance.session_duration,
            actor=self.actor,
        )
        self.warnings.extend(checked.warnings)


class GrantKindField(forms.ChoiceField):
    """standing (the default, also when left out) or eligible."""

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("choices", GrantKind.choices)
        kwargs.setdefault("required", False)
        kwargs.setdefault("initial", GrantKind.STANDING)
        kwargs.setdefault(
            "help_text",
            "Standing: Access at any time. Eligible: Access only inside a window someone "
            "else approved.",
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> str:
        return super().clean(value) or GrantKind.STANDING

    def has_changed(self, initial: Any, data: Any) -> bool:
        # A row that leaves the kind out means standing: an empty extra row stays empty.
        return (data or GrantKind.STANDING) != (initial or GrantKind.STANDING)


class GrantForm(forms.ModelForm):
    """A grant of an account of a project one administers, to anyone but oneself (or a
    group one is in). `actor=` is the person saving; the admin's inline and the API pass
    it, and grant_create checks the same rules again."""

    kind = GrantKindField()

    class Meta:
        model = AccountGrant
        fields = ["account", "user", "group", "kind"]

    def __init__(self, *args: Any, actor: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.actor = actor
        if "account" in self.fields and actor is not None:
            self.fields["account"].queryset = PamAccount.objects.restrict(actor, "change")

    def clean(self) -> dict[str, Any]:
        data = super().clean()
        if self.actor is not None and not self.errors:
            user, group = data.get("user"), data.get("group")
            refuse_self(
                self.actor,
                what="grant an account to",
                field="user" if user else "group",
                user=user,
                group=group,
            )
        return data

    # "Exactly one of user or group" and uniqueness come from the model's constraints,
    # which ModelForm validation runs.
