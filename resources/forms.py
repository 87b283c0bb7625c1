"""Admin forms. Field rules come from the models; the AWS check from the services."""

from __future__ import annotations

from typing import Any

from django import forms

from pam_project.forms import ServiceCheckedForm
from pam_project.roles import refuse_self

from . import services
from .models import AwsIamResource, Project, ProjectRole


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

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "project" in self.fields and self.actor is not None:
            # Only projects one administers are offered (another is "not a valid choice").
            self.fields["project"].queryset = Project.objects.restrict(self.actor, "change")

    def check_rules(self) -> None:
        if self.instance.pk and "resource_role_arn" in self.changed_data:
            services.refuse_repointing(self.instance, self.instance.resource_role_arn, self.actor)

    def run_check(self) -> None:
        services.resource_check(
            project=self.instance.project,
            resource_role_arn=self.instance.resource_role_arn,
            set_source_identity=self.instance.set_source_identity,
            actor=self.actor,
        )


class ProjectRoleForm(ServiceCheckedForm):
    """One role for one user or group in a project one administers; never oneself."""

    class Meta:
        model = ProjectRole
        fields = ["project", "role", "user", "group"]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if "project" in self.fields and self.actor is not None:
            self.fields["project"].queryset = Project.objects.restrict(self.actor, "change")

    def needs_check(self) -> bool:
        return False  # nothing to ask AWS

    def check_rules(self) -> None:
        user, group = self.cleaned_data.get("user"), self.cleaned_data.get("group")
        refuse_self(
            self.actor,
            what="give a project role to",
            field="user" if user else "group",
            user=user,
            group=group,
        )
