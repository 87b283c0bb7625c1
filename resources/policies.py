"""The IAM policy documents an admin pastes into AWS, filled in for one project.

Shapes follow the IAM User Guide (role trust policies, sts:ExternalId to prevent the
confused-deputy problem) and "How to use trust policies with IAM roles" (SourceIdentity
and session tags each need their own action in the trust policy).
"""

from __future__ import annotations

import json
from typing import Any

from .aws import parse_role_arn

REVOCATION_ACTIONS = ("iam:GetRolePolicy", "iam:PutRolePolicy", "iam:DeleteRolePolicy")


def _assume_actions(*, source_identity: bool, tag_session: bool) -> list[str] | str:
    actions = ["sts:AssumeRole"]
    if source_identity:
        actions.append("sts:SetSourceIdentity")
    if tag_session:
        actions.append("sts:TagSession")
    return actions if len(actions) > 1 else actions[0]


def _trust(principal: str, external_id: str, actions: list[str] | str) -> dict[str, Any]:
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Effect": "Allow",
                "Principal": {"AWS": principal},
                "Action": actions,
                "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
            }
        ],
    }


def resource_role_trust_policy(
    *,
    deployment_account_id: str,
    external_id: str,
    partition: str = "aws",
    source_identity: bool = False,
) -> dict[str, Any]:
    """Trust policy of the Resource Role: this deployment's account, with the External ID."""
    return _trust(
        f"arn:{partition}:iam::{deployment_account_id}:root",
        external_id,
        _assume_actions(source_identity=source_identity, tag_session=False),
    )


def resource_role_permissions_policy(
    *,
    account_id: str,
    partition: str = "aws",
    source_identity: bool = False,
    tag_session: bool = False,
    allow_revocation: bool = False,
    resource_role_arn: str | None = None,
    target_role_arns: list[str] | None = None,
) -> dict[str, Any]:
    """Permissions of the Resource Role: assume Target Roles of its own account, and
    (allow_revocation) keep the revocation deny policy on them (resources/aws/iam.py).

    Narrow the Resource to a path or prefix (role/pam-*) to limit the blast radius.

    The revocation statement names each Target Role exactly, never role/*: IAM has no
    condition on an inline policy's name, so PutRolePolicy on role/* would let whoever
    holds hop 1 give any role (the Resource Role itself included) any permission. It can
    still write any inline policy on the Target Roles named; the explicit Deny keeps the
    Resource Role's own policies out of reach even if someone widens the Allow.
    """
    roles = f"arn:{partition}:iam::{account_id}:role/*"
    statements: list[dict[str, Any]] = [
        {
            "Effect": "Allow",
            "Action": _assume_actions(source_identity=source_identity, tag_session=tag_session),
            "Resource": roles,
        }
    ]
    if allow_revocation:
        targets = sorted(set(target_role_arns or [])) or [
            f"arn:{partition}:iam::{account_id}:role/<TARGET_ROLE_NAME>"
        ]
        statements.append(
            {
                "Sid": "PamRevokeSessions",
                "Effect": "Allow",
                "Action": list(REVOCATION_ACTIONS),
                "Resource": targets if len(targets) > 1 else targets[0],
            }
        )
        statements.append(
            {
                "Sid": "PamNeverItsOwnPolicies",
                "Effect": "Deny",
                "Action": ["iam:PutRolePolicy", "iam:DeleteRolePolicy"],
                "Resource": resource_role_arn
                or f"arn:{partition}:iam::{account_id}:role/<RESOURCE_ROLE_NAME>",
            }
        )
    return {"Version": "2012-10-17", "Statement": statements}


def target_role_trust_policy(
    *,
    resource_role_arn: str,
    external_id: str,
    source_identity: bool = False,
    tag_session: bool = False,
) -> dict[str, Any]:
    """Trust policy of a Target Role: the Resource Role, with the same External ID."""
    return _trust(
        resource_role_arn,
        external_id,
        _assume_actions(source_identity=source_identity, tag_session=tag_session),
    )


def resource_policies(
    *,
    resource_role_arn: str,
    external_id: str,
    deployment_account_id: str,
    source_identity: bool = False,
    tag_session: bool = False,
    allow_revocation: bool = False,
    target_role_arns: list[str] | None = None,
) -> dict[str, dict[str, Any]]:
    """The Resource Role's two documents, for a resource whose ARN is known."""
    role = parse_role_arn(resource_role_arn)
    return {
        "trust": resource_role_trust_policy(
            deployment_account_id=deployment_account_id,
            external_id=external_id,
            partition=role.partition,
            source_identity=source_identity,
        ),
        "permissions": resource_role_permissions_policy(
            account_id=role.account_id,
            partition=role.partition,
            source_identity=source_identity,
            tag_session=tag_session,
            allow_revocation=allow_revocation,
            resource_role_arn=resource_role_arn,
            target_role_arns=target_role_arns,
        ),
    }


def as_json(document: dict[str, Any]) -> str:
    return json.dumps(document, indent=2)
