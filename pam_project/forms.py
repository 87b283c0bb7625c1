"""The form base that the admin and the API share: fields from the model, then the
service's AWS check, with the acting user given to the form one way, at construction."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.forms.utils import ErrorList
from django.utils.html import format_html, format_html_join
from django.utils.safestring import SafeString


class _Items(list):
    """The error list template reads `errors.field_id` for the list's id."""

    field_id: str | None = None


def _check_failure_html(failure: Any) -> SafeString:
    """A save AWS refused, as the Access failure page shows a failed Access: the step,
    AWS's error code (and message), then the checklist as a list."""
    return format_html(
        '<p class="pam-check-title">{}{}.</p>'
        '<p class="pam-check-step">Step that failed: <strong>{}</strong> <code>{}</code></p>'
        '<p class="pam-check-said">AWS said <code>{}</code>{}</p>'
        '<p class="pam-check-heading">What to check:</p><ul class="pam-checks">{}</ul>',
        failure.lead,
        failure.guidance.title,
        failure.step_label,
        failure.step,
        failure.code,
        f": {failure.message}" if failure.message else "",
        format_html_join("", "<li>{}</li>", ((check,) for check in failure.guidance.checks)),
    )


class GuidedErrorList(ErrorList):
    """Form errors that render a failed AWS check (a message with a `guidance`, such as
    resources.guidance.CheckFailure) as a structured list instead of one paragraph.
    Every other message, and every other format (text, JSON, the API's str()), is
    Django's own. It knows the message by its shape, not its class: pam_project sits
    below resources and imports none of it (docs/architecture.md)."""

    def get_context(self) -> dict[str, Any]:
        context = super().get_context()
        items = _Items()
        items.field_id = self.field_id
        for error in self.data:
            message = getattr(error, "message", error)
            if hasattr(message, "guidance") and not getattr(error, "params", None):
                items.append(_check_failure_html(message))
            else:
                items.extend(error if isinstance(error, ValidationError) else [error])
        context["errors"] = items
        return context


class ServiceCheckedForm(forms.ModelForm):
    """A ModelForm that, once its fields are valid, runs a service's AWS check.

    Subclasses set `checked_fields` (a change to any of them requires the check) and
    implement `run_check()`. The admin and the API then save through the service with
    `checked=True`, so one save assumes the roles once.

    The acting user comes in as `actor=`: the check's AssumeRole calls are named after
    them, so CloudTrail shows which admin saved.

    `warnings`: what the check noticed but did not refuse (a Target Role trust policy
    without sts:ExternalId); the admin shows them as warning messages, the API as its
    answer's `warnings`.
    """

    checked_fields: frozenset[str] = frozenset()

    def __init__(self, *args: Any, actor: AbstractBaseUser | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("error_class", GuidedErrorList)
        super().__init__(*args, **kwargs)
        self.actor = actor
        self.warnings: list[str] = []

    def needs_check(self) -> bool:
        return self.instance._state.adding or bool(self.checked_fields & set(self.changed_data))

    def run_check(self) -> None:
        raise NotImplementedError

    def check_rules(self) -> None:
        """The service's rules that need no AWS call (who may confer what on whom), run
        before the AWS check so a refused save assumes no role. Raise ValidationError."""

    def _post_clean(self) -> None:
        super()._post_clean()
        if self._errors:
            return
        if self.actor is None:
            raise TypeError(f"{type(self).__name__} needs actor= to check its rules")
        try:
            self.check_rules()
            if self.needs_check():
                self.run_check()
        except ValidationError as exc:
            self._update_errors(exc)


def form_changes(form: forms.ModelForm) -> dict[str, Any]:
    """The fields the person changed, with their cleaned values: what an update service
    receives from the admin and the API alike."""
    return {field: form.cleaned_data[field] for field in form.changed_data}
