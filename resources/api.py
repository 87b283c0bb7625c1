"""REST API for projects and AWS IAM resources."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from rest_framework import serializers

from pam_project.api import ServiceModelViewSet
from pam_project.forms import form_changes

from . import services
from .forms import AwsIamResourceForm, ProjectForm
from .models import AwsIamResource, Project


class ProjectSerializer(serializers.ModelSerializer):
    external_id = serializers.SerializerMethodField(
        help_text="Generated, immutable; shown to those who may view all projects."
    )

    class Meta:
        model = Project
        fields = ["id", "name", "description", "external_id", "created_at", "updated_at"]

    def get_external_id(self, project: Project) -> str | None:
        user = self.context["request"].user
        return project.external_id if user.has_perm("resources.view_project") else None


class ResourceSerializer(serializers.ModelSerializer):
    project = serializers.PrimaryKeyRelatedField(
        queryset=Project.objects.all(), help_text="Set at creation; cannot be changed."
    )

    class Meta:
        model = AwsIamResource
        fields = [
            "id",
            "project",
            "name",
            "resource_role_arn",
            "set_source_identity",
            "tag_session",
            "allow_revocation",
            "validated_at",
            "created_at",
            "updated_at",
        ]
        read_only_fields = ["validated_at", "created_at", "updated_at"]


class ProjectViewSet(ServiceModelViewSet):
    """Projects: read by anyone granted one of their accounts; written by admins."""

    serializer_class = ProjectSerializer
    queryset = Project.objects.none()
    create_form = update_form = ProjectForm

    def get_queryset(self) -> QuerySet[Project]:
        return Project.objects.restrict(self.request.user).order_by("name")

    def create_object(self, form: ProjectForm, *, actor: AbstractBaseUser) -> Project:
        return services.project_create(actor=actor, **form.cleaned_data)

    def update_object(
        self, instance: Project, form: ProjectForm, *, actor: AbstractBaseUser
    ) -> Project:
        return services.project_update(project=instance, actor=actor, **form_changes(form))

    def delete_object(self, instance: Project, *, actor: AbstractBaseUser) -> None:
        services.project_delete(project=instance, actor=actor)


class AwsIamResourceUpdateForm(AwsIamResourceForm):
    class Meta(AwsIamResourceForm.Meta):
        fields = [
            "name",
            "resource_role_arn",
            "set_source_identity",
            "tag_session",
            "allow_revocation",
        ]


class ResourceViewSet(ServiceModelViewSet):
    """AWS IAM resources. Saving a new Resource Role ARN assumes it first."""

    serializer_class = ResourceSerializer
    queryset = AwsIamResource.objects.none()
    create_form = AwsIamResourceForm
    update_form = AwsIamResourceUpdateForm
    immutable_fields = frozenset({"project"})

    def get_queryset(self) -> QuerySet[AwsIamResource]:
        return (
            AwsIamResource.objects.restrict(self.request.user)
            .select_related("project")
            .order_by("project__name", "name")
        )

    def create_object(self, form: AwsIamResourceForm, *, actor: AbstractBaseUser) -> AwsIamResource:
        return services.resource_create(actor=actor, checked=True, **form.cleaned_data)

    def update_object(
        self, instance: AwsIamResource, form: AwsIamResourceForm, *, actor: AbstractBaseUser
    ) -> AwsIamResource:
        return services.resource_update(
            resource=instance, actor=actor, checked=True, **form_changes(form)
        )

    def delete_object(self, instance: AwsIamResource, *, actor: AbstractBaseUser) -> None:
        services.resource_delete(resource=instance, actor=actor)
