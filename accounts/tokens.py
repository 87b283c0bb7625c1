"""Personal API tokens: created, authenticated, revoked. Only a SHA-256 digest is stored."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta

from django.contrib.auth.models import AbstractUser
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from audit.services import audit_record, record_create
from pam_project.scopes import SCOPES

from .models import ApiToken

TOKEN_AUDIT = ["user", "name", "prefix", "scope", "expires_at"]

TOKEN_PREFIX = "pam_"  # noqa: S105 (a marker, not a secret)
TOKEN_SHOWN_CHARS = 12
TOKEN_DEFAULT_DAYS = 30
TOKEN_MAX_DAYS = 365


def password_fingerprint(user: AbstractUser) -> str:
    """Changes whenever the user's password does (set, changed or reset)."""
    return hashlib.sha256((user.password or "").encode()).hexdigest()


def token_digest(raw: str) -> str:
    # A fast hash is right here: tokens carry 256 random bits, so there is nothing for a
    # slow hash to protect against, and every API request computes one.
    return hashlib.sha256(raw.encode()).hexdigest()


def token_create(
    *,
    user: AbstractUser,
    name: str,
    expires_in_days: int | None = None,
    scope: str = "read",
) -> tuple[ApiToken, str]:
    """A new token for `user`. Returns the row and the token itself, shown only once.

    Every token expires: TOKEN_DEFAULT_DAYS unless asked, at most TOKEN_MAX_DAYS.
    """
    name = (name or "").strip()
    if not name:
        raise ValidationError({"name": "Name the token after what will use it."})
    if expires_in_days is None:
        expires_in_days = TOKEN_DEFAULT_DAYS
    if not 1 <= expires_in_days <= TOKEN_MAX_DAYS:
        raise ValidationError({"expires_in_days": f"Use 1 to {TOKEN_MAX_DAYS} days."})
    if scope not in SCOPES:
        raise ValidationError({"scope": f"Use one of {', '.join(SCOPES)}."})
    raw = TOKEN_PREFIX + secrets.token_urlsafe(32)
    token = ApiToken(
        user=user,
        name=name,
        prefix=raw[:TOKEN_SHOWN_CHARS],
        digest=token_digest(raw),
        scope=scope,
        password_fingerprint=password_fingerprint(user),
        expires_at=timezone.now() + timedelta(days=expires_in_days),
    )
    token.full_clean()
    with transaction.atomic():
        token.save()
        record_create(token, TOKEN_AUDIT, user)
    return token, raw


def token_revoke(*, token: ApiToken, actor: AbstractUser | None, reason: str = "") -> bool:
    """Revoked tokens stop working at once; the row stays, to show what existed.
    Returns whether this call revoked it (False if it already was)."""
    now = timezone.now()
    with transaction.atomic():
        revoked = ApiToken.objects.filter(pk=token.pk, revoked_at__isnull=True).update(
            revoked_at=now
        )
        if revoked:
            changes: dict[str, object] = {"revoked_at": [None, now.isoformat()]}
            if reason:
                changes["reason"] = reason
            audit_record(actor=actor, action="update", instance=token, changes=changes)
    return bool(revoked)


def tokens_revoke_for_user(*, user: AbstractUser, actor: AbstractUser | None, reason: str) -> int:
    """Revoke every live token of `user` (deactivation), each with an audit event."""
    with transaction.atomic():
        live = ApiToken.objects.filter(user=user, revoked_at__isnull=True)
        return sum(token_revoke(token=t, actor=actor, reason=reason) for t in live)


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
    if token.password_fingerprint != password_fingerprint(token.user):
        return None  # made before the password last changed
    if not token.user.is_active:
        # Dead for good: reactivating the user must not bring it back.
        tokens_revoke_for_user(user=token.user, actor=None, reason="user deactivated")
        return None
    if token.last_used_at is None or now - token.last_used_at > timedelta(minutes=1):
        ApiToken.objects.filter(pk=token.pk).update(last_used_at=now)
    return token
