"""What can go wrong on the Access chain, named by the step that failed."""

from __future__ import annotations

import enum


class Step(enum.StrEnum):
    """The AWS-facing steps of the Access chain, as recorded on a failed Console Session."""

    RESOURCE_ROLE = "resource_role"
    TARGET_ROLE = "target_role"
    FEDERATION = "federation"


class AwsStepError(Exception):
    """A step of the chain failed. `code` is AWS's error code, or ours for network faults.

    The message never contains a credential: callers build it from AWS's error message,
    which names ARNs and principals but carries no secret.
    """

    def __init__(self, step: Step, code: str, message: str) -> None:
        super().__init__(f"{step}: {code}: {message}")
        self.step = step
        self.code = code
        self.message = message
