"""Demo data: IAM roles in the local AWS, and a project, resource, accounts and users.

Built through the app's own services (so the demo's AWS checks run for real against the
stand-in) and with the same policies the admin pages show. Idempotent: the stand-in keeps
its roles across runs (var/demo-aws.json, pam_demo/aws_state.py) or starts empty when
that file is gone; either way each run creates what is missing and puts the demo's
roles' policies back as the project's External ID needs them.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path

import boto3
from django.conf import settings
from django.contrib.auth.models import Group, User

from accounts import services as account_services
from accounts.models import AccountGrant, GrantKind, PamAccount
from identity.models import IdpGroup, SsoIdentity
from pam_demo.people import SSO_APPROVERS, SSO_GROUP
from resources import aws
from resources import services as resource_services
from resources.models import AwsIamResource, Project
from resources.policies import (
    resource_role_permissions_policy,
    resource_role_trust_policy,
    target_role_trust_policy,
)

PROJECT = "Demo"
RESOURCE = "sandbox"
ACCOUNTS = [
    # (name, role name, duration, description)
    ("readonly", "pam-demo-readonly", 1800, "Look around: ReadOnlyAccess in the sandbox."),
    (
        "admin",
        "pam-demo-admin",
        900,
        "Administrator: ask for a window (approved by someone else), or break-glass.",
    ),
]
BROKEN = (
    "broken",
    "pam-demo-missing",
    900,
    "Deliberately broken: its Target Role does not exist, to show a failed Access.",
)
LOGINS_FILE = Path(settings.VAR_DIR) / "demo-logins.txt"


def _role(iam, name: str, trust: dict, permissions: dict | None = None) -> str:  # noqa: ANN001
    try:
        arn = iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(trust))["Role"][
            "Arn"
        ]
    except iam.exceptions.EntityAlreadyExistsException:
        iam.update_assume_role_policy(RoleName=name, PolicyDocument=json.dumps(trust))
        arn = iam.get_role(RoleName=name)["Role"]["Arn"]
    if permissions:
        # The stand-in enforces it, as AWS does: without it hop 2 is refused.
        iam.put_role_policy(RoleName=name, PolicyName="pam", PolicyDocument=json.dumps(permissions))
    return arn


def _user(username: str, email: str, logins: dict[str, str]) -> User:
    user, created = User.objects.get_or_create(username=username, defaults={"email": email})
    if created or username not in logins:
        logins[username] = secrets.token_urlsafe(9)
        user.set_password(logins[username])
        user.save()
    return user


def _idp_group(name: str, issuer: str) -> Group:
    """The IdP's group, ready for grants before anyone has signed in through it."""
    group, _ = Group.objects.get_or_create(name=name)
    IdpGroup.objects.update_or_create(group=group, defaults={"issuer": issuer, "claim_value": name})
    # The demo IdP runs on a new port each run, so its issuer URL changes; its people are
    # still the same people (this demo database only).
    IdpGroup.objects.exclude(issuer=issuer).update(issuer=issuer)
    SsoIdentity.objects.exclude(issuer=issuer).update(issuer=issuer)
    return group


def seed(logins_file: Path = LOGINS_FILE) -> dict[str, str]:
    """Create or refresh the demo; returns the demo users' logins (kept in logins_file)."""
    logins: dict[str, str] = {}
    if logins_file.exists():
        logins = dict(line.split(" ", 1) for line in logins_file.read_text().split("\n") if line)
    admin = User.objects.filter(is_superuser=True).order_by("pk").first()
    project = Project.objects.filter(name=PROJECT).first() or resource_services.project_create(
        name=PROJECT,
        description="Local stand-ins for AWS; nothing here touches real AWS.",
        actor=admin,
    )
    deployment = aws.caller_identity().account_id
    iam = boto3.client("iam")
    resource_arn = _role(
        iam,
        "pam-demo-resource",
        resource_role_trust_policy(
            deployment_account_id=deployment, external_id=project.external_id
        ),
        resource_role_permissions_policy(
            account_id=deployment,
            allow_revocation=True,
            target_role_arns=[
                f"arn:aws:iam::{deployment}:role/{role}" for _, role, _, _ in ACCOUNTS
            ],
        ),
    )
    for _, role, _, _ in ACCOUNTS:
        _role(
            iam,
            role,
            target_role_trust_policy(
                resource_role_arn=resource_arn, external_id=project.external_id
            ),
        )
    resource = AwsIamResource.objects.filter(project=project, name=RESOURCE).first()
    if resource is None:
        resource = resource_services.resource_create(
            project=project, name=RESOURCE, resource_role_arn=resource_arn, actor=admin
        )
    demo = _user("demo", "demo.user@example.com", logins)
    _user("visitor", "visitor@example.com", logins)
    approver = _user("approver", "approver@example.com", logins)
    for name, role, duration, description in ACCOUNTS:
        account = PamAccount.objects.filter(resource=resource, name=name).first()
        if account is None:
            account = account_services.account_create(
                resource=resource,
                name=name,
                description=description,
                target_role_arn=f"arn:aws:iam::{deployment}:role/{role}",
                session_duration=duration,
                actor=admin,
            )
        # readonly: standing (Access at any time); admin: eligible, so the demo walks
        # the whole just-in-time loop: request, approval by `approver`, window, end.
        kind = GrantKind.ELIGIBLE if name == "admin" else GrantKind.STANDING
        AccountGrant.objects.update_or_create(account=account, user=demo, defaults={"kind": kind})
        if name == "admin":
            account_services.account_update(
                account=account,
                actor=admin,
                break_glass=True,
                max_window=4 * 3600,
                approver_users=[approver],
            )
    name, role, duration, description = BROKEN
    # Saved directly: the services would (rightly) refuse a Target Role that AWS denies.
    broken, _ = PamAccount.objects.get_or_create(
        resource=resource,
        name=name,
        defaults={
            "description": description,
            "session_duration": duration,
            "target_role_arn": f"arn:aws:iam::{deployment}:role/{role}",
        },
    )
    AccountGrant.objects.get_or_create(account=broken, user=demo)
    if settings.PAM_OIDC_ISSUER:
        group = _idp_group(SSO_GROUP, settings.PAM_OIDC_ISSUER)
        for account in PamAccount.objects.filter(resource=resource, name__in=["readonly", "admin"]):
            kind = GrantKind.ELIGIBLE if account.name == "admin" else GrantKind.STANDING
            AccountGrant.objects.update_or_create(
                account=account, group=group, defaults={"kind": kind}
            )
            if account.name == "admin":
                account_services.account_update(
                    account=account,
                    actor=admin,
                    approver_groups=[_idp_group(SSO_APPROVERS, settings.PAM_OIDC_ISSUER)],
                )
    logins_file.parent.mkdir(parents=True, exist_ok=True)
    logins_file.touch(mode=0o600)
    logins_file.write_text("".join(f"{u} {p}\n" for u, p in logins.items()))
    return logins
