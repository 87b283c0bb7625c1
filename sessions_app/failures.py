"""How a failed Access is presented, by the web page and the API alike."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.utils import timezone

from accounts.models import PamAccount
from pam_project.roles import administers
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


def retry_when(retry_after: int, now: datetime | None = None) -> str:
    """When a rate-limited person may click Access again, in words for the page:
    "in 42 seconds", or "in 3 minutes, after 14:05 UTC" (the minute rounded up, so
    trying at that time is never still too early)."""
    if retry_after < 60:
        return f"in {retry_after} second{'s' if retry_after != 1 else ''}"
    minutes = math.ceil(retry_after / 60)
    at = (now or timezone.now()).astimezone(UTC) + timedelta(seconds=retry_after)
    if at.second or at.microsecond:
        at = at.replace(second=0, microsecond=0) + timedelta(minutes=1)
    return f"in {minutes} minute{'s' if minutes != 1 else ''}, after {at:%H:%M} UTC"


# The steps whose checklist names the project's setup: its External ID, the deployment's
# AWS account, role ARNs. AWS's own message there can quote account IDs and ARNs too.
SETUP_STEPS = {FailureStep.RESOURCE_ROLE, FailureStep.TARGET_ROLE}


def shows_setup(viewer: AbstractBaseUser | AnonymousUser, account: PamAccount, step: str) -> bool:
    """Whether `viewer` sees the setup details of a failure: only those who administer
    the project (SPEC "Separation of duties"); others get what they can act on."""
    return step not in SETUP_STEPS or administers(viewer, account.resource.project_id)


def failure_guidance(
    account: PamAccount, failure: AccessFailed, viewer: AbstractBaseUser | AnonymousUser
) -> Guidance:
    resource = account.resource
    if not shows_setup(viewer, account, failure.step):
        title = guidance_for(failure.step, failure.code, external_id="", resource_role_arn="").title
        return Guidance(
            title,
            [
                f"the AWS side of this account is set up by the admins of the project "
                f'"{resource.project.name}": tell one of them',
                f"give them the console session number {failure.session.pk}: it records the "
                "failed step and what AWS answered",
                "nothing on your side needs changing; try again once they have fixed it",
            ],
        )
    return guidance_for(
        failure.step,
        failure.code,
        external_id=resource.project.external_id,
        resource_role_arn=resource.resource_role_arn,
        target_role_arn=account.target_role_arn,
        source_identity=resource.set_source_identity,
        tag_session=resource.tag_session,
    )
