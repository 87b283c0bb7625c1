"""A local AWS (STS + IAM) for the demo and the browser tests: moto's server, behind a
gate that checks what moto does not.

moto answers AssumeRole for any ARN, with any ExternalId. Real AWS allows it only if
- the role exists and its trust policy lets the caller in: the principal (the caller's
  account root, or its role), its conditions (`sts:ExternalId`), and the extra actions
  `sts:SetSourceIdentity` / `sts:TagSession` when those are sent; and
- the caller's own policies allow those actions on that role, when the caller is a role
  (hop 2: the Resource Role's inline and attached policies must allow sts:AssumeRole on
  the Target Role; an explicit Deny wins). A trust policy that names a role, not a role
  session, does not stand in for the role's identity policy (IAM User Guide, "Policy
  evaluation logic":
  https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_evaluation-logic.html).
The gate applies those rules (pam_demo/iam_policy.py evaluates the documents) and answers
AccessDenied like STS otherwise, so in the demo a typo in an ARN, a trust policy or a
permissions policy fails exactly where it would in AWS. This deployment's own
credentials (hop 1's caller) stand for an identity the demo does not model: its policies
are not checked, as if it were an administrator.
"""

from __future__ import annotations

import io
import json
import re
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs

from .aws_state import changes_iam
from .iam_policy import (
    DENY,
    Unsupported,
    action_matches,
    as_list,
    conditions_hold,
    evaluate,
    load_document,
)

# Every credential the demo deployment signs with maps to this account in moto.
DEPLOYMENT_ACCOUNT = "123456789012"
_CREDENTIAL = re.compile(r"Credential=([^/]+)/")


def _roles() -> Iterable[Any]:
    from moto.iam.models import iam_backends

    for account_id in list(iam_backends.keys()):
        for partition in list(iam_backends[account_id].keys()):
            yield from iam_backends[account_id][partition].roles.values()


def find_role(arn: str) -> Any | None:
    return next((role for role in _roles() if role.arn == arn), None)


def assumed_role(access_key_id: str) -> Any | None:
    """The moto session (role ARN, session name, expiry) behind temporary credentials."""
    from moto.sts.models import sts_backends

    for account_id in list(sts_backends.keys()):
        for partition in list(sts_backends[account_id].keys()):
            found = sts_backends[account_id][partition].get_assumed_role_from_access_key(
                access_key_id
            )
            if found is not None:
                return found
    return None


def describe_credentials(access_key_id: str) -> dict[str, str]:
    """For the federation stand-in's console page."""
    session = assumed_role(access_key_id)
    if session is None:
        return {}
    return {
        "role_arn": session.role_arn,
        "session_name": session.session_name,
        "expires_at": session.expiration.strftime("%Y-%m-%d %H:%M:%S UTC"),
    }


