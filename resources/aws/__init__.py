"""Every call this app makes to AWS goes through this package.

Views, admin and tasks never build a boto3 client or an HTTP request themselves; tests
patch or observe this one place.
"""

from .arn import ArnError, RoleArn, parse_role_arn
from .console import SERVICES, ConsoleChoiceError, check_region, check_service, console_url
from .errors import AwsStepError, Step
from .federation import get_signin_token, logout_url, signin_url
from .iam import check_can_revoke, read_trust_policy
from .partitions import PARTITIONS, Partition
from .session_name import session_name_for
from .sts import (
    AssumedRole,
    CallerIdentity,
    TemporaryCredentials,
    assume_chain,
    assume_resource_role,
    assume_target_role,
    caller_identity,
    check_same_partition,
    deployment_partition,
    region,
)

__all__ = [
    "PARTITIONS",
    "SERVICES",
    "ArnError",
    "AssumedRole",
    "AwsStepError",
    "CallerIdentity",
    "ConsoleChoiceError",
    "Partition",
    "RoleArn",
    "Step",
    "TemporaryCredentials",
    "assume_chain",
    "assume_resource_role",
    "assume_target_role",
    "caller_identity",
    "check_can_revoke",
    "check_region",
    "check_same_partition",
    "check_service",
    "console_url",
    "deployment_partition",
    "get_signin_token",
    "logout_url",
    "parse_role_arn",
    "read_trust_policy",
    "region",
    "session_name_for",
    "signin_url",
]
