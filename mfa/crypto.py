"""Keys derived from SECRET_KEY, one per purpose: the TOTP seed's encryption and the
recovery codes' keyed hash.

A TOTP seed is a shared secret: whoever reads it makes valid codes forever. So it is
stored sealed with AES-GCM (a key derived from SECRET_KEY by HKDF with a purpose string,
and the owner's user id as associated data, so a sealed seed copied to another user's
row does not open). A database dump alone then reveals no seed. SECRET_KEY_FALLBACKS are
tried when opening, so a key rotation done Django's way keeps the devices working.
https://docs.djangoproject.com/en/5.2/ref/settings/#secret-key-fallbacks
https://cryptography.io/en/latest/hazmat/primitives/aead/#cryptography.hazmat.primitives.ciphers.aead.AESGCM
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from functools import lru_cache

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings

SEED_PURPOSE = "mfa.totp-seed.v1"
RECOVERY_PURPOSE = "mfa.recovery-code.v1"
SEALED_VERSION = "v1"
NONCE_BYTES = 12


class SealedSecretUnreadable(Exception):
    """No current or fallback SECRET_KEY opens it (SECRET_KEY changed without fallback)."""


@lru_cache(maxsize=32)
def _derive(secret: str, purpose: str) -> bytes:
    return HKDF(
        algorithm=hashes.SHA256(),
        length=32,
        salt=None,
        info=f"aws-console-pam/{purpose}".encode(),
    ).derive(secret.encode())


def _secrets() -> list[str]:
    return [settings.SECRET_KEY, *getattr(settings, "SECRET_KEY_FALLBACKS", [])]


def _aad(user_id: int) -> bytes:
    return f"{SEED_PURPOSE}:user:{user_id}".encode()


def seal_seed(seed: bytes, *, user_id: int) -> str:
    """The seed, encrypted for storage: `v1:<base64(nonce + ciphertext + tag)>`."""
    nonce = os.urandom(NONCE_BYTES)
    sealed = AESGCM(_derive(settings.SECRET_KEY, SEED_PURPOSE)).encrypt(nonce, seed, _aad(user_id))
    return f"{SEALED_VERSION}:{base64.urlsafe_b64encode(nonce + sealed).decode()}"


def open_seed(sealed: str, *, user_id: int) -> bytes:
    version, _, body = sealed.partition(":")
    if version != SEALED_VERSION:
        raise SealedSecretUnreadable(f"unknown format {version!r}")
    raw = base64.urlsafe_b64decode(body.encode())
    nonce, ciphertext = raw[:NONCE_BYTES], raw[NONCE_BYTES:]
    for secret in _secrets():
        try:
            return AESGCM(_derive(secret, SEED_PURPOSE)).decrypt(nonce, ciphertext, _aad(user_id))
        except InvalidTag:
            continue
    raise SealedSecretUnreadable("no SECRET_KEY (current or fallback) opens this seed")


def recovery_digests(code: str) -> list[str]:
    """HMAC-SHA256 of a normalized recovery code under each SECRET_KEY (current first).

    Keyed, so a database dump alone does not allow guessing codes offline; fast, since
    a code carries 60 random bits and each verification computes a few.
    """
    return [
        hmac.new(_derive(secret, RECOVERY_PURPOSE), code.encode(), hashlib.sha256).hexdigest()
        for secret in _secrets()
    ]
