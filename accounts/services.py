"""Writes to PAM accounts and grants, and the Access chain itself."""

from __future__ import annotations

import hashlib
import logging
import math
import secrets
import time
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.services import (
    audit_record,
    delete_recorded,
    record_create,
    record_update,
    snapshot,
)
from pam_project.db import save_unique
from resources import aws
from resources.models import AwsIamResource
from resources.services import (
    actor_session_name,
    check_failure_message,
)
from sessions_app import services as session_services
from sessions_app.models import ConsoleSession, FailureStep
from sessions_app.selectors import recent_attempts

from .models import AccountGrant, ApiToken, PamAccount

log = logging.getLogger(__name__)

ACCOUNT_FIELDS = {"name", "description", "target_role_arn", "session_duration"}
# Changing these changes what AWS must allow, so saving re-validates the chain.
ACCOUNT_CHECKED_FIELDS = {"target_role_arn", "session_duration"}


def account_check(
    *, resource: AwsIamResource, target_role_arn: str, session_duration: int, actor: AbstractUser
) -> aws.AssumedRole:
    """Run both hops as Access would, or raise ValidationError on the field to fix."""
    try:
        target = aws.parse_role_arn(target_role_arn)
    except aws.ArnError as exc:
        raise ValidationError({"target_role_arn": str(exc)}) from None
    if target.partition != resource.role.partition:
        raise ValidationError(
            {
                "target_role_arn": f"The Target Role is in the {target.partition} partition but "
                f"the Resource Role is in {resource.role.partition}: both must be in the same."
            }
        )
    project = resource.project
    session_name = actor_session_name(actor)
    source_identity = session_name if resource.set_source_identity else None
    context = {
        "external_id": project.external_id,
        "resource_role_arn": resource.resource_role_arn,
        "target_role_arn": target.arn,
        "source_identity": resource.set_source_identity,
        "tag_session": resource.tag_session,
    }
    try:
        hop1 = aws.assume_resource_role(
            role_arn=resource.resource_role_arn,
            external_id=project.external_id,
            session_name=session_name,
            duration_seconds=session_duration,
            source_identity=source_identity,
        )
        return aws.assume_target_role(
            via=hop1.credentials,
            role_arn=target.arn,
            external_id=project.external_id,
            session_name=session_name,
            duration_seconds=session_duration,
            source_identity=source_identity,
            tags={aws.sts.SESSION_TAG_KEY: "validation"} if resource.tag_session else None,
        )
    except aws.AwsStepError as exc:
        # A hop-1 failure is the resource's problem, but the account form has no field
        # for it: name it in the message and attach it to the ARN being saved.
        field_name = "target_role_arn"
        if exc.step == aws.Step.RESOURCE_ROLE:
            prefix = f'The resource "{resource.name}" no longer validates. '
        else:
            prefix = ""
        message = prefix + check_failure_message(exc, **context)
        if exc.code == "ValidationError" and "DurationSeconds" in exc.message:
            field_name = "session_duration"
        raise ValidationError({field_name: message}) from None


ACCOUNT_AUDIT = ["resource", "name", "description", "target_role_arn", "session_duration"]
GRANT_AUDIT = ["account", "user", "group"]
TOKEN_AUDIT = ["user", "name", "prefix", "expires_at"]


def account_create(
    *,
    resource: AwsIamResource,
    name: str,
    target_role_arn: str,
    session_duration: int,
    description: str = "",
    actor: AbstractUser,
    checked: bool = False,
) -> PamAccount:
    """Create an account once the whole chain (both hops) works.

    `checked=True`: the caller has just run account_check on these exact values.
    """
    account = PamAccount(
        resource=resource,
        name=name.strip(),
        description=description,
        target_role_arn=target_role_arn.strip(),
        session_duration=session_duration,
    )
    account.full_clean()
    if not checked:
        account_check(
            resource=resource,
            target_role_arn=account.target_role_arn,
            session_duration=session_duration,
            actor=actor,
        )
    account.validated_at = timezone.now()
    with transaction.atomic():
        save_unique(account, "name")
        record_create(account, ACCOUNT_AUDIT, actor)
    return account


def account_update(
    *, account: PamAccount, actor: AbstractUser, checked: bool = False, **changes: object
) -> PamAccount:
    for name in changes:
        if name not in ACCOUNT_FIELDS:
            raise ValidationError({name: "This field cannot be changed."})
    before = snapshot(account, ACCOUNT_AUDIT)
    changed = {f for f, v in changes.items() if getattr(account, f) != v}
    for name in changed:
        value = changes[name]
        setattr(
            account,
            name,
            value.strip() if isinstance(value, str) and name != "description" else value,
        )
    account.full_clean()
    if changed & ACCOUNT_CHECKED_FIELDS:
        if not checked:
            account_check(
                resource=account.resource,
                target_role_arn=account.target_role_arn,
                session_duration=account.session_duration,
                actor=actor,
            )
        account.validated_at = timezone.now()
    with transaction.atomic():
        save_unique(account, "name")
        record_update(account, before, ACCOUNT_AUDIT, actor)
    return account


