"""Reads of second-factor devices, shared by the pages, the step-up checks and the admin rule."""

from __future__ import annotations

from dataclasses import dataclass, field

from django.contrib.auth.models import AbstractBaseUser
from django_otp_webauthn.models import WebAuthnCredential

from .models import RecoveryCodeSet, TotpDevice


@dataclass
class UserDevices:
    totp: list[TotpDevice] = field(default_factory=list)
    passkeys: list[WebAuthnCredential] = field(default_factory=list)
    recovery: RecoveryCodeSet | None = None
    recovery_left: int = 0

    @property
    def factors(self) -> int:
        """Authenticator apps and passkeys: what recovery codes stand in for."""
        return len(self.totp) + len(self.passkeys)

    @property
    def any(self) -> bool:
        return bool(self.factors or self.recovery_left)


def devices_of(user: AbstractBaseUser) -> UserDevices:
    """The user's confirmed devices (an unconfirmed TOTP enrollment does not count)."""
    recovery = RecoveryCodeSet.objects.filter(user=user, confirmed=True).first()
    return UserDevices(
        totp=list(TotpDevice.objects.filter(user=user, confirmed=True).order_by("created_at")),
        passkeys=list(
            WebAuthnCredential.objects.filter(user=user, confirmed=True).order_by("created_at")
        ),
        recovery=recovery,
        recovery_left=recovery.remaining() if recovery else 0,
    )


def has_device(user: AbstractBaseUser) -> bool:
    """Whether the user can pass a second-factor check at all."""
    return (
        TotpDevice.objects.filter(user=user, confirmed=True).exists()
        or WebAuthnCredential.objects.filter(user=user, confirmed=True).exists()
        or RecoveryCodeSet.objects.filter(
            user=user, confirmed=True, codes__used_at__isnull=True
        ).exists()
    )
