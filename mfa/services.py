"""Every write of the second factor: enrolling and removing devices, recovery codes, and
step-up checks, each audited (audit.services) in the same transaction.

Audit vocabulary (object_type names the device model, never its secret):
  create / delete   a device enrolled / removed, a recovery code set generated
  verify            a step-up passed (the device that passed it)
  verify_failed     a step-up code refused (wrong, reused, throttled)
  access_refused    Access to a require_mfa account refused (on the PAM account)
"""

from __future__ import annotations

import math
import secrets
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Model
from django.http import HttpRequest
from django.utils import timezone
from django_otp.models import Device

from audit.services import audit_record

from . import crypto, stepup
from .models import Check, RecoveryCode, RecoveryCodeSet, TotpDevice

SEED_BYTES = 20  # RFC 4226 recommends 160 bits for HMAC-SHA-1
RECOVERY_CODES = 10
# 12 characters of 31 letters and digits without look-alikes (no i, l, o, 0, 1): 59
# random bits per code, shown as xxxx-xxxx-xxxx.
RECOVERY_ALPHABET = "abcdefghjkmnpqrstuvwxyz23456789"
RECOVERY_LENGTH = 12


def _device_kind(device: Device) -> str:
    return {"totpdevice": "totp", "recoverycodeset": "recovery"}.get(
        device._meta.model_name, "passkey"
    )


def _audit(actor: AbstractBaseUser | None, action: str, instance: Model, **changes: Any) -> None:
    audit_record(actor=actor, action=action, instance=instance, changes=changes)


# --- TOTP -------------------------------------------------------------------------


def totp_enroll_start(*, user: AbstractBaseUser, reuse_id: int | None = None) -> TotpDevice:
    """An unconfirmed authenticator app with a new seed (sealed), or the pending one the
    user is already looking at (a reload must not change the QR code they scanned)."""
    if reuse_id is not None:
        pending = TotpDevice.objects.filter(pk=reuse_id, user=user, confirmed=False).first()
        if pending is not None:
            return pending
    TotpDevice.objects.filter(user=user, confirmed=False).delete()
    return TotpDevice.objects.create(
        user=user,
        name="Authenticator app",
        confirmed=False,
        sealed_key=crypto.seal_seed(secrets.token_bytes(SEED_BYTES), user_id=user.pk),
    )


def totp_enroll_confirm(*, request: HttpRequest, device_id: int, code: str) -> Check:
    """Confirm a pending authenticator app with a valid code: only then does it count.
    Proving the code also counts as a second-factor check (the user just used it)."""
    user = request.user
    with transaction.atomic():
        device = (
            TotpDevice.objects.select_for_update()
            .filter(pk=device_id, user=user, confirmed=False)
            .first()
        )
        if device is None:
            return Check.WRONG
        result = device.check_code(code)
        if result is not Check.OK:
            return result
        device.confirmed = True
        device.save(update_fields=["confirmed"])
        _audit(user, "create", device, user=user.pk, kind="totp", name=device.name)
    stepup.mark_verified(request, device)
    return result


def totp_verify(*, request: HttpRequest, code: str) -> Check:
    """A step-up with an authenticator app: any of the user's confirmed ones."""
    user = request.user
    with transaction.atomic():
        devices = list(
            TotpDevice.objects.select_for_update()
            .filter(user=user, confirmed=True)
            .order_by("-last_used_at", "pk")
        )
        results = []
        for device in devices:
            result = device.check_code(code)
            if result is Check.OK:
                _audit(user, "verify", device, kind="totp")
                break
            results.append(result)
        else:
            # Report the most useful reason: throttled, else reused, else wrong.
            result = next((r for r in (Check.THROTTLED, Check.REUSED) if r in results), Check.WRONG)
            _audit(
                user,
                "verify_failed",
                devices[0] if devices else user,
                kind="totp",
                reason=result.value,
            )
            return result
    stepup.mark_verified(request, device)
    return result


