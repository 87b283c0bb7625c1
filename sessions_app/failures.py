"""How a failed Access is presented, by the web page and the API alike."""

from __future__ import annotations

from accounts.models import PamAccount
from resources.guidance import Guidance, guidance_for

from .access import AccessFailed
from .models import FailureStep

AWS_STEPS = {FailureStep.RESOURCE_ROLE, FailureStep.TARGET_ROLE, FailureStep.FEDERATION}


def failure_status(step: str) -> int:
    """502 when AWS (or the way to it) failed, 429 past the rate limit, 403 outside an
    approved window, 503 when our side could not finish."""
    if step == FailureStep.RATE_LIMITED:
        return 429
    if step == FailureStep.WINDOW:
        return 403
    return 502 if step in AWS_STEPS else 503


def failure_guidance(account: PamAccount, failure: AccessFailed) -> Guidance:
    resource = account.resource
    return guidance_for(
        failure.step,
        failure.code,
        external_id=resource.project.external_id,
        resource_role_arn=resource.resource_role_arn,
        target_role_arn=account.target_role_arn,
        source_identity=resource.set_source_identity,
        tag_session=resource.tag_session,
    )