def grant_create(
    *,
    account: PamAccount,
    user: AbstractUser | None = None,
    group: Group | None = None,
    actor: AbstractUser,
) -> AccountGrant:
    grant = AccountGrant(account=account, user=user, group=group, created_by=actor)
    grant.full_clean()
    try:
        with transaction.atomic():
            grant.save()
            record_create(grant, GRANT_AUDIT, actor)
    except IntegrityError:
        raise ValidationError("This grant already exists.") from None
    return grant


def grant_delete(*, grant: AccountGrant, actor: AbstractUser) -> None:
    delete_recorded(grant, GRANT_AUDIT, actor)


def account_delete(*, account: PamAccount, actor: AbstractUser) -> None:
    """Delete an account nobody has used: Console Sessions are history and keep theirs."""
    if account.console_sessions.exists():
        raise ValidationError(
            "This account has console sessions, which are kept as history: it cannot be "
            "deleted. Remove its grants to stop further Access.",
            code="in_use",
        )
    delete_recorded(account, ACCOUNT_AUDIT, actor)


# --- API tokens ------------------------------------------------------------------------

TOKEN_PREFIX = "pam_"  # noqa: S105 (a marker, not a secret)
TOKEN_SHOWN_CHARS = 12
TOKEN_MAX_DAYS = 365


def token_digest(raw: str) -> str:
    # A fast hash is right here: tokens carry 256 random bits, so there is nothing for a
    # slow hash to protect against, and every API request computes one.
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *, user: AbstractUser, name: str, expires_in_days: int | None = None
) -> tuple[ApiToken, str]:
    """A new token for `user`. Returns the row and the token itself, shown only once."""
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the token after what will use it."})
    if expires_in_days is not None and not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        raise ValidationError({"expires_in_days": f"Use 1 to {TOKEN_MAX_DAYS} days."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        prefix=raw[:TOKEN_SHOWN_CHARS],
        digest=token_digest(raw),
        expires_at=timezone.now() + timedelta(days=expires_in_days) if expires_in_days else None,
    )
    token.full_clean()
    with transaction.atomic():
        token.save()
        record_create(token, TOKEN_AUDIT, user)
    return token, raw


def token_revoke(*, token: ApiToken, actor: AbstractUser) -> None:
    """Revoked tokens stop working at once; the row stays, to show what existed."""
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=timezone.now()
        )
        if revoked:
            audit_record(
                actor=actor, action="update", instance=token, changes={"revoked_at": [None, "now"]}
            )


def token_authenticate(raw: str) -> ApiToken | None:
    """The live token for `raw`, or None. Records use at most once a minute."""
    if not raw.startswith(TOKEN_PREFIX):
        return None
    now = timezone.now()
    token = (
        ApiToken.objects.select_related("user")
        .filter(digest=token_digest(raw), revoked_at__isnull=True)
        .first()
    )
    if token is None or (token.expires_at and token.expires_at <= now):
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token


# --- Access ------------------------------------------------------------------------


@dataclass(frozen=True)
class AccessGranted:
    session: ConsoleSession
    # A bearer credential for 15 minutes: goes to the user's browser, nowhere else.
    login_url: str = field(repr=False)