def totp_locked_for(user: AbstractBaseUser) -> int:
    """Seconds until the user's authenticator apps (a pending enrollment included)
    accept a code again; 0: now."""
    waits = []
    for device in TotpDevice.objects.filter(user=user):
        allowed, info = device.verify_is_allowed()
        if not allowed and info and info.get("locked_until"):
            waits.append((info["locked_until"] - timezone.now()).total_seconds())
    return max(1, math.ceil(min(waits))) if waits else 0


# --- Recovery codes ------------------------------------------------------------------


def _normalize(code: str) -> str:
    return "".join(ch for ch in (code or "").lower() if ch.isalnum())


def _new_code() -> str:
    raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(RECOVERY_LENGTH))
    return "-".join(raw[i : i + 4] for i in range(0, RECOVERY_LENGTH, 4))


def recovery_codes_generate(*, user: AbstractBaseUser) -> list[str]:
    """A new set of single-use recovery codes, replacing any previous set. The codes are
    returned once, to be shown once; only their keyed hashes are stored."""
    codes = [_new_code() for _ in range(RECOVERY_CODES)]
    with transaction.atomic():
        old = RecoveryCodeSet.objects.filter(user=user)
        for previous in old:
            _audit(user, "delete", previous, user=user.pk, kind="recovery", replaced=True)
        old.delete()
        device = RecoveryCodeSet.objects.create(user=user, name="Recovery codes")
        RecoveryCode.objects.bulk_create(
            RecoveryCode(device=device, digest=crypto.recovery_digests(_normalize(c))[0])
            for c in codes
        )
        _audit(user, "create", device, user=user.pk, kind="recovery", codes=len(codes))
    return codes


def recovery_code_use(*, device: RecoveryCodeSet, code: str) -> Check:
    """Spend one code: a conditional UPDATE, so the same code never works twice, even
    from two requests at once."""
    allowed, _ = device.verify_is_allowed()
    if not allowed:
        return Check.THROTTLED
    digests = crypto.recovery_digests(_normalize(code))
    spent = RecoveryCode.objects.filter(
        device=device, digest__in=digests, used_at__isnull=True
    ).update(used_at=timezone.now())
    if spent:
        device.throttle_reset(commit=False)
        device.set_last_used_timestamp(commit=False)
        device.save()
        return Check.OK
    reused = RecoveryCode.objects.filter(device=device, digest__in=digests).exists()
    device.throttle_increment()
    return Check.REUSED if reused else Check.WRONG


def recovery_verify(*, request: HttpRequest, code: str) -> Check:
    user = request.user
    with transaction.atomic():
        device = RecoveryCodeSet.objects.select_for_update().filter(user=user).first()
        if device is None:
            _audit(user, "verify_failed", user, kind="recovery", reason="no_codes")
            return Check.WRONG
        result = recovery_code_use(device=device, code=code)
        if result is not Check.OK:
            _audit(user, "verify_failed", device, kind="recovery", reason=result.value)
            return result
        _audit(user, "verify", device, kind="recovery", left=device.remaining())
    stepup.mark_verified(request, device)
    return result


# --- Passkeys (django-otp-webauthn does the ceremony; we record it) -----------------------


def passkey_enrolled(*, user: AbstractBaseUser, device: Device) -> None:
    _audit(user, "create", device, user=user.pk, kind="passkey", name=device.name)


def passkey_verified(*, request: HttpRequest, device: Device) -> None:
    _audit(request.user, "verify", device, kind="passkey")
    stepup.mark_verified(request, device)


def passkey_failed(*, user: AbstractBaseUser, code: str) -> None:
    _audit(user, "verify_failed", user, kind="passkey", reason=code)


# --- Any device ----------------------------------------------------------------------


def device_remove(*, device: Device, actor: AbstractBaseUser) -> None:
    with transaction.atomic():
        _audit(
            actor,
            "delete",
            device,
            user=device.user_id,
            kind=_device_kind(device),
            name=device.name,
        )
        device.delete()


def access_refused(*, user: AbstractBaseUser, account: Model, reason: str) -> None:
    """Access to a require_mfa account refused before the chain ran (no Console Session
    is written, as for the grant check): the audit log keeps the attempt."""
    _audit(user, "access_refused", account, rule="require_mfa", reason=reason)
