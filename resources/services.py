"""Writes to projects and AWS IAM resources, with the checks every entry point shares.

The admin forms, the API and the command line all call these; none validates on its own.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import delete_recorded, record_create, record_update, snapshot
from pam_project.db import save_unique
from pam_project.users import user_label

from . import aws
from .guidance import guidance_for
from .models import AwsIamResource, Project

VALIDATION_DURATION_SECONDS = 900  # the shortest session STS grants


def actor_session_name(actor: AbstractUser) -> str:
    """Validation calls are named after the admin who saved, so CloudTrail shows who."""
    return aws.session_name_for(user_label(actor))


def check_failure_message(exc: aws.AwsStepError, **context: object) -> str:
    """'AWS said <code>: <message>' followed by the checklist for that step."""
    said = f"AWS said {exc.code}" + (f": {exc.message}" if exc.message else "")
    return guidance_for(exc.step, exc.code, **context).as_text(said)


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
        message = check_failure_message(
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
    before = snapshot(project, PROJECT_AUDIT)
    for field, value in changes.items():
        setattr(project, field, value.strip() if field == "name" else value)
    project.full_clean()
    with transaction.atomic():
        save_unique(project, "name")
        record_update(project, before, PROJECT_AUDIT, actor)
    return project


def project_delete(*, project: Project, actor: AbstractUser) -> None:
    if project.resources.exists():
        raise ValidationError(
            "This project still has AWS IAM resources: delete them first.", code="in_use"
        )
    delete_recorded(project, PROJECT_AUDIT, actor)


def resource_delete(*, resource: AwsIamResource, actor: AbstractUser) -> None:
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
    before = snapshot(resource, RESOURCE_AUDIT)
    changed = {f for f, v in changes.items() if getattr(resource, f) != v}
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