class AccessFailed(Exception):
    def __init__(
        self,
        session: ConsoleSession,
        step: str,
        code: str,
        message: str,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(f"{step}: {code}")
        self.session = session
        self.step = step
        self.code = code
        self.message = message
        self.retry_after = retry_after


def _check_rate(session: ConsoleSession, user: AbstractUser) -> None:
    """Refuse (and record the refusal) past PAM_ACCESS_RATE attempts per window.

    Counted after this attempt's row is written, among rows up to its id, so that
    concurrent attempts cannot all slip under the limit together.
    """
    limit, seconds = settings.PAM_ACCESS_RATE
    attempts = recent_attempts(user, up_to_id=session.pk, seconds=seconds)
    if attempts.count() <= limit:
        return
    oldest = attempts.order_by("created_at").values_list("created_at", flat=True).first()
    retry_after = (
        max(1, math.ceil((oldest + timedelta(seconds=seconds) - timezone.now()).total_seconds()))
        if oldest
        else seconds
    )
    window = {1: "second", 60: "minute", 3600: "hour"}.get(seconds, f"{seconds} seconds")
    raise _fail(
        session,
        FailureStep.RATE_LIMITED,
        "TooManyRequests",
        f"More than {limit} Access attempts in a {window}; try again in {retry_after} s.",
        retry_after=retry_after,
    )


def _fail(
    session: ConsoleSession, step: str, code: str, message: str, retry_after: int | None = None
) -> AccessFailed:
    session_services.session_fail(session=session, step=step, code=code, message=message)
    log.info(
        "Access failed: console session %s, user %s, account %s, step %s, code %s",
        session.pk,
        session.user_email,
        session.account_id,
        step,
        code,
    )
    return AccessFailed(session, step, code, message, retry_after=retry_after)


def _timings(started: float, marks: dict[str, float]) -> str:
    """ "412 ms (record 3, hop1 120, ...)": tells a slow AWS from a slow database."""
    parts, previous = [], started
    for name, at in marks.items():
        parts.append(f"{name} {(at - previous) * 1000:.0f}")
        previous = at
    return f"{(previous - started) * 1000:.0f} ms ({', '.join(parts)})"


def account_access(
    *,
    account: PamAccount,
    user: AbstractUser,
    client_ip: str | None,
    user_agent: str,
    issuer: str,
    signin_url_override: str = "",
) -> AccessGranted:
    """The Access chain. The caller has checked the grant.

    Every call leaves one Console Session row: `pending` is committed before any AWS
    call, then it becomes `active` (returned) or `failed` (AccessFailed raised, naming
    the step). Runs in autocommit: a transaction around it would hide the pending row.
    """
    started = time.perf_counter()
    marks: dict[str, float] = {}
    resource = account.resource
    project = resource.project
    session_name = aws.session_name_for(user.email or user.get_username())
    session = session_services.session_start(
        user=user,
        account=account,
        role_session_name=session_name,
        client_ip=client_ip,
        user_agent=user_agent,
    )
    _check_rate(session, user)
    marks["record"] = time.perf_counter()
    source_identity = session_name if resource.set_source_identity else None
    step = FailureStep.RESOURCE_ROLE
    try:
        target = account.role
        hop1 = aws.assume_resource_role(
            role_arn=resource.resource_role_arn,
            external_id=project.external_id,
            session_name=session_name,
            duration_seconds=account.session_duration,
            source_identity=source_identity,
        )
        marks["hop1"] = time.perf_counter()
        step = FailureStep.TARGET_ROLE
        if target.partition != resource.role.partition:
            raise aws.AwsStepError(
                aws.Step.TARGET_ROLE,
                "PartitionMismatch",
                "The Target Role and the Resource Role are in different partitions.",
            )
        hop2 = aws.assume_target_role(
            via=hop1.credentials,
            role_arn=account.target_role_arn,
            external_id=project.external_id,
            session_name=session_name,
            duration_seconds=account.session_duration,
            source_identity=source_identity,
            tags={aws.sts.SESSION_TAG_KEY: str(session.pk)} if resource.tag_session else None,
        )
        marks["hop2"] = time.perf_counter()
        step = FailureStep.FEDERATION
        token = aws.get_signin_token(
            hop2.credentials, partition=target.partition, override=signin_url_override
        )
        url = aws.login_url(
            token, partition=target.partition, issuer=issuer, override=signin_url_override
        )
        marks["federation"] = time.perf_counter()
    except aws.AwsStepError as exc:
        raise _fail(session, exc.step, exc.code, exc.message) from None
    except Exception as exc:
        # A bug or an unexpected library error must still close the row, with the step
        # it happened in; the traceback goes to the log (it holds no credential: the
        # credential types hide their secrets from repr()).
        log.exception("Unexpected error during Access, console session %s", session.pk)
        raise _fail(session, step, "InternalError", type(exc).__name__) from None

    step = FailureStep.RECORD
    activated = session_services.session_activate(
        session=session,
        expires_at=hop2.credentials.expiration,
        assumed_role_arn=hop2.assumed_role_arn,
        access_key_id=hop2.credentials.access_key_id,
    )
    if not activated:
        # The sweep gave up on this row while AWS was slow. Fail closed: the recorded
        # history says `failed`, so the user does not get the console either.
        raise AccessFailed(
            session,
            session.failure_step or FailureStep.RECORD,
            session.error_code or "NotPending",
            "The attempt took too long and was already recorded as failed.",
        )
    marks["activate"] = time.perf_counter()
    log.info(
        "Access granted: console session %s, user %s, account %s, assumed role %s, "
        "access key id %s, expires %s, took %s",
        session.pk,
        session.user_email,
        account.pk,
        hop2.assumed_role_arn,
        hop2.credentials.access_key_id,
        hop2.credentials.expiration.isoformat(),
        _timings(started, marks),
    )
    return AccessGranted(session=session, login_url=url)
