"""Writes of an SSO sign-in: the person, their email and name, their IdP groups.

Called once per sign-in with the verified claims. A person is found by (issuer, sub); a
new one is created with no access at all (no grant, not staff). Their email and name
are refreshed from the IdP, and the Django groups the IdP manages are set to exactly the
groups claim: a group removed at the IdP is removed here at the next sign-in, and with it
any grant given to that group. Groups nobody marked as IdP-managed are never touched.

Everything written here is audited by identity/audit.py's receivers, under the channel
`idp` and acting as nobody (the IdP says so, whoever the browser is signed in as).
"""

from __future__ import annotations

import hashlib
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractUser, Group
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.utils import timezone

from audit.context import audit_context

from .emails import email_taken_by
from .errors import SsoFailed
from .models import IdpGroup, SsoIdentity

User = get_user_model()

GROUP_NAME_MAX = Group._meta.get_field("name").max_length
USERNAME_MAX = User._meta.get_field("username").max_length


# More than this many groups is refused rather than mirrored (Entra, for one, sends an
# "overage" reference instead of the list past 200): each becomes a Django group.
MAX_GROUPS = 200


def sso_sign_in(*, issuer: str, claims: dict[str, Any], groups_claim: str) -> AbstractUser:
    subject = _subject(claims)
    email = _email(claims, require_verified=settings.PAM_OIDC_REQUIRE_EMAIL_VERIFIED)
    names = _names(claims)
    groups = _groups(claims, groups_claim)
    try:
        with audit_context(via="idp", actor=None), transaction.atomic():
            return _sign_in(issuer, subject, email, names, groups)
    except IntegrityError:
        # Two first sign-ins at once, or an email taken between the check and the write.
        raise SsoFailed(
            "account",
            "Your account changed while you were signing in: please sign in again.",
            status=409,
        ) from None


def _sign_in(
    issuer: str, subject: str, email: str, names: dict[str, str], groups: list[str]
) -> AbstractUser:
    identity = (
        SsoIdentity.objects.select_for_update()
        .select_related("user")
        .filter(issuer=issuer, subject=subject)
        .first()
    )
    if identity is not None:
        user = identity.user
        if not user.is_active:
            raise SsoFailed(
                "account",
                "Your account here is deactivated. Ask an administrator if you need access.",
                status=403,
            )
        _refuse_taken_email(email, exclude_pk=user.pk)
        changes = {
            field: [getattr(user, field), value]
            for field, value in {"email": email, **names}.items()
            if getattr(user, field) != value
        }
        if changes:
            for field, (_, value) in changes.items():
                setattr(user, field, value)
            user.save(update_fields=list(changes))
    else:
        _refuse_taken_email(email, exclude_pk=None)
        user = User(username=_free_username(email, issuer, subject), email=email, **names)
        # Signs in through the IdP only; a password would be a second way in.
        user.set_unusable_password()
        user.save()
        identity = SsoIdentity.objects.create(user=user, issuer=issuer, subject=subject)
    _mirror_groups(user, issuer, groups)
    identity.last_sign_in_at = timezone.now()
    identity.save(update_fields=["last_sign_in_at"])
    return user


def _refuse_taken_email(email: str, *, exclude_pk: int | None) -> None:
    other = email_taken_by(email, User.objects.all(), exclude_pk=exclude_pk)
    if other is not None:
        # Never merged by email: that would hand a local (perhaps admin) account to
        # whoever the IdP says owns the address.
        raise SsoFailed(
            "account",
            f'The email "{email}" from your identity provider already belongs to user '
            f'"{other}" here, and each email names one person. Nothing was changed; ask an '
            "administrator to resolve the conflict.",
            status=409,
        )


def _mirror_groups(user: AbstractUser, issuer: str, wanted: list[str]) -> None:
    marks = {m.claim_value: m.group for m in IdpGroup.objects.filter(issuer=issuer)}
    for value in wanted:
        if value not in marks:
            marks[value] = _new_idp_group(issuer, value)
    want = {marks[value] for value in wanted}
    have = set(user.groups.filter(idp__issuer=issuer))
    added, removed = want - have, have - want
    if added:
        user.groups.add(*added)
    if removed:
        user.groups.remove(*removed)


def _new_idp_group(issuer: str, value: str) -> Group:
    # A local group of the same name keeps its members and its meaning; the IdP's gets
    # a marked name beside it.
    name, n = value, 1
    while Group.objects.filter(name=name).exists():
        n += 1
        suffix = " (IdP)" if n == 2 else f" (IdP {n - 1})"
        name = value[: GROUP_NAME_MAX - len(suffix)] + suffix
    group = Group.objects.create(name=name)
    IdpGroup.objects.create(group=group, issuer=issuer, claim_value=value)
    return group


def _free_username(email: str, issuer: str, subject: str) -> str:
    base = email[:USERNAME_MAX]
    if not User.objects.filter(username=base).exists():
        return base
    tag = hashlib.sha256(f"{issuer} {subject}".encode()).hexdigest()[:8]
    return f"{email[: USERNAME_MAX - 9]}-{tag}"


def _subject(claims: dict[str, Any]) -> str:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > 255:
        raise SsoFailed("claims", 'The identity provider sent no usable "sub" claim.')
    return subject


def _email(claims: dict[str, Any], *, require_verified: bool) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or not email.strip():
        raise SsoFailed(
            "claims",
            'The identity provider sent no "email" claim: this app names people in AWS '
            'CloudTrail by their email. Ask the IdP admin to release it (scope "email").',
        )
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError:
        raise SsoFailed("claims", f'The "email" claim "{email[:100]}" is not an email.') from None
    # The email becomes the AWS session name CloudTrail shows: one a person could set to
    # anything at the IdP must not name them there.
    verified = claims.get("email_verified")
    if verified is False or (require_verified and verified is not True):
        raise SsoFailed(
            "claims",
            f'The identity provider does not say "{email}" is verified (email_verified). '
            "Ask its admin to release a verified email, or, for an IdP that never sends "
            "the claim but whose email attribute users cannot edit, set "
            "PAM_OIDC_REQUIRE_EMAIL_VERIFIED=false.",
        )
    return email


def _names(claims: dict[str, Any]) -> dict[str, str]:
    first, last = claims.get("given_name"), claims.get("family_name")
    if not isinstance(first, str) and not isinstance(last, str):
        name = claims.get("name")
        if isinstance(name, str) and name.strip():
            first, _, last = name.strip().partition(" ")
    limit = User._meta.get_field("first_name").max_length
    return {
        "first_name": (first if isinstance(first, str) else "").strip()[:limit],
        "last_name": (last if isinstance(last, str) else "").strip()[:limit],
    }


def _groups(claims: dict[str, Any], claim: str) -> list[str]:
    # An absent claim means no groups: a person removed from every group at the IdP
    # loses every IdP group here.
    values = claims.get(claim, [])
    if isinstance(values, str):
        values = [values]
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise SsoFailed("claims", f'The "{claim}" claim must be a list of group names.')
    cleaned = sorted({v.strip() for v in values if v.strip()})
    if len(cleaned) > MAX_GROUPS:
        raise SsoFailed(
            "claims",
            f'The "{claim}" claim lists {len(cleaned)} groups; at most {MAX_GROUPS} are '
            "mirrored. Ask the IdP admin to send only the groups assigned to this app.",
        )
    too_long = [v for v in cleaned if len(v) > GROUP_NAME_MAX]
    if too_long:
        raise SsoFailed(
            "claims",
            f'The group "{too_long[0][:60]}..." is longer than {GROUP_NAME_MAX} characters.',
        )
    return cleaned
