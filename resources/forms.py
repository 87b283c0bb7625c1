"""Admin forms. Field rules come from the models; the AWS check from the services."""

from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from . import services
from .models import AwsIamResource, Project


class ServiceCheckedForm(forms.ModelForm):
    """A ModelForm that, once its fields are valid, runs a service's AWS check.

    Subclasses set `checked_fields` (a change to any of them requires the check) and
    implement `run_check()`. The admin then saves through the service with
    `checked=True`, so one save assumes the roles once.
    """

    checked_fields: frozenset[str] = frozenset()
    actor = None  # set by the admin before validation

    def needs_check(self) -> bool:
        return self.instance._state.adding or bool(self.checked_fields & set(self.changed_data))

    def run_check(self) -> None:
        raise NotImplementedError

    def _post_clean(self) -> None:
        super()._post_clean()
        if self._errors or not self.needs_check():
            return
        try:
            self.run_check()
        except ValidationError as exc:
            self._update_errors(exc)


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description"]


class AwsIamResourceForm(ServiceCheckedForm):
    checked_fields = frozenset(services.RESOURCE_CHECKED_FIELDS)

    class Meta:
        model = AwsIamResource
        fields = ["project", "name", "resource_role_arn", "set_source_identity", "tag_session"]
        widgets = {"resource_role_arn": forms.TextInput(attrs={"size": 80})}

    def run_check(self) -> None:
        services.resource_check(
            project=self.instance.project,
            resource_role_arn=self.instance.resource_role_arn,
            set_source_identity=self.instance.set_source_identity,
            actor=self.actor,
        )
