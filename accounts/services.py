"""Writes to PAM accounts and grants. (API tokens: tokens.py; the Access chain itself:
sessions_app/access.py.)"""

from __future__ import annotations

from typing import NoReturn

from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import delete_recorded, record_create, record_update, snapshot
from pam_project.db import save_unique
from resources import aws
from resources.models import AwsIamResource
from resources.services import actor_session_name, check_failure_message

from .models import AccountGrant, PamAccount

ACCOUNT_FIELDS = {"name", "description", "target_role_arn", "session_duration", "require_mfa"}
# Changing these changes what AWS must allow, so saving re-validates the chain.
ACCOUNT_CHECKED_FIELDS = {"target_role_arn", "session_duration"}


def account_check(
    *, resource: AwsIamResource, target_role_arn: str, session_duration: int, actor: AbstractUser
) -> aws.AssumedRole:
    """Run both hops as Access would (aws.assume_chain), or raise ValidationError on the
    field to fix. The calls are named after the admin who saved."""
    try:
        target = aws.parse_role_arn(target_role_arn)
    except aws.ArnError as exc:
        raise ValidationError({"target_role_arn": str(exc)}) from None
    project = resource.project
    session_name = actor_session_name(actor)
    hops: list[aws.AssumedRole] = []
    try:
        chained = aws.assume_chain(
            resource_role=resource.role,
            target_role=target,
            external_id=project.external_id,
            session_name=session_name,
            duration_seconds=session_duration,
            source_identity=session_name if resource.set_source_identity else None,
            tags={aws.sts.SESSION_TAG_KEY: "validation"} if resource.tag_session else None,
            hops=hops,
        )
    except aws.AwsStepError as exc:
        _raise_check_failure(exc, resource, target)
    if resource.allow_revocation:
        try:
            aws.check_can_revoke(credentials=hops[0].credentials, target_role=target)
        except aws.AwsStepError as exc:
            raise ValidationError(
                {
                    "target_role_arn": (
                        f'"Allow revocation" is on for the resource "{resource.name}", but its '
                        f"Resource Role may not read this Target Role's inline policies (AWS "
                        f"said {exc.code}: {exc.message}). Check: the Resource Role "
                        f"{resource.resource_role_arn} allows iam:GetRolePolicy, "
                        f"iam:PutRolePolicy and iam:DeleteRolePolicy on {target.arn} (the "
                        "resource's permissions policy shows the statement); or turn "
                        '"Allow revocation" off for the resource.'
                    )
                }
            ) from None
    return chained


def _raise_check_failure(
    exc: aws.AwsStepError, resource: AwsIamResource, target: aws.RoleArn
) -> NoReturn:
    project = resource.project
    if exc.code == "PartitionMismatch":
        # Not AWS's answer but ours, before any call: the message says it all.
        raise ValidationError({"target_role_arn": exc.message}) from None
    # A hop-1 failure is the resource's problem, but the account form has no field
    # for it: name it in the message and attach it to the ARN being saved.
    field_name = "target_role_arn"
    prefix = ""
    if exc.step == aws.Step.RESOURCE_ROLE:
        prefix = f'The resource "{resource.name}" no longer validates. '
    message = prefix + check_failure_message(
        exc,
        external_id=project.external_id,
        resource_role_arn=resource.resource_role_arn,
        target_role_arn=target.arn,
        source_identity=resource.set_source_identity,
        tag_session=resource.tag_session,
    )
    if exc.code == "ValidationError" and "DurationSeconds" in exc.message:
        field_name = "session_duration"
    raise ValidationError({field_name: message}) from None


ACCOUNT_AUDIT = [
    "resource",
    "name",
    "description",
    "target_role_arn",
    "session_duration",
    "require_mfa",
]
GRANT_AUDIT = ["account", "user", "group"]


def account_create(
    *,
    resource: AwsIamResource,
    name: str,
    target_role_arn: str,
    session_duration: int,
    description: str = "",
    require_mfa: bool = False,
    actor: AbstractUser,
    checked: bool = False,
) -> PamAccount:
    """Create an account once the whole chain (both hops) works.

    `checked=True`: the caller has just run account_check on these exact values.
    """
    account = PamAccount(
        resource=resource,
        name=name.strip(),
        description=description,
        target_role_arn=target_role_arn.strip(),
        session_duration=session_duration,
        require_mfa=require_mfa,
    )
    account.full_clean()
    if not checked:
        account_check(
            resource=resource,
            target_role_arn=account.target_role_arn,
            session_duration=session_duration,
            actor=actor,
        )
    account.validated_at = timezone.now()
    with transaction.atomic():
        save_unique(account, "name")
        record_create(account, ACCOUNT_AUDIT, actor)
    return account


def account_update(
    *, account: PamAccount, actor: AbstractUser, checked: bool = False, **changes: object
) -> PamAccount:
    for name in changes:
        if name not in ACCOUNT_FIELDS:
            raise ValidationError({name: "This field cannot be changed."})
    before = snapshot(account, ACCOUNT_AUDIT)
    changed = {f for f, v in changes.items() if getattr(account, f) != v}
    for name in changed:
        value = changes[name]
        setattr(
            account,
            name,
            value.strip() if isinstance(value, str) and name != "description" else value,
        )
    account.full_clean()
    if changed & ACCOUNT_CHECKED_FIELDS:
        if not checked:
            account_check(
                resource=account.resource,
                target_role_arn=account.target_role_arn,
                session_duration=account.session_duration,
                actor=actor,
            )
        account.validated_at = timezone.now()
    with transaction.atomic():
        save_unique(account, "name")
        record_update(account, before, ACCOUNT_AUDIT, actor)
    return account


def grant_create(
    *,
    account: PamAccount,
    user: AbstractUser | None = None,
    group: Group | None = None,
    actor: AbstractUser,
) -> AccountGrant:
    grant = AccountGrant(account=account, user=user, group=group, created_by=actor)
    grant.full_clean()
    try:
        with transaction.atomic():
            grant.save()
            record_create(grant, GRANT_AUDIT, actor)
    except IntegrityError:
        raise ValidationError("This grant already exists.") from None
    return grant


def grant_delete(*, grant: AccountGrant, actor: AbstractUser) -> None:
    delete_recorded(grant, GRANT_AUDIT, actor)


def account_delete(*, account: PamAccount, actor: AbstractUser) -> None:
    """Delete an account nobody has used: Console Sessions are history and keep theirs."""
    if account.console_sessions.exists():
        raise ValidationError(
            "This account has console sessions, which are kept as history: it cannot be "
            "deleted. Remove its grants to stop further Access.",
            code="in_use",
        )
    delete_recorded(account, ACCOUNT_AUDIT, actor)
