"""Admin forms. Field rules come from the models; the AWS check from the services."""

from __future__ import annotations

from django import forms

from pam_project.forms import ServiceCheckedForm

from . import services
from .models import AwsIamResource, Project


class ProjectForm(forms.ModelForm):
    class Meta:
        model = Project
        fields = ["name", "description"]


class AwsIamResourceForm(ServiceCheckedForm):
    checked_fields = frozenset(services.RESOURCE_CHECKED_FIELDS)

    class Meta:
        model = AwsIamResource
        fields = [
            "project",
            "name",
            "resource_role_arn",
            "set_source_identity",
            "tag_session",
            "allow_revocation",
        ]
        widgets = {"resource_role_arn": forms.TextInput(attrs={"size": 80})}

    def run_check(self) -> None:
        services.resource_check(
            project=self.instance.project,
            resource_role_arn=self.instance.resource_role_arn,
            set_source_identity=self.instance.set_source_identity,
            actor=self.actor,
        )
