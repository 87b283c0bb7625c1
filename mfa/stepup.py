"""Step-up state in the Django session: when this signed-in user last passed a second
factor. Reading it costs no query beyond the session itself, which every signed-in
request loads anyway; so Access to an account without require_mfa pays nothing.
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest
from django.utils import timezone
from django_otp import login as otp_login
from django_otp.models import Device

VERIFIED_AT = "mfa_verified_at"
VERIFIED_USER = "mfa_verified_user"


def mark_verified(request: HttpRequest, device: Device) -> None:
    """Record a second-factor check now, and the device (django-otp's own session key).

    The session key is rotated, as at sign-in: a session raised to a higher privilege
    gets a new id, so a session id seen before the check is worth less after it.
    """
    request.session.cycle_key()
    otp_login(request, device)
    request.session[VERIFIED_AT] = timezone.now().timestamp()
    request.session[VERIFIED_USER] = request.user.pk


def verified_at(request: HttpRequest, user: AbstractBaseUser | AnonymousUser) -> float | None:
    session = getattr(request, "session", None)
    if session is None or not user.is_authenticated:
        return None
    if session.get(VERIFIED_USER) != user.pk:
        return None
    return session.get(VERIFIED_AT)


def is_fresh(request: HttpRequest, user: AbstractBaseUser | AnonymousUser | None = None) -> bool:
    """A second-factor check by this user within PAM_MFA_STEP_UP_SECONDS (5 minutes)."""
    at = verified_at(request, user if user is not None else request.user)
    if at is None:
        return False
    age = timezone.now().timestamp() - at
    return 0 <= age <= settings.PAM_MFA_STEP_UP_SECONDS


def verified_in_session(request: HttpRequest) -> bool:
    """Any second-factor check in this sign-in session (the staff rule for the admin)."""
    return verified_at(request, request.user) is not None


def seconds_left(request: HttpRequest) -> int:
    at = verified_at(request, request.user)
    if at is None:
        return 0
    return max(0, int(at + settings.PAM_MFA_STEP_UP_SECONDS - timezone.now().timestamp()))
