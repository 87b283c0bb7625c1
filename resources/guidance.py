"""What to check when a step of the Access chain fails, in words an admin can act on.

Shared by the admin forms (saving validates the chain), the Access failure page and the
API's error answers, so the same failure reads the same everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from fnmatch import fnmatchcase
from typing import Any

from .aws import ArnError, AwsStepError, parse_role_arn
from .selectors import deployment_identity

_TRANSIENT = {
    "Throttling",
    "ThrottlingException",
    "RequestLimitExceeded",
    "Timeout",
    "EndpointConnectionError",
    "ConnectionError",
    "ServiceUnavailable",
}


@dataclass(frozen=True)
class Guidance:
    title: str
    checks: list[str] = field(default_factory=list)

    def as_text(self, said: str = "") -> str:
        """One paragraph for a form error: the title, what AWS said, then the checks."""
        return " ".join(
            [
                self.title + ".",
                *([said + "."] if said else []),
                "Check:",
                "; ".join(self.checks) + ".",
            ]
        )


# The AWS steps as people read them, here and in the Access history (FailureStep).
STEP_LABELS = {
    "resource_role": "Resource Role (hop 1)",
    "target_role": "Target Role (hop 2)",
    "federation": "Federation sign-in token",
}


@dataclass(frozen=True)
class CheckFailure:
    """A save that AWS refused (the chain check), as a form error's message.

    str() is the one paragraph the API and the logs have always had; the parts (step,
    AWS's code and message, the checklist of the Access failure page) are what the admin
    renders as a list (pam_project/forms.py GuidedErrorList). Django keeps a message
    object as it is and calls str() where it needs text."""

    step: str
    code: str
    message: str
    guidance: Guidance
    # What the save was about, before the checklist's title (a resource that no longer
    # validates, seen from one of its accounts).
    lead: str = ""

    @property
    def step_label(self) -> str:
        return STEP_LABELS.get(self.step, self.step)

    @property
    def said(self) -> str:
        return f"AWS said {self.code}" + (f": {self.message}" if self.message else "")

    def __str__(self) -> str:
        return self.lead + self.guidance.as_text(self.said)


def check_failure(exc: AwsStepError, *, lead: str = "", **context: object) -> CheckFailure:
    """The form error for a save whose AWS check failed with `exc`: the failure page's
    checklist for that step (guidance_for, given the same `context`)."""
    return CheckFailure(
        step=str(exc.step),
        code=exc.code,
        message=exc.message,
        guidance=guidance_for(exc.step, exc.code, **context),
        lead=lead,
    )


def revocation_check_failure(
    exc: AwsStepError, *, resource_name: str, resource_role_arn: str, target_role_arn: str
) -> CheckFailure:
    """Saving an account of a resource with "Allow revocation" on: its Resource Role must
    read (and write) the Target Role's inline policies (resources/aws/iam.py)."""
    return CheckFailure(
        step=str(exc.step),
        code=exc.code,
        message=exc.message,
        guidance=Guidance(
            f'"Allow revocation" is on for the resource "{resource_name}", but its Resource '
            "Role may not read this Target Role's inline policies",
            [
                f"the Resource Role {resource_role_arn} allows iam:GetRolePolicy, "
                f"iam:PutRolePolicy and iam:DeleteRolePolicy on {target_role_arn} (the "
                "resource's permissions policy shows the statement)",
                'or turn "Allow revocation" off for the resource',
            ],
        ),
    )


def guidance_for(
    step: str,
    code: str,
    *,
    external_id: str,
    resource_role_arn: str,
    target_role_arn: str = "",
    source_identity: bool = False,
    tag_session: bool = False,
) -> Guidance:
    """The checklist for `step` (a FailureStep value) given AWS's error `code`."""
    try:
        partition = parse_role_arn(resource_role_arn).partition
    except ArnError:
        partition = "aws"
    if code == "NoCredentials":
        return Guidance(
            "This deployment has no AWS credentials",
            [
                "give the app an AWS identity through the standard chain: environment "
                "variables, a shared config profile, or an instance/container role",
                "the app stores no AWS keys of its own",
            ],
        )
    if code in _TRANSIENT:
        return Guidance(
            "AWS did not answer in time or asked us to slow down",
            [
                "try again in a minute",
                "this server can reach the STS and sign-in endpoints (outbound HTTPS)",
            ],
        )
    if step == "resource_role":
        # Only this branch needs it; it is cached, and fetched no sooner than needed.
        deployment = deployment_identity().account_id or "<this deployment's account ID>"
        checks = [
            f"the Resource Role's trust policy allows the principal "
            f"arn:{partition}:iam::{deployment}:root (this deployment's AWS account)",
            f'its sts:ExternalId condition is exactly "{external_id}"',
            f"the Resource Role ARN is right: {resource_role_arn}",
        ]
        if source_identity:
            checks.append("its trust policy also allows sts:SetSourceIdentity")
        if code == "ValidationError":
            checks.append("the role's maximum session duration is at least the account's")
        return Guidance("AWS refused to let this deployment assume the Resource Role", checks)
    if step == "target_role":
        checks = [
            f"the Target Role's trust policy allows the principal {resource_role_arn}",
            f'its sts:ExternalId condition is exactly "{external_id}"',
            "the Resource Role's permissions policy allows sts:AssumeRole on "
            f"{target_role_arn or 'the Target Role'}",
            f"the Target Role ARN is right: {target_role_arn}",
        ]
        if code == "PartitionMismatch":
            checks.insert(0, "both roles are in the same AWS partition")
        if source_identity:
            checks.append("both policies also allow sts:SetSourceIdentity")
        if tag_session:
            checks.append("the Target Role's trust policy also allows sts:TagSession")
        if code == "ValidationError":
            checks.append("the session duration is within the Target Role's maximum (1h cap)")
        return Guidance("AWS refused to let the Resource Role assume the Target Role", checks)
    if step == "federation":
        return Guidance(
            "The AWS federation endpoint did not give a sign-in token",
            [
                "this server can reach the sign-in endpoint over HTTPS",
                "the Target Role session is allowed to sign in to the console "
                "(no SCP or permissions boundary denies it)",
                "try again: the endpoint may be briefly unavailable",
            ],
        )
    if step == "rate_limited":
        return Guidance(
            "Too many Access attempts in a short time",
            [
                "wait a little and click Access again (the page says how long)",
                "each Access opens a new console session: reuse the tab you already have",
            ],
        )
    if step == "window":
        return Guidance(
            "This account needs an approved access window, and none is open for you now",
            [
                "ask for a window: Request access on the account's page, with a reason",
                "below 15 minutes left in a window, Access is refused (AWS's shortest "
                "console session is 15 minutes): request a new window",
                "a window approved to start later opens by itself at its start",
            ],
        )
    if step == "abandoned":
        return Guidance(
            "The request stopped before it finished",
            ["try again", "ask an operator to look at the server logs for this time"],
        )
    return Guidance(
        "The session could not be recorded",
        ["try again", "ask an operator to check the database"],
    )


# The condition operators that pin sts:ExternalId to a value. `...IfExists` lets a request
# without one through, and a negated operator requires nothing.
_PINNING = {"stringequals", "stringequalsignorecase", "stringlike"}


def _as_list(value: Any) -> list[Any]:
    return [] if value is None else value if isinstance(value, list) else [value]


def _pins_external_id(condition: Any) -> bool:
    if not isinstance(condition, dict):
        return False
    return any(
        operator.lower() in _PINNING
        and isinstance(tests, dict)
        and any(key.lower() == "sts:externalid" for key in tests)
        for operator, tests in condition.items()
    )


def trust_policy_warning(document: dict[str, Any], *, target_role_arn: str) -> str:
    """What a saved Target Role's trust policy lacks that AWS did not refuse: a statement
    that lets an AWS principal assume the role with no sts:ExternalId condition. The
    External ID is what ties the role to this project (the confused-deputy protection:
    https://docs.aws.amazon.com/IAM/latest/UserGuide/confused-deputy.html). "" if none."""
    loose = []
    for index, statement in enumerate(_as_list(document.get("Statement"))):
        if not isinstance(statement, dict) or statement.get("Effect") != "Allow":
            continue
        principal = statement.get("Principal")
        if not (principal == "*" or (isinstance(principal, dict) and "AWS" in principal)):
            continue  # a service or federated principal: no External ID applies
        actions = [str(a).lower() for a in _as_list(statement.get("Action"))]
        if not any(fnmatchcase("sts:assumerole", pattern) for pattern in actions):
            continue
        if not _pins_external_id(statement.get("Condition")):
            loose.append(statement.get("Sid") or f"#{index + 1}")
    if not loose:
        return ""
    which = ", ".join(loose)
    return (
        f"Saved, but the trust policy of the Target Role {target_role_arn} does not require "
        f"an External ID (statement {which} allows sts:AssumeRole with no sts:ExternalId "
        "condition): whoever may use the trusted principal can assume it without this "
        "project's External ID. Add the condition, as the Target Role trust policy on this "
        "page shows it."
    )
