"""Passkeys through django-otp-webauthn: its ceremony views and browser script, with
this app's relying party, its step-up recording and its audit.

RP ID and origins: PAM_WEBAUTHN_RP_ID / PAM_WEBAUTHN_ORIGINS if set, else the host of
PAM_PUBLIC_URL, else the request's own host (already checked against ALLOWED_HOSTS). An
RP ID cannot be an IP address (WebAuthn: "a valid domain string"), so a PAM_PUBLIC_URL on
127.0.0.1 falls back to the request: browse http://localhost:8000 to use passkeys in dev.
https://www.w3.org/TR/webauthn-3/#rp-id
https://django-otp-webauthn.readthedocs.io/en/latest/reference/settings.html
"""

from __future__ import annotations

import ipaddress
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.models import AbstractBaseUser
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django_otp_webauthn import exceptions as webauthn_errors
from django_otp_webauthn import views as webauthn_views
from django_otp_webauthn.helpers import WebAuthnHelper
from django_otp_webauthn.models import AbstractWebAuthnCredential

from . import selectors, services, stepup


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        return False
    return True


def _public() -> tuple[str, str] | None:
    """(origin, host) of PAM_PUBLIC_URL, unless it is unset or an IP address."""
    parts = urlsplit(settings.PAM_PUBLIC_URL)
    if not parts.hostname or _is_ip(parts.hostname):
        return None
    return f"{parts.scheme}://{parts.netloc}", parts.hostname


def rp_id(request: HttpRequest) -> str:
    if settings.PAM_WEBAUTHN_RP_ID:
        return settings.PAM_WEBAUTHN_RP_ID
    public = _public()
    return public[1] if public else request.get_host().rsplit(":", 1)[0]


def allowed_origins(request: HttpRequest) -> list[str]:
    if settings.PAM_WEBAUTHN_ORIGINS:
        return list(settings.PAM_WEBAUTHN_ORIGINS)
    public = _public()
    return [public[0]] if public else [f"{request.scheme}://{request.get_host()}"]


class PamWebAuthnHelper(WebAuthnHelper):
    def get_allowed_origins(self) -> list[str]:
        return allowed_origins(self.request)

    def create_credential(self, user: AbstractBaseUser, *args: Any, **kwargs: Any) -> Any:
        device = super().create_credential(user, *args, **kwargs)
        device.name = f"Passkey added {timezone.now():%Y-%m-%d %H:%M} UTC"
        return device

    def register_complete(self, user: AbstractBaseUser, state: dict, data: dict) -> Any:
        self.registered = super().register_complete(user=user, state=state, data=data)
        return self.registered


def _safe_next(request: HttpRequest, default: str) -> str:
    target = request.GET.get("next") or ""
    if url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return default


class _StepUpAware:
    """The library asks `request.user.is_verified()` (django-otp's middleware sets it);
    here it means a second-factor check in the last 5 minutes, so adding a passkey to
    an account that has a device needs a fresh check first."""

    request: HttpRequest

    def initial(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        user = request.user
        if user.is_authenticated:
            user.is_verified = lambda: stepup.is_fresh(request)
        super().initial(request, *args, **kwargs)

    def user_is_mfa_enrolled(self, user: AbstractBaseUser) -> bool:
        return selectors.has_device(user)


class BeginRegistration(_StepUpAware, webauthn_views.BeginCredentialRegistrationView):
    pass


class CompleteRegistration(_StepUpAware, webauthn_views.CompleteCredentialRegistrationView):
    def get_helper(self) -> PamWebAuthnHelper:
        # One helper per request, so post() can read the device it registered.
        if not hasattr(self, "_helper"):
            self._helper = super().get_helper()
        return self._helper

    def post(self, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().post(*args, **kwargs)
        device = getattr(self.get_helper(), "registered", None)
        if device is not None:
            services.passkey_enrolled(user=self.request.user, device=device)
            # The user has just proved the new passkey is theirs.
            stepup.mark_verified(self.request, device)
            messages.success(self.request, "Passkey added. You can use it from now on.")
        return response


class BeginAuthentication(_StepUpAware, webauthn_views.BeginCredentialAuthenticationView):
    pass


class CompleteAuthentication(_StepUpAware, webauthn_views.CompleteCredentialAuthenticationView):
    def complete_auth(self, device: AbstractWebAuthnCredential) -> None:
        if not self.request.user.is_authenticated:
            # Passkeys are a second factor here, never a sign-in of their own.
            raise webauthn_errors.NotAuthenticated()
        services.passkey_verified(request=self.request, device=device)
        messages.success(self.request, "Verified. You can Access for the next 5 minutes.")

    def get_success_url(self) -> str:
        return _safe_next(self.request, reverse("security"))

    def handle_exception(self, exc: Exception) -> HttpResponse:
        user = self.request.user
        if isinstance(exc, webauthn_errors.OTPWebAuthnApiError) and user.is_authenticated:
            services.passkey_failed(user=self.request.user, code=exc.code)
        return super().handle_exception(exc)