def revocation_denial(access_key_id: str, issued_at: datetime) -> str | None:
    """The Sid of a deny in the role's PamRevokedSessions policy that covers these
    credentials, as IAM would evaluate it: `aws:userid` (if named) equal to the session's
    `<RoleId>:<RoleSessionName>`, and `aws:TokenIssueTime` before the statement's time.
    moto stores the policy but does not enforce it; the console stand-in does."""
    session = assumed_role(access_key_id)
    role = find_role(session.role_arn) if session is not None else None
    document = role.policies.get("PamRevokedSessions") if role is not None else None
    if not document:
        return None
    if isinstance(document, str):
        document = json.loads(document)
    for statement in as_list(document.get("Statement", [])):
        condition = statement.get("Condition", {})
        before = condition.get("DateLessThan", {}).get("aws:TokenIssueTime")
        user_id = condition.get("StringEquals", {}).get("aws:userid")
        if statement.get("Effect") != "Deny" or not before:
            continue
        cutoff = datetime.strptime(before, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
        if issued_at < cutoff and user_id in (None, session.user_id):
            return statement.get("Sid", "(no Sid)")
    return None


def _caller(access_key_id: str) -> tuple[str, str, str]:
    """(account, principal ARN as trust policies name it, ARN as STS reports it)."""
    session = assumed_role(access_key_id)
    if session is None:
        return (
            DEPLOYMENT_ACCOUNT,
            f"arn:aws:iam::{DEPLOYMENT_ACCOUNT}:root",
            f"arn:aws:sts::{DEPLOYMENT_ACCOUNT}:user/moto",
        )
    role_arn = session.role_arn
    account = role_arn.split(":")[4]
    role_name = role_arn.rsplit("/", 1)[-1]
    return (
        account,
        role_arn,
        f"arn:aws:sts::{account}:assumed-role/{role_name}/{session.session_name}",
    )


def _principal_allows(principal: Any, account: str, principal_arn: str) -> bool:
    if principal == "*":
        return True
    if not isinstance(principal, dict):
        return False
    for value in as_list(principal.get("AWS", [])):
        if value in ("*", account, f"arn:aws:iam::{account}:root", principal_arn):
            return True
    return False


def _request_context(params: dict[str, str], access_key_id: str) -> dict[str, str]:
    """The condition keys of this AssumeRole request that the demo's policies may test."""
    account, principal_arn, _ = _caller(access_key_id)
    context = {
        "aws:PrincipalArn": principal_arn,
        "aws:PrincipalAccount": account,
        "sts:ExternalId": params.get("ExternalId"),
        "sts:RoleSessionName": params.get("RoleSessionName"),
        "sts:SourceIdentity": params.get("SourceIdentity"),
    }
    return {key: value for key, value in context.items() if value is not None}


def _needed(params: dict[str, str]) -> list[str]:
    needed = ["sts:AssumeRole"]
    if "SourceIdentity" in params:
        needed.append("sts:SetSourceIdentity")
    if any(key.startswith("Tags.") for key in params):
        needed.append("sts:TagSession")
    return needed


def _trust_allows(
    document: dict[str, Any], action: str, caller: tuple[str, str], context: dict[str, str]
) -> bool:
    """A trust statement for this principal and action whose conditions hold, and no
    Deny statement that covers it."""
    allowed = False
    for statement in as_list(document.get("Statement", [])):
        if not _principal_allows(statement.get("Principal"), *caller):
            continue
        if not any(action_matches(p, action) for p in as_list(statement.get("Action"))):
            continue
        try:
            holds = conditions_hold(statement.get("Condition") or {}, context)
        except Unsupported:
            holds = statement.get("Effect") == "Deny"  # fail closed, as iam_policy does
        if holds and statement.get("Effect") == "Deny":
            return False
        allowed = allowed or (holds and statement.get("Effect") == "Allow")
    return allowed


def trust_denial(params: dict[str, str], access_key_id: str) -> str | None:
    """Why the role's trust policy would refuse this AssumeRole, or None."""
    role_arn = params.get("RoleArn", "")
    account, principal_arn, caller_arn = _caller(access_key_id)
    denied = (
        f"User: {caller_arn} is not authorized to perform: sts:AssumeRole on resource: {role_arn}"
    )
    role = find_role(role_arn)
    if role is None:
        return denied
    document = load_document(role.assume_role_policy_document)
    context = _request_context(params, access_key_id)
    missing = [
        action
        for action in _needed(params)
        if not _trust_allows(document, action, (account, principal_arn), context)
    ]
    if not missing:
        return None
    if missing == ["sts:AssumeRole"]:
        return denied
    return f"User: {caller_arn} is not authorized to perform: {', '.join(sorted(missing))}"


def _identity_policies(role: Any) -> list[tuple[str, Any]]:
    """The role's inline policies and the default version of each attached one."""
    policies: list[tuple[str, Any]] = list(role.policies.items())
    for arn, policy in role.managed_policies.items():
        version = next((v for v in policy.versions if v.is_default), None)
        if version is not None:
            policies.append((arn, version.document))
    return policies


def identity_denial(params: dict[str, str], access_key_id: str) -> str | None:
    """Why the calling role's own policies would refuse this AssumeRole, or None. Only a
    role session (hop 2's Resource Role) is checked; see the module's docstring."""
    session = assumed_role(access_key_id)
    caller_role = find_role(session.role_arn) if session is not None else None
    if caller_role is None:
        return None
    _, _, caller_arn = _caller(access_key_id)
    target = params.get("RoleArn", "")
    policies = _identity_policies(caller_role)
    context = _request_context(params, access_key_id)
    for action in _needed(params):
        decision = evaluate(policies, action=action, resource=target, context=context)
        if decision.allowed:
            continue
        # AWS's own wording for the two cases.
        why = (
            "with an explicit deny in an identity-based policy"
            if decision.outcome == DENY
            else f"because no identity-based policy allows the {action} action"
        )
        return (
            f"User: {caller_arn} is not authorized to perform: {action} on resource: {target} {why}"
        )
    return None


def _error(start_response: Callable, message: str) -> list[bytes]:
    body = (
        '<ErrorResponse xmlns="https://sts.amazonaws.com/doc/2011-06-15/"><Error>'
        f"<Type>Sender</Type><Code>AccessDenied</Code><Message>{message}</Message></Error>"
        "<RequestId>00000000-0000-0000-0000-000000000000</RequestId></ErrorResponse>"
    ).encode()
    start_response(
        "403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


class TrustPolicyGate:
    """WSGI middleware: check AssumeRole against trust and identity policies, then hand
    it to moto. `on_change`, if given, is called after each IAM write moto accepted (the
    demo saves its roles then: pam_demo/aws_state.py)."""

    def __init__(self, app: Callable, on_change: Callable[[], None] | None = None) -> None:
        self.app = app
        self.on_change = on_change

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        params: dict[str, str] = {}
        if environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            environ["wsgi.input"] = io.BytesIO(body)
            params = {k: v[0] for k, v in parse_qs(body.decode("utf-8", "replace")).items()}
            if params.get("Action") == "AssumeRole":
                match = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
                access_key_id = match.group(1) if match else ""
                denial = trust_denial(params, access_key_id) or identity_denial(
                    params, access_key_id
                )
                if denial:
                    return _error(start_response, denial)
        if self.on_change is None or not changes_iam(params.get("Action", "")):
            return self.app(environ, start_response)
        statuses: list[str] = []

        def recording(status: str, headers: list, *args: object) -> Callable:
            statuses.append(status)
            return start_response(status, headers, *args)

        # moto answers whole (no streaming): the change is made once this returns.
        answer = list(self.app(environ, recording))
        if statuses and statuses[0].startswith("200"):
            self.on_change()
        return answer


def moto_app(on_change: Callable[[], None] | None = None) -> Callable:
    """moto's multi-service WSGI app, behind the gate."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app

    return TrustPolicyGate(DomainDispatcherApplication(create_backend_app), on_change)
