"""Writes to projects and AWS IAM resources, with the checks every entry point shares.

The admin forms, the API and the command line all call these; none validates on its own.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone

from audit.services import delete_recorded, record_create, record_update, snapshot
from pam_project.db import save_unique
from pam_project.roles import refuse_self, require_admin, require_superuser
from pam_project.users import user_label

from . import aws
from .guidance import check_failure
from .models import AwsIamResource, Project, ProjectRole

VALIDATION_DURATION_SECONDS = 900  # the shortest session STS grants


def actor_session_name(actor: AbstractUser) -> str:
    """Validation calls are named after the admin who saved, so CloudTrail shows who."""
    return aws.session_name_for(user_label(actor))


def _role_in_deployment_partition(field: str, role: aws.RoleArn) -> None:
    partition = aws.deployment_partition()
    if role.partition != partition:
        raise ValidationError(
            {
                field: f"This deployment runs in the {partition} partition "
                f"(region {aws.region()}); it cannot assume a role in {role.partition}."
            }
        )


def resource_check(
    *, project: Project, resource_role_arn: str, set_source_identity: bool, actor: AbstractUser
) -> aws.AssumedRole:
    """Assume the Resource Role with the project's External ID, or raise ValidationError
    on `resource_role_arn` with AWS's error code and what to check."""
    try:
        role = aws.parse_role_arn(resource_role_arn)
    except aws.ArnError as exc:
        raise ValidationError({"resource_role_arn": str(exc)}) from None
    _role_in_deployment_partition("resource_role_arn", role)
    session_name = actor_session_name(actor)
    try:
        return aws.assume_resource_role(
            role_arn=role.arn,
            external_id=project.external_id,
            session_name=session_name,
            duration_seconds=VALIDATION_DURATION_SECONDS,
            source_identity=session_name if set_source_identity else None,
        )
    except aws.AwsStepError as exc:
        # The failure page's checklist, in parts: the admin lists it, the API reads text.
        message = check_failure(
            exc,
            external_id=project.external_id,
            resource_role_arn=role.arn,
            source_identity=set_source_identity,
        )
        raise ValidationError({"resource_role_arn": message}) from None


PROJECT_AUDIT = ["name", "description", "external_id"]
RESOURCE_AUDIT = [
    "project",
    "name",
    "resource_role_arn",
    "set_source_identity",
    "tag_session",
    "allow_revocation",
]


def project_create(*, name: str, description: str = "", actor: AbstractUser) -> Project:
    require_superuser(actor, what="create a project")
    project = Project(name=name.strip(), description=description)
    project.full_clean()
    with transaction.atomic():
        save_unique(project, "name")
        record_create(project, PROJECT_AUDIT, actor)
    return project


def project_update(*, project: Project, actor: AbstractUser, **changes: object) -> Project:
    for field in changes:
        if field not in {"name", "description"}:
            raise ValidationError({field: "This field cannot be changed."})
    require_admin(actor, project.pk, what="change it")
    before = snapshot(project, PROJECT_AUDIT)
    for field, value in changes.items():
        setattr(project, field, value.strip() if field == "name" else value)
    project.full_clean()
    with transaction.atomic():
        save_unique(project, "name")
        record_update(project, before, PROJECT_AUDIT, actor)
    return project


def project_delete(*, project: Project, actor: AbstractUser) -> None:
    require_superuser(actor, what="delete a project")
    if project.resources.exists():
        raise ValidationError(
            "This project still has AWS IAM resources: delete them first.", code="in_use"
        )
    delete_recorded(project, PROJECT_AUDIT, actor)


def resource_delete(*, resource: AwsIamResource, actor: AbstractUser) -> None:
    require_admin(actor, resource.project_id, what="delete its resources")
    if resource.accounts.exists():
        raise ValidationError(
            "This resource still has PAM accounts: delete them first.", code="in_use"
        )
    delete_recorded(resource, RESOURCE_AUDIT, actor)


RESOURCE_FIELDS = {
    "name",
    "resource_role_arn",
    "set_source_identity",
    "tag_session",
    "allow_revocation",
}
# Changing these changes what AWS must allow, so saving re-validates.
RESOURCE_CHECKED_FIELDS = {"resource_role_arn", "set_source_identity"}


