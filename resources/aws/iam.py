"""Revocation: the one inline deny policy this app keeps on a Target Role.

AWS cannot end a console session, but a deny on the role makes every credential it
covers useless once IAM has propagated the change (IAM User Guide, "Revoking IAM role
temporary security credentials":
https://docs.aws.amazon.com/IAM/latest/UserGuide/id_roles_use_revoke-sessions.html).
Each statement denies everything to credentials issued before the revocation time
(`aws:TokenIssueTime`), for one session (`aws:userid` = `<RoleId>:<RoleSessionName>`,
https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_variables.html#principaltable)
or, for "revoke all", for every session of the role (AWS's own AWSRevokeOlderSessions).

The calls run with hop 1's credentials (the project's Resource Role, which needs
iam:GetRolePolicy, iam:PutRolePolicy and iam:DeleteRolePolicy on the Target Roles). The
caller renders the whole document from its own records and puts it: IAM has no
conditional write, so serializing the writes per role is the caller's job.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from urllib.parse import unquote

from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError
from botocore.parsers import ResponseParserError

from .arn import RoleArn
from .errors import AwsStepError, Step
from .sts import (
    CLIENT_CONFIG,
    TemporaryCredentials,
    _boto_session,
    _lock,
    _step_error,
)

log = logging.getLogger(__name__)

POLICY_NAME = "PamRevokedSessions"
# IAM's quota for all inline policies of one role together, in characters, whitespace
# not counted (IAM and STS quotas: "Role policy size cannot exceed 10,240 characters").
# https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_iam-quotas.html
ROLE_INLINE_POLICY_LIMIT = 10_240


@dataclass(frozen=True)
class Revocation:
    """One statement: credentials issued before `before` stop working; for one session
    (`user_id`, `AROA...:<session name>`) or, without it, for the whole role."""

    sid: str
    before: datetime
    user_id: str = ""

    def statement(self) -> dict:
        condition: dict = {
            "DateLessThan": {"aws:TokenIssueTime": _iso(self.before)},
        }
        if self.user_id:
            condition["StringEquals"] = {"aws:userid": self.user_id}
        return {
            "Sid": self.sid,
            "Effect": "Deny",
            "Action": "*",
            "Resource": "*",
            "Condition": condition,
        }


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def policy_document(revocations: list[Revocation]) -> dict:
    return {"Version": "2012-10-17", "Statement": [r.statement() for r in revocations]}


def policy_size(document: dict) -> int:
    """Characters IAM counts: the JSON without whitespace."""
    return len(json.dumps(document, separators=(",", ":")))


class RevocationTooLarge(AwsStepError):
    def __init__(self, size: int) -> None:
        super().__init__(
            Step.TARGET_ROLE,
            "LimitExceeded",
            f"The revocations on this role would need {size} characters of inline policy; "
            f"IAM allows {ROLE_INLINE_POLICY_LIMIT} for all of a role's inline policies "
            "together. Nothing was written. Revoke all sessions of the account instead (one "
            "statement covers them all), or wait for older revocations to be pruned.",
        )


# A read that only feeds a warning: one short try, never a save held up by IAM's retries.
ADVISORY_CONFIG = CLIENT_CONFIG.merge(
    Config(connect_timeout=2, read_timeout=5, retries={"mode": "standard", "total_max_attempts": 1})
)


def _iam_client(credentials: TemporaryCredentials, config: Config = CLIENT_CONFIG) -> BaseClient:
    # Same Session and timeouts as STS; the endpoint from AWS_ENDPOINT_URL_IAM if set.
    with _lock:
        return _boto_session().client(
            "iam",
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            config=config,
        )


def _call(what: str, fn, **params: object) -> dict:  # noqa: ANN001
    try:
        return fn(**params)
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        error = _step_error(Step.TARGET_ROLE, exc)
        raise AwsStepError(Step.TARGET_ROLE, error.code, f"iam:{what}: {error.message}") from None


def write_revocations(
    *, credentials: TemporaryCredentials, target_role: RoleArn, revocations: list[Revocation]
) -> int:
    """Make the role's revocation policy exactly `revocations` (deleted when empty).
    Returns the document's size. Raises AwsStepError; on any error nothing is written
    (one PutRolePolicy either replaces the whole document or fails)."""
    client = _iam_client(credentials)
    if not revocations:
        try:
            client.delete_role_policy(RoleName=target_role.name, PolicyName=POLICY_NAME)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") != "NoSuchEntity":
                raise _step_error(Step.TARGET_ROLE, exc) from None
        except (BotoCoreError, ResponseParserError) as exc:
            raise _step_error(Step.TARGET_ROLE, exc) from None
        return 0
    document = policy_document(revocations)
    size = policy_size(document)
    if size > ROLE_INLINE_POLICY_LIMIT:
        raise RevocationTooLarge(size)
    _call(
        "PutRolePolicy",
        client.put_role_policy,
        RoleName=target_role.name,
        PolicyName=POLICY_NAME,
        PolicyDocument=json.dumps(document, separators=(",", ":")),
    )
    return size


def read_revocation_policy(*, credentials: TemporaryCredentials, target_role: RoleArn) -> dict:
    """The role's revocation policy as IAM holds it ({} when there is none)."""
    client = _iam_client(credentials)
    try:
        answer = client.get_role_policy(RoleName=target_role.name, PolicyName=POLICY_NAME)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "NoSuchEntity":
            return {}
        raise _step_error(Step.TARGET_ROLE, exc) from None
    except (BotoCoreError, ResponseParserError) as exc:
        raise _step_error(Step.TARGET_ROLE, exc) from None
    document = answer["PolicyDocument"]
    # boto3 decodes the URL-encoded JSON into a dict already; some stand-ins return text.
    return json.loads(document) if isinstance(document, str) else document


def check_can_revoke(*, credentials: TemporaryCredentials, target_role: RoleArn) -> None:
    """What saving an account with revocation allowed checks, with hop 1's credentials:
    the Resource Role may read the Target Role's inline policy (GetRolePolicy; no policy
    yet is fine). Put and delete cannot be tried without writing; the checklist names
    them too."""
    read_revocation_policy(credentials=credentials, target_role=target_role)


def read_trust_policy(*, credentials: TemporaryCredentials, target_role: RoleArn) -> dict | None:
    """The Target Role's trust policy (iam:GetRole with hop 1's credentials), or None when
    it cannot be read. Saving an account only warns from it, so a refusal is no error:
    the Resource Role's permissions policy the app shows does not grant iam:GetRole, and
    AccessDenied is the usual answer
    (https://docs.aws.amazon.com/IAM/latest/APIReference/API_GetRole.html)."""
    try:
        answer = _iam_client(credentials, ADVISORY_CONFIG).get_role(RoleName=target_role.name)
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        log.info(
            "Target Role trust policy not read (%s): no trust-policy warning for %s",
            _step_error(Step.TARGET_ROLE, exc).code,
            target_role.arn,
        )
        return None
    document = answer.get("Role", {}).get("AssumeRolePolicyDocument")
    if isinstance(document, str):
        # boto3 decodes IAM's URL-encoded JSON into a dict; a stand-in may answer text.
        try:
            document = json.loads(unquote(document))
        except ValueError:
            return None
    return document if isinstance(document, dict) else None
