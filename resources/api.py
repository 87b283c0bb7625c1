"""REST API for projects and AWS IAM resources."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import QuerySet
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.request import Request
from rest_framework.response import Response

from pam_project.api import RestrictedWrites, ServiceModelViewSet, form_errors, request_fields
from pam_project.forms import form_changes
from pam_project.roles import administers
from pam_project.scopes import TokenScope

from . import services
from .forms import AwsIamResourceForm, ProjectForm, ProjectRoleForm
from .models import AwsIamResource, Project, ProjectRole


class ProjectSerializer(serializers.ModelSerializer):
    external_id = serializers.SerializerMethodField(
        help_text="Generated, immutable; shown to the project's admins (and superusers) and "
        "to holders of the global view permission."
    )

    class Meta:
        model = Project
        fields = ["id", "name", "description", "external_id", "created_at", "updated_at"]

    def get_external_id(self, project: Project) -> str | None:
        user = self.context["request"].user
        shown = administers(user, project.pk) or user.has_perm("resources.view_project")
        return project.external_id if shown else None


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


class ProjectRoleSerializer(serializers.ModelSerializer):
    class Meta:
        model = ProjectRole
        fields = ["id", "project", "role", "user", "group", "created_at", "created_by"]
        read_only_fields = ["created_at", "created_by"]


class ProjectRoleViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    mixins.DestroyModelMixin,
    viewsets.GenericViewSet,
):
    """Who administers, approves in and audits each project: one user or one group per
    role. Given by the project's admins (never to themselves); to change one, delete it
    and give another."""

    serializer_class = ProjectRoleSerializer
    permission_classes = [TokenScope, RestrictedWrites]
    queryset = ProjectRole.objects.none()
    filterset_fields = ["project", "role", "user", "group"]

    def get_queryset(self) -> QuerySet[ProjectRole]:
        return (
            ProjectRole.objects.restrict(self.request.user)
            .select_related("project", "user", "group")
            .order_by("id")
        )

    def create(self, request: Request, *args: object, **kwargs: object) -> Response:
        form = ProjectRoleForm(data=request_fields(request), actor=request.user)
        if not form.is_valid():
            raise serializers.ValidationError(form_errors(form))
        role = services.role_create(actor=request.user, **form.cleaned_data)
        return Response(self.get_serializer(role).data, status=status.HTTP_201_CREATED)

    def perform_destroy(self, instance: ProjectRole) -> None:
        services.role_delete(role=instance, actor=self.request.user)
