"""The two AssumeRole hops of the Access chain (`assume_chain`), and the caller identity.

One boto3 Session serves the whole process: building a Session per call re-reads the
service models and credential chain and made the two-hop chain about 20 times slower
(~286 ms against ~13 ms on a local STS). The hop-1 client, which uses this deployment's
own credentials (environment, shared config, instance or container role), is built once;
the hop-2 client is built from the same Session with hop 1's temporary credentials.

Endpoints and credentials come from boto3's own variables (AWS_REGION,
AWS_ENDPOINT_URL_STS, AWS_ACCESS_KEY_ID, AWS_PROFILE, ...); the app adds none.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

import boto3
from botocore.client import BaseClient
from botocore.config import Config
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    NoCredentialsError,
    ReadTimeoutError,
)
from botocore.parsers import ResponseParserError

from .arn import RoleArn
from .errors import AwsStepError, Step
from .metrics import timed
from .partitions import PARTITIONS, partition_of_region

log = logging.getLogger(__name__)

# Explicit timeouts: a hung STS endpoint must not hold a web worker for botocore's
# default 60 s per attempt. Standard retry mode retries throttling and transient errors
# with backoff and jitter, bounded by max_attempts.
CLIENT_CONFIG = Config(
    connect_timeout=3,
    read_timeout=10,
    retries={"mode": "standard", "total_max_attempts": 3},
    user_agent_extra="aws-console-pam",
)

SESSION_TAG_KEY = "pam-console-session"


@dataclass(frozen=True)
class TemporaryCredentials:
    """STS credentials. The secret parts never appear in repr() (and so in tracebacks)."""

    access_key_id: str
    secret_access_key: str = field(repr=False)
    session_token: str = field(repr=False)
    expiration: datetime


@dataclass(frozen=True)
class AssumedRole:
    credentials: TemporaryCredentials
    assumed_role_arn: str
    # `AROA...:<session name>`: what `aws:userid` holds for this session in IAM policy
    # conditions (revoking one session denies exactly this value).
    assumed_role_id: str = ""


@dataclass(frozen=True)
class CallerIdentity:
    account_id: str
    arn: str


_lock = threading.Lock()
_session: boto3.session.Session | None = None
_base_client = None


def _boto_session() -> boto3.session.Session:
    global _session
    if _session is None:
        with _lock:
            if _session is None:
                session = boto3.session.Session()
                # The global endpoint sts.amazonaws.com is a single region's; the spec
                # asks for the regional endpoint of the configured region.
                session._session.set_config_variable("sts_regional_endpoints", "regional")
                _session = session
    return _session


def region() -> str:
    """The configured region, else us-east-1.

    AWS_REGION first, as the AWS CLI v2 and the other SDKs read it (botocore itself only
    knows AWS_DEFAULT_REGION and the profile's `region`), then botocore's own resolution.
    """
    return (
        os.environ.get("AWS_REGION")
        or _boto_session().region_name
        or PARTITIONS["aws"].default_region
    )


def deployment_partition() -> str:
    return partition_of_region(region())


def _client(credentials: TemporaryCredentials | None = None) -> BaseClient:
    global _base_client
    session = _boto_session()
    if credentials is None:
        if _base_client is None:
            with _lock:
                if _base_client is None:
                    _base_client = session.client("sts", region_name=region(), config=CLIENT_CONFIG)
        return _base_client
    # boto3 Sessions are not thread-safe; creating clients from one concurrently has
    # raced on its lazily-built components. Creation is short, so serialize it.
    with _lock:
        return session.client(
            "sts",
            region_name=region(),
            aws_access_key_id=credentials.access_key_id,
            aws_secret_access_key=credentials.secret_access_key,
            aws_session_token=credentials.session_token,
            config=CLIENT_CONFIG,
        )


def reset() -> None:
    """Forget the cached Session and clients (tests, or after the environment changed)."""
    global _session, _base_client
    with _lock:
        _session = None
        _base_client = None
        _hop1_cache.clear()


# Hop-1 sessions kept for revocation writes, which run one after another under a
# per-role lock: each saved AssumeRole is one round trip less for everyone queued.
# Kept in memory only (as during any request), and for 5 of their 15 minutes: a customer
# who cuts this app off (trust policy, External ID) stops its IAM writes within that.
HOP1_CACHE_SECONDS = 300
_hop1_cache: dict[tuple[str, str], tuple[float, AssumedRole]] = {}


def resource_role_session(*, role_arn: str, external_id: str, session_name: str) -> AssumedRole:
    """Hop 1 for background work (revocation), reused for up to HOP1_CACHE_SECONDS."""
    key = (role_arn, external_id)
    cached = _hop1_cache.get(key)
    if cached and time.monotonic() < cached[0]:
        return cached[1]
    hop1 = assume_resource_role(
        role_arn=role_arn, external_id=external_id, session_name=session_name, duration_seconds=900
    )
    _hop1_cache[key] = (time.monotonic() + HOP1_CACHE_SECONDS, hop1)
    return hop1


def forget_resource_role_session(*, role_arn: str, external_id: str) -> None:
    _hop1_cache.pop((role_arn, external_id), None)


def _step_error(step: Step, exc: Exception) -> AwsStepError:
    """AWS's own error code and message, or ours. Never str(exc) of anything else: some
    botocore errors quote the raw response, which for AssumeRole holds the credentials."""
    if isinstance(exc, ClientError):
        error = exc.response.get("Error", {})
        return AwsStepError(step, error.get("Code") or "Unknown", error.get("Message") or "")
    if isinstance(exc, ResponseParserError):
        return AwsStepError(
            step, "MalformedResponse", "STS answered with something that is not a valid response."
        )
    if isinstance(exc, NoCredentialsError):
        return AwsStepError(
            step,
            "NoCredentials",
            "This deployment has no AWS credentials of its own (environment, shared config "
            "or instance/container role).",
        )
    if isinstance(exc, ConnectTimeoutError | ReadTimeoutError):
        return AwsStepError(step, "Timeout", "STS did not answer in time.")
    if isinstance(exc, EndpointConnectionError):
        return AwsStepError(step, "EndpointConnectionError", "Could not connect to STS.")
    return AwsStepError(step, type(exc).__name__, "The STS call failed.")


def _assume(
    step: Step,
    client: BaseClient,
    *,
    role_arn: str,
    external_id: str,
    session_name: str,
    duration_seconds: int,
    source_identity: str | None,
    tags: Mapping[str, str] | None,
) -> AssumedRole:
    params: dict = {
        "RoleArn": role_arn,
        "RoleSessionName": session_name,
        "ExternalId": external_id,
        "DurationSeconds": duration_seconds,
    }
    if source_identity:
        params["SourceIdentity"] = source_identity
    if tags:
        params["Tags"] = [{"Key": k, "Value": v} for k, v in tags.items()]
    try:
        with timed(step):  # the /metrics latency histogram, per hop
            answer = client.assume_role(**params)
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        raise _step_error(step, exc) from None
    except Exception as exc:
        # A bug or an unexpected library error still names its step. The traceback goes
        # to the log; it holds no credential (TemporaryCredentials hides them from repr).
        log.exception("Unexpected error in sts:AssumeRole (%s)", step)
        raise AwsStepError(step, "InternalError", type(exc).__name__) from None
    creds = answer["Credentials"]
    return AssumedRole(
        credentials=TemporaryCredentials(
            access_key_id=creds["AccessKeyId"],
            secret_access_key=creds["SecretAccessKey"],
            session_token=creds["SessionToken"],
            expiration=creds["Expiration"],
        ),
        assumed_role_arn=answer["AssumedRoleUser"]["Arn"],
        assumed_role_id=answer["AssumedRoleUser"].get("AssumedRoleId", ""),
    )


def assume_resource_role(
    *,
    role_arn: str,
    external_id: str,
    session_name: str,
    duration_seconds: int,
    source_identity: str | None = None,
) -> AssumedRole:
    """Hop 1: this deployment's credentials assume the customer's Resource Role."""
    return _assume(
        Step.RESOURCE_ROLE,
        _client(),
        role_arn=role_arn,
        external_id=external_id,
        session_name=session_name,
        duration_seconds=duration_seconds,
        source_identity=source_identity,
        tags=None,
    )


def assume_target_role(
    *,
    via: TemporaryCredentials,
    role_arn: str,
    external_id: str,
    session_name: str,
    duration_seconds: int,
    source_identity: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> AssumedRole:
    """Hop 2 (role chaining): the Resource Role's session assumes the Target Role."""
    try:
        client = _client(via)
    except BotoCoreError as exc:
        raise _step_error(Step.TARGET_ROLE, exc) from None
    except Exception as exc:
        log.exception("Unexpected error building the hop-2 STS client")
        raise AwsStepError(Step.TARGET_ROLE, "InternalError", type(exc).__name__) from None
    return _assume(
        Step.TARGET_ROLE,
        client,
        role_arn=role_arn,
        external_id=external_id,
        session_name=session_name,
        duration_seconds=duration_seconds,
        source_identity=source_identity,
        tags=tags,
    )


def caller_identity() -> CallerIdentity:
    """Who this deployment is to AWS: the account its Resource Roles must trust."""
    try:
        answer = _client().get_caller_identity()
    except (ClientError, BotoCoreError, ResponseParserError) as exc:
        raise _step_error(Step.RESOURCE_ROLE, exc) from None
    return CallerIdentity(account_id=answer["Account"], arn=answer["Arn"])


def check_same_partition(*, resource_role: RoleArn, target_role: RoleArn) -> None:
    """Both roles of a chain must share a partition: a Resource Role session cannot
    assume a role in another partition, and a sign-in token works only in its own."""
    if target_role.partition != resource_role.partition:
        raise AwsStepError(
            Step.TARGET_ROLE,
            "PartitionMismatch",
            f"The Target Role is in the {target_role.partition} partition but the Resource "
            f"Role is in {resource_role.partition}: both must be in the same.",
        )


def assume_chain(
    *,
    resource_role: RoleArn,
    target_role: RoleArn,
    external_id: str,
    session_name: str,
    duration_seconds: int,
    source_identity: str | None = None,
    tags: Mapping[str, str] | None = None,
    marks: dict[str, float] | None = None,
    hops: list[AssumedRole] | None = None,
) -> AssumedRole:
    """Hop 1 then hop 2, as Access runs them and as saving an account validates them.

    Both hops pass the project's External ID and the same session name (and optional
    SourceIdentity); the tags go on hop 2 only, the session people act in. `marks`, if
    given, gets the perf_counter time at which each hop finished ("hop1", "hop2");
    `hops`, if given, gets both AssumedRoles (saving an account checks revocation with
    hop 1's credentials). Raises AwsStepError naming the step that failed.
    """
    check_same_partition(resource_role=resource_role, target_role=target_role)
    hop1 = assume_resource_role(
        role_arn=resource_role.arn,
        external_id=external_id,
        session_name=session_name,
        duration_seconds=duration_seconds,
        source_identity=source_identity,
    )
    if marks is not None:
        marks["hop1"] = time.perf_counter()
    hop2 = assume_target_role(
        via=hop1.credentials,
        role_arn=target_role.arn,
        external_id=external_id,
        session_name=session_name,
        duration_seconds=duration_seconds,
        source_identity=source_identity,
        tags=tags,
    )
    if marks is not None:
        marks["hop2"] = time.perf_counter()
    if hops is not None:
        hops.extend((hop1, hop2))
    return hop2