def refuse_repointing(resource: AwsIamResource, new_arn: str, actor: AbstractUser | None) -> None:
    """A new Resource Role changes what every account of the resource can reach. Nobody
    re-points a resource holding an account granted to them (another admin must), and
    a Resource Role is never also one of its own Target Roles."""
    if actor is not None and actor.pk:
        granted = models.Q(grants__user=actor) | models.Q(grants__group__user=actor)
        if resource.accounts.filter(granted).exists():
            raise ValidationError(
                {
                    "resource_role_arn": "You are granted an account of this resource, so "
                    "you cannot change its Resource Role: another admin must do it."
                },
                code="self_conferred",
            )
    if resource.accounts.filter(target_role_arn=new_arn).exists():
        raise ValidationError(
            {
                "resource_role_arn": "An account of this resource has this role as its "
                "Target Role: the Resource Role must be a different role."
            },
            code="same_role",
        )


def resource_create(
    *,
    project: Project,
    name: str,
    resource_role_arn: str,
    set_source_identity: bool = False,
    tag_session: bool = False,
    allow_revocation: bool = True,
    actor: AbstractUser,
    checked: bool = False,
) -> AwsIamResource:
    """Create a resource once its Resource Role can be assumed.

    `checked=True` means the caller (the admin form) has just run resource_check on
    these exact values, so the role is not assumed twice for one save.
    """
    require_admin(actor, project.pk, what="add resources to it")
    resource = AwsIamResource(
        project=project,
        name=name.strip(),
        resource_role_arn=resource_role_arn.strip(),
        set_source_identity=set_source_identity,
        tag_session=tag_session,
        allow_revocation=allow_revocation,
    )
    resource.full_clean()
    if not checked:
        resource_check(
            project=project,
            resource_role_arn=resource.resource_role_arn,
            set_source_identity=set_source_identity,
            actor=actor,
        )
    resource.validated_at = timezone.now()
    with transaction.atomic():
        save_unique(resource, "name")
        record_create(resource, RESOURCE_AUDIT, actor)
    return resource


def resource_update(
    *, resource: AwsIamResource, actor: AbstractUser, checked: bool = False, **changes: object
) -> AwsIamResource:
    """Change a resource; a new ARN (or SourceIdentity setting) is validated first."""
    for field in changes:
        if field not in RESOURCE_FIELDS:
            raise ValidationError({field: "This field cannot be changed."})
    require_admin(actor, resource.project_id, what="change its resources")
    before = snapshot(resource, RESOURCE_AUDIT)
    changed = {f for f, v in changes.items() if getattr(resource, f) != v}
    if "resource_role_arn" in changed:
        refuse_repointing(resource, str(changes["resource_role_arn"]).strip(), actor)
    for field in changed:
        value = changes[field]
        setattr(resource, field, value.strip() if isinstance(value, str) else value)
    resource.full_clean()
    if changed & RESOURCE_CHECKED_FIELDS:
        if not checked:
            resource_check(
                project=resource.project,
                resource_role_arn=resource.resource_role_arn,
                set_source_identity=resource.set_source_identity,
                actor=actor,
            )
        resource.validated_at = timezone.now()
    with transaction.atomic():
        save_unique(resource, "name")
        record_update(resource, before, RESOURCE_AUDIT, actor)
    return resource


ROLE_AUDIT = ["project", "user", "group", "role"]


def role_create(
    *,
    project: Project,
    role: str,
    user: AbstractUser | None = None,
    group: Group | None = None,
    actor: AbstractUser | None,
) -> ProjectRole:
    """Give one user or one group a role in a project. Only the project's admins (and
    superusers) may, and never to themselves or a group they are in."""
    require_admin(actor, project.pk, what="give roles in it")
    refuse_self(
        actor,
        what="give a project role to",
        field="user" if user else "group",
        user=user,
        group=group,
    )
    grant = ProjectRole(project=project, role=role, user=user, group=group, created_by=actor)
    grant.full_clean()
    try:
        with transaction.atomic():
            grant.save()
            record_create(grant, ROLE_AUDIT, actor)
    except IntegrityError:
        raise ValidationError("This role is already given.") from None
    return grant


def role_delete(*, role: ProjectRole, actor: AbstractUser | None) -> None:
    """Take a role back. Removing one's own is allowed: it confers nothing."""
    require_admin(actor, role.project_id, what="take roles back in it")
    delete_recorded(role, ROLE_AUDIT, actor)
