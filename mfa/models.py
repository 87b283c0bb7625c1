"""Second-factor devices, on django-otp's Device base (so django_otp.login, device
listings and throttling work as that library documents).

Passkeys are django-otp-webauthn's own WebAuthnCredential (a public key: nothing secret
is stored). TOTP and recovery codes are ours, because django-otp's TOTPDevice and
StaticDevice keep their secrets in the clear: here the TOTP seed is sealed (crypto.py)
and recovery codes are kept only as keyed hashes.
https://django-otp-official.readthedocs.io/en/stable/extend.html
"""

from __future__ import annotations

import enum
import time

from django.conf import settings
from django.db import models
from django_otp.models import Device, ThrottlingMixin, TimestampMixin
from django_otp.oath import TOTP

from . import crypto


class Check(enum.Enum):
    """Why a code was accepted or not, so the form can say which."""

    OK = "ok"
    WRONG = "wrong"
    REUSED = "reused"
    THROTTLED = "throttled"


class TotpDevice(TimestampMixin, ThrottlingMixin, Device):
    """An authenticator app (RFC 6238: 30-second steps, 6 digits, SHA-1, as every
    authenticator app implements). Counts only once confirmed with a valid code."""

    sealed_key = models.TextField(
        editable=False,
        help_text="The seed, encrypted with a key derived from SECRET_KEY; never stored "
        "in the clear.",
    )
    step = models.PositiveSmallIntegerField(default=30, editable=False)
    digits = models.PositiveSmallIntegerField(default=6, editable=False)
    # One step either way: a phone's clock a few seconds off still works.
    tolerance = models.PositiveSmallIntegerField(default=1, editable=False)
    drift = models.SmallIntegerField(default=0, editable=False)
    # The time step of the last accepted code: a code (or an earlier one) is never
    # accepted twice, so a code seen over someone's shoulder is already spent.
    last_t = models.BigIntegerField(default=-1, editable=False)

    class Meta(Device.Meta):
        verbose_name = "authenticator app (TOTP)"
        verbose_name_plural = "authenticator apps (TOTP)"

    def seed(self) -> bytes:
        return crypto.open_seed(self.sealed_key, user_id=self.user_id)

    def get_throttle_factor(self) -> int:
        # Delays of 1, 2, 4, 8 ... seconds after successive failures (django-otp's
        # ThrottlingMixin), so 6 digits cannot be guessed online.
        return getattr(settings, "OTP_TOTP_THROTTLE_FACTOR", 1)

    def check_code(self, token: str) -> Check:
        """Verify `token`, recording the outcome (throttle, last step used). The caller
        holds the row locked (select_for_update) so two requests cannot both use it."""
        allowed, _ = self.verify_is_allowed()
        if not allowed:
            return Check.THROTTLED
        token = (token or "").strip().replace(" ", "")
        if not (token.isdigit() and len(token) == self.digits):
            self.throttle_increment()
            return Check.WRONG
        totp = TOTP(self.seed(), self.step, 0, self.digits, self.drift)
        totp.time = time.time()
        if totp.verify(int(token), self.tolerance, self.last_t + 1):
            self.last_t = totp.t()
            self.drift = totp.drift
            self.throttle_reset(commit=False)
            self.set_last_used_timestamp(commit=False)
            self.save()
            return Check.OK
        reused = totp.verify(int(token), self.tolerance)
        self.throttle_increment()
        return Check.REUSED if reused else Check.WRONG

    def verify_token(self, token: str) -> bool:
        return self.check_code(token) is Check.OK


class RecoveryCodeSet(ThrottlingMixin, TimestampMixin, Device):
    """One user's current recovery codes (a new set replaces the old one). Each code
    works once; only keyed hashes are stored (crypto.recovery_digests)."""

    class Meta(Device.Meta):
        verbose_name = "recovery code set"

    def get_throttle_factor(self) -> int:
        return getattr(settings, "OTP_STATIC_THROTTLE_FACTOR", 1)

    def remaining(self) -> int:
        return self.codes.filter(used_at__isnull=True).count()

    def verify_token(self, token: str) -> bool:
        from . import services  # the write lives in services; this keeps django-otp's API

        return services.recovery_code_use(device=self, code=token) is Check.OK


class RecoveryCode(models.Model):
    device = models.ForeignKey(RecoveryCodeSet, on_delete=models.CASCADE, related_name="codes")
    digest = models.CharField(max_length=64, unique=True)
    used_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "recovery code"

    def __str__(self) -> str:
        return f"recovery code {self.pk} of {self.device_id}"
