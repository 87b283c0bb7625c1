"""Writes to PAM accounts and grants. (API tokens: tokens.py; the Access chain itself:
sessions_app/access.py.)"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, NoReturn

from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from audit.services import audit_record, delete_recorded, diff, record_create, snapshot
from pam_project.db import save_unique
from pam_project.roles import refuse_self, require_admin
from resources import aws
from resources.guidance import check_failure, revocation_check_failure, trust_policy_warning
from resources.models import AwsIamResource
from resources.services import actor_session_name

from .models import AccountGrant, GrantKind, PamAccount

# Who decides requests on the account: many-to-many, set by the service after the row is
# saved, and audited as sorted id lists in the same record as the other fields.
ACCOUNT_APPROVER_FIELDS = ("approver_users", "approver_groups")
ACCOUNT_CONSOLE_FIELDS = (
    "default_region",
    "allowed_regions",
    "default_service",
    "allowed_services",
)
ACCOUNT_FIELDS = {
    "name",
    "description",
    "target_role_arn",
    "session_duration",
    "require_mfa",
    "allow_cli_credentials",
    # Just-in-time access: they change who decides and how long a window lasts, not
    # what AWS must allow, so they are not re-validated against AWS.
    "approvals_required",
    "max_window",
    "break_glass",
    # Where the console opens: checked against fixed lists (PamAccount.clean), not AWS.
    *ACCOUNT_CONSOLE_FIELDS,
    *ACCOUNT_APPROVER_FIELDS,
}
# Changing these changes what AWS must allow, so saving re-validates the chain.
ACCOUNT_CHECKED_FIELDS = {"target_role_arn", "session_duration"}


def account_rules(
    *,
    account: PamAccount,
    actor: AbstractUser | None,
    target_role_changed: bool,
    approver_users: Iterable[Any] | None = None,
    approver_groups: Iterable[Any] | None = None,
) -> None:
    """The separation-of-duties rules of saving an account (SPEC), before any AWS call:
    its Target Role is not its Resource Role; nobody re-points an account granted to
    them; nobody makes themselves (or a group they are in) an approver. `account` holds
    the new values; approver lists are the new lists (None: unchanged)."""
    if target_role_changed and account.resource_id:
        if account.target_role_arn.strip() == account.resource.resource_role_arn:
            raise ValidationError(
                {
                    "target_role_arn": "This is the resource's Resource Role: a Target Role "
                    "must be a different role (else the bridge role itself is handed out)."
                },
                code="same_role",
            )
        if account.pk and actor is not None and actor.pk and _granted(account, actor):
            raise ValidationError(
                {
                    "target_role_arn": "You are granted this account, so you cannot "
                    "change its Target Role: another admin must do it."
                },
                code="self_conferred",
            )
    before = (
        {
            name: set(getattr(account, name).values_list("pk", flat=True))
            for name in ACCOUNT_APPROVER_FIELDS
        }
        if account.pk
        else {name: set() for name in ACCOUNT_APPROVER_FIELDS}
    )
    for value in approver_users or ():
        pk = getattr(value, "pk", value)
        if pk not in before["approver_users"]:
            refuse_self(actor, what="make an approver of", field="approver_users", user=pk)
    for value in approver_groups or ():
        pk = getattr(value, "pk", value)
        if pk not in before["approver_groups"]:
            refuse_self(actor, what="make approvers of", field="approver_groups", group=pk)


def _granted(account: PamAccount, user: AbstractUser) -> bool:
    """A grant of `account` names `user`, directly or through a group (any kind)."""
    grants = AccountGrant.objects.filter(account=account)
    return grants.filter(Q(user=user) | Q(group__user=user)).exists()


@dataclass(frozen=True)
class AccountCheck:
    """A chain that worked, and what saving it should still tell the admin."""

    assumed: aws.AssumedRole
    warnings: list[str] = field(default_factory=list)


def account_check(
    *, resource: AwsIamResource, target_role_arn: str, session_duration: int, actor: AbstractUser
) -> AccountCheck:
    """Run both hops as Access would (aws.assume_chain), or raise ValidationError on the
    field to fix. The calls are named after the admin who saved. Where hop 1 may read
    the Target Role's trust policy, a policy that does not require the External ID is a
    warning, never a refusal: AWS accepted the chain."""
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
            failure = revocation_check_failure(
                exc,
                resource_name=resource.name,
                resource_role_arn=resource.resource_role_arn,
                target_role_arn=target.arn,
            )
            raise ValidationError({"target_role_arn": failure}) from None
    return AccountCheck(chained, _trust_warnings(hops[0].credentials, target))


def _trust_warnings(credentials: aws.TemporaryCredentials, target: aws.RoleArn) -> list[str]:
    document = aws.read_trust_policy(credentials=credentials, target_role=target)
    if document is None:
        return []  # not readable with hop 1's rights (AccessDenied): nothing to say
    warning = trust_policy_warning(document, target_role_arn=target.arn)
    return [warning] if warning else []


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
    message = check_failure(
        exc,
        lead=prefix,
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
    "allow_cli_credentials",
    "approvals_required",
    "max_window",
    "break_glass",
    *ACCOUNT_CONSOLE_FIELDS,
]
GRANT_AUDIT = ["account", "user", "group", "kind"]


def account_snapshot(account: PamAccount) -> dict[str, Any]:
    """What the audit records of an account: its fields, and its approvers as sorted id
    lists (audit's snapshot reads attributes, which for a many-to-many is a manager)."""
    data = snapshot(account, ACCOUNT_AUDIT)
    for name in ACCOUNT_APPROVER_FIELDS:
        related = getattr(account, name)
        data[name] = sorted(related.values_list("pk", flat=True)) if account.pk else []
    return data


def _approver_ids(name: str, values: Iterable[Any] | None) -> list[int]:
    """Users or groups (or their ids) as a sorted id list; ids that name nobody are a
    ValidationError on the field."""
    model = PamAccount._meta.get_field(name).related_model
    pks = [getattr(value, "pk", value) for value in values or ()]
    if not all(isinstance(pk, int) and not isinstance(pk, bool) for pk in pks):
        raise ValidationError({name: f"A list of {model._meta.verbose_name} ids."})
    ids = sorted(set(pks))
    found = set(model.objects.filter(pk__in=ids).values_list("pk", flat=True))
    missing = [value for value in ids if value not in found]
    if missing:
        raise ValidationError(
            {name: f"No {model._meta.verbose_name} with id {', '.join(map(str, missing))}."}
        )
    return ids


def _set_approvers(account: PamAccount, approvers: dict[str, list[int]]) -> None:
    for name, ids in approvers.items():
        getattr(account, name).set(ids)


def account_create(
    *,
    resource: AwsIamResource,
    name: str,
    target_role_arn: str,
    session_duration: int,
    description: str = "",
    require_mfa: bool = False,
    allow_cli_credentials: bool = False,
    approver_users: Iterable[AbstractUser | int] | None = None,
    approver_groups: Iterable[Group | int] | None = None,
    approvals_required: int = 1,
    max_window: int = 4 * 3600,
    break_glass: bool = False,
    default_region: str = "",
    allowed_regions: list[str] | None = None,
    default_service: str = "",
    allowed_services: list[str] | None = None,
    actor: AbstractUser,
    checked: bool = False,
) -> PamAccount:
    """Create an account once the whole chain (both hops) works.

    `checked=True`: the caller has just run account_check on these exact values.
    """
    require_admin(actor, resource.project_id, what="add accounts to it")
    account = PamAccount(
        resource=resource,
        name=name.strip(),
        description=description,
        target_role_arn=target_role_arn.strip(),
        session_duration=session_duration,
        require_mfa=require_mfa,
        allow_cli_credentials=allow_cli_credentials,
        approvals_required=approvals_required,
        max_window=max_window,
        break_glass=break_glass,
        default_region=default_region,
        allowed_regions=list(allowed_regions or []),
        default_service=default_service,
        allowed_services=list(allowed_services or []),
    )
    account.full_clean()
    approvers = {
        "approver_users": _approver_ids("approver_users", approver_users),
        "approver_groups": _approver_ids("approver_groups", approver_groups),
    }
    account_rules(
        account=account,
        actor=actor,
        target_role_changed=True,
        approver_users=approvers["approver_users"],
        approver_groups=approvers["approver_groups"],
    )
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
        _set_approvers(account, approvers)
        audit_record(
            actor=actor, action="create", instance=account, changes=account_snapshot(account)
        )
    return account


def account_update(
    *, account: PamAccount, actor: AbstractUser, checked: bool = False, **changes: object
) -> PamAccount:
    for name in changes:
        if name not in ACCOUNT_FIELDS:
            raise ValidationError({name: "This field cannot be changed."})
    require_admin(actor, account.resource.project_id, what="change its accounts")
    approvers = {
        name: _approver_ids(name, changes.pop(name))
        for name in ACCOUNT_APPROVER_FIELDS
        if name in changes
    }
    before = account_snapshot(account)
    approvers = {name: ids for name, ids in approvers.items() if ids != before[name]}
    changed = {f for f, v in changes.items() if getattr(account, f) != v}
    for name in changed:
        value = changes[name]
        setattr(
            account,
            name,
            value.strip() if isinstance(value, str) and name != "description" else value,
        )
    account.full_clean()
    account_rules(
        account=account,
        actor=actor,
        target_role_changed="target_role_arn" in changed,
        approver_users=approvers.get("approver_users"),
        approver_groups=approvers.get("approver_groups"),
    )
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
        _set_approvers(account, approvers)
        # One record for the fields and the approvers: the change as the admin saved it.
        after = account_snapshot(account)
        if diff(before, after):
            audit_record(
                actor=actor, action="update", instance=account, changes=diff(before, after)
            )
    return account


def grant_create(
    *,
    account: PamAccount,
    user: AbstractUser | None = None,
    group: Group | None = None,
    kind: str = GrantKind.STANDING,
    actor: AbstractUser,
) -> AccountGrant:
    """Grant `account` to one user or one group: `kind` standing (Access at any time) or
    eligible (Access only inside an approved window). Only the project's admins may, and
    never to themselves or a group they are in (superusers included)."""
    require_admin(actor, account.resource.project_id, what="grant its accounts")
    refuse_self(
        actor, what="grant an account to", field="user" if user else "group", user=user, group=group
    )
    grant = AccountGrant(
        account=account, user=user, group=group, kind=kind or GrantKind.STANDING, created_by=actor
    )
    grant.full_clean()
    try:
        with transaction.atomic():
            grant.save()
            record_create(grant, GRANT_AUDIT, actor)
    except IntegrityError:
        raise ValidationError("This grant already exists.") from None
    return grant


def grant_delete(*, grant: AccountGrant, actor: AbstractUser) -> None:
    require_admin(actor, grant.account.resource.project_id, what="take its grants back")
    delete_recorded(grant, GRANT_AUDIT, actor)


def account_delete(*, account: PamAccount, actor: AbstractUser) -> None:
    """Delete an account nobody has used: Console Sessions and access requests are
    history and keep theirs."""
    require_admin(actor, account.resource.project_id, what="delete its accounts")
    if account.console_sessions.exists():
        raise ValidationError(
            "This account has console sessions, which are kept as history: it cannot be "
            "deleted. Remove its grants to stop further Access.",
            code="in_use",
        )
    if account.access_requests.exists():
        raise ValidationError(
            "This account has access requests, which are kept as history: it cannot be "
            "deleted. Remove its grants to stop further requests and Access.",
            code="in_use",
        )
    with transaction.atomic():
        audit_record(
            actor=actor, action="delete", instance=account, changes=account_snapshot(account)
        )
        account.delete()
