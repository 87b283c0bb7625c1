"""Second factor: TOTP and recovery codes enrolled at /security/, step-up before Access to
require_mfa accounts, API tokens refused, the staff rule for the admin, audit, and who
may see what. (Passkeys in a real browser: test_browser_mfa.py.)"""

from __future__ import annotations

import base64
import json
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyotp
import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django_otp_webauthn.models import WebAuthnCredential
from rest_framework.test import APIClient

from accounts.tokens import token_create
from audit.models import AuditEvent
from mfa import services, stepup
from mfa.models import RecoveryCode, RecoveryCodeSet, TotpDevice
from sessions_app.models import ConsoleSession

from .factories import AccountFactory, GrantFactory

ROOT = Path(__file__).resolve().parent.parent
T0 = datetime(2026, 12, 1, 9, 0, 0, tzinfo=UTC)
KEY = re.compile(r'id="totp-manual-key">([A-Z2-7 ]+)<')


def manual_key(page: str) -> str:
    match = KEY.search(page)
    assert match, "no manual key on the page"
    return match.group(1).replace(" ", "")


def enroll_totp(client: Client, next_url: str = "") -> pyotp.TOTP:
    """Through the pages, as a person would: read the key, type the app's code."""
    url = reverse("security-totp") + (f"?next={next_url}" if next_url else "")
    page = client.get(url)
    assert page.status_code == 200
    totp = pyotp.TOTP(manual_key(page.content.decode()))
    answer = client.post(url, {"code": totp.now(), "next": next_url})
    assert answer.status_code == 302, answer.content.decode()
    return totp


def verify_totp(client: Client, totp: pyotp.TOTP, next_url: str = "/"):
    return client.post(
        reverse("security-verify"), {"method": "totp", "code": totp.now(), "next": next_url}
    )


def error_text(response) -> str:
    return " ".join(re.findall(r'<p class="error"[^>]*>([^<]+)</p>', response.content.decode()))


@pytest.fixture
def mfa_account(db, bob):
    account = AccountFactory(name="prod-admin", require_mfa=True)
    GrantFactory(account=account, user=bob)
    return account


@pytest.fixture
def bob_client(bob) -> Client:
    client = Client()
    client.force_login(bob)
    return client


# --- TOTP enrollment ---------------------------------------------------------------


def test_enrollment_shows_a_qr_code_and_key_and_counts_only_once_confirmed(bob_client, bob):
    with time_machine.travel(T0, tick=False):
        page = bob_client.get(reverse("security-totp"))
        text = page.content.decode()
        assert page.status_code == 200
        assert "<svg" in text and 'class="segno"' in text
        assert "no-store" in page["Cache-Control"]
        key = manual_key(text)
        device = TotpDevice.objects.get(user=bob)
        assert not device.confirmed
        assert device.seed() == base64.b32decode(key + "=" * (-len(key) % 8))
        # A reload shows the same key: the user may already have scanned it.
        assert manual_key(bob_client.get(reverse("security-totp")).content.decode()) == key
        security = bob_client.get(reverse("security")).content.decode()
        assert "No second factor yet" in security
        assert "Continue where you were" not in security
        assert "Continue where you were" in bob_client.get("/security/?next=/").content.decode()

        wrong = bob_client.post(reverse("security-totp"), {"code": "000000"})
        assert wrong.status_code == 200
        assert "6-digit code from your authenticator app: That code is not right" in error_text(
            wrong
        )
        assert not TotpDevice.objects.get(pk=device.pk).confirmed

    with time_machine.travel(T0 + timedelta(seconds=5), tick=False):
        done = bob_client.post(reverse("security-totp"), {"code": pyotp.TOTP(key).now()})
        assert done.status_code == 302 and done["Location"] == reverse("security")
        assert TotpDevice.objects.get(pk=device.pk).confirmed
        page = bob_client.get(reverse("security")).content.decode()
        assert "Authenticator app added" in page
        assert "Verified: Access to MFA accounts is open" in page
    event = AuditEvent.objects.get(action="create", object_type="mfa.totpdevice")
    assert event.changes == {"user": bob.pk, "kind": "totp", "name": "Authenticator app"}


def test_a_reused_code_is_refused_naming_the_field_and_the_next_one_works(bob_client):
    with time_machine.travel(T0, tick=False):
        totp = enroll_totp(bob_client)
        again = verify_totp(bob_client, totp)  # the same time step as the enrollment
        assert again.status_code == 400
        assert "6-digit code from your authenticator app: That code was already used" in (
            error_text(again)
        )
    with time_machine.travel(T0 + timedelta(seconds=31), tick=False):
        assert verify_totp(bob_client, totp).status_code == 302


def test_repeated_wrong_codes_are_throttled_even_for_the_right_code(bob_client, bob):
    with time_machine.travel(T0, tick=False):
        totp = enroll_totp(bob_client)
    # django-otp's ThrottlingMixin: after n failures, wait 2**(n-1) seconds.
    for at in (60, 62, 65):
        with time_machine.travel(T0 + timedelta(seconds=at), tick=False):
            wrong = verify_totp(bob_client, pyotp.TOTP(pyotp.random_base32()))
            assert wrong.status_code == 400
            assert "That code is not right" in error_text(wrong)
    with time_machine.travel(T0 + timedelta(seconds=66), tick=False):
        throttled = verify_totp(bob_client, totp)
        assert throttled.status_code == 400
        assert "Slow down: after a wrong code, wait 3 s before the next try." in (
            error_text(throttled)
        )
        assert TotpDevice.objects.get(user=bob).throttling_failure_count == 3
    with time_machine.travel(T0 + timedelta(seconds=70), tick=False):
        assert verify_totp(bob_client, totp).status_code == 302
        assert TotpDevice.objects.get(user=bob).throttling_failure_count == 0
    failures = AuditEvent.objects.filter(action="verify_failed", object_type="mfa.totpdevice")
    assert sorted(e.changes["reason"] for e in failures) == ["throttled", "wrong", "wrong", "wrong"]


def test_adding_a_second_device_needs_a_fresh_check(bob_client):
    with time_machine.travel(T0, tick=False):
        enroll_totp(bob_client)
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        answer = bob_client.get(reverse("security-totp"))
        assert answer.status_code == 302
        assert answer["Location"].startswith(reverse("security-verify") + "?next=")
        # The passkey ceremony refuses too (django-otp-webauthn's own check).
        begin = bob_client.post(reverse("otp_webauthn:credential-registration-begin"))
        assert begin.status_code == 403
        assert begin.json()["code"] == "user_not_verified"


# --- Recovery codes ------------------------------------------------------------------


def test_recovery_codes_are_shown_once_stored_hashed_and_work_once(bob_client, bob):
    with time_machine.travel(T0, tick=False):
        enroll_totp(bob_client)
        page = bob_client.post(reverse("security-recovery-codes"))
        assert page.status_code == 200 and "no-store" in page["Cache-Control"]
        codes = re.findall(
            r"<code>([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})</code>", page.content.decode()
        )
        assert len(codes) == 10 and len(set(codes)) == 10
        stored = list(RecoveryCode.objects.values_list("digest", flat=True))
        assert len(stored) == 10 and not set(codes) & set(stored)
        # Shown once: the Security page only counts them.
        security = bob_client.get(reverse("security")).content.decode()
        assert "10 of your recovery codes are unused" in security
        assert codes[0] not in security

    with time_machine.travel(T0 + timedelta(minutes=10), tick=False):
        ok = bob_client.post(
            reverse("security-verify"),
            {"method": "recovery", "recovery_code": codes[0].upper(), "next": "/"},
        )
        assert ok.status_code == 302
        assert stepup.VERIFIED_AT in bob_client.session
        again = bob_client.post(
            reverse("security-verify"), {"method": "recovery", "recovery_code": codes[0]}
        )
        assert again.status_code == 400
        assert "Recovery code: That recovery code was already used" in error_text(again)
    assert RecoveryCodeSet.objects.get(user=bob).remaining() == 9
    assert AuditEvent.objects.filter(action="create", object_type="mfa.recoverycodeset").exists()
    assert AuditEvent.objects.filter(action="verify", object_type="mfa.recoverycodeset").exists()


def test_a_new_set_of_recovery_codes_replaces_the_old_one(bob):
    first = services.recovery_codes_generate(user=bob)
    services.recovery_codes_generate(user=bob)
    device = RecoveryCodeSet.objects.get(user=bob)
    assert services.recovery_code_use(device=device, code=first[0]).value == "wrong"


# --- Step-up before Access -------------------------------------------------------------


def test_without_a_device_access_sends_the_user_to_enroll_first(
    bob_client, mfa_account, federation
):
    answer = bob_client.post(reverse("account-access", args=[mfa_account.pk]))
    detail = reverse("account-detail", args=[mfa_account.pk])
    assert answer.status_code == 302
    assert answer["Location"] == f"{reverse('security')}?next={detail.replace('/', '%2F')}"
    page = bob_client.get(answer["Location"]).content.decode()
    assert "prod-admin requires MFA (require_mfa). Add an authenticator app or a passkey" in page
    assert not ConsoleSession.objects.exists()
    refused = AuditEvent.objects.get(action="access_refused")
    assert (refused.object_type, refused.object_id) == ("accounts.pamaccount", str(mfa_account.pk))
    assert refused.changes == {"rule": "require_mfa", "reason": "stale"}


def test_access_needs_a_check_within_5_minutes(bob_client, mfa_account, federation):
    access = reverse("account-access", args=[mfa_account.pk])
    detail = reverse("account-detail", args=[mfa_account.pk])
    with time_machine.travel(T0, tick=False):
        # Enrolling from the refusal comes back to the account: that check counts.
        totp = enroll_totp(bob_client, next_url=detail)
        page = bob_client.get(detail)
        assert page.status_code == 200
        assert f'action="{access}" target="_blank"' in page.content.decode()
    with time_machine.travel(T0 + timedelta(minutes=4, seconds=59), tick=False):
        assert bob_client.post(access)["Location"].startswith("https://signin.aws.amazon.com/")
    with time_machine.travel(T0 + timedelta(minutes=5, seconds=1), tick=False):
        refused = bob_client.post(access)
        assert refused.status_code == 302
        assert (
            refused["Location"] == f"{reverse('security-verify')}?next={detail.replace('/', '%2F')}"
        )
        # The account page (and its Access button) needs the check too.
        assert bob_client.get(detail)["Location"] == refused["Location"]
        home = bob_client.get("/").content.decode()
        assert "Verify to Access" in home and f'action="{access}"' not in home

        back = verify_totp(bob_client, totp, next_url=detail)
        assert back.status_code == 302 and back["Location"] == detail
        page = bob_client.get(detail).content.decode()
        assert "Verified. You can Access for the next 5 minutes." in page
        assert f'action="{access}" target="_blank"' in page
        assert bob_client.post(access).status_code == 302
    assert ConsoleSession.objects.filter(status="active").count() == 2
    assert AuditEvent.objects.filter(action="access_refused").count() == 1
    assert AuditEvent.objects.filter(action="verify", object_type="mfa.totpdevice").count() == 1


def test_accounts_without_require_mfa_need_no_second_factor(bob_client, account, federation):
    assert bob_client.post(reverse("account-access", args=[account.pk])).status_code == 302
    assert ConsoleSession.objects.get().status == "active"


def test_an_api_token_can_never_access_a_require_mfa_account(bob, mfa_account, federation):
    _, raw = token_create(user=bob, name="script", scope="access")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    answer = client.post(f"/api/v1/accounts/{mfa_account.pk}/access/")
    assert answer.status_code == 403
    assert "require_mfa" in answer.json()["detail"]
    assert "API token can never Access" in answer.json()["detail"]
    assert not ConsoleSession.objects.exists()
    refused = AuditEvent.objects.get(action="access_refused")
    assert refused.changes["reason"] == "token" and refused.via == "api"


def test_the_api_in_a_browser_session_follows_the_same_5_minute_rule(bob, mfa_account, federation):
    client = APIClient()
    client.force_login(bob)
    url = f"/api/v1/accounts/{mfa_account.pk}/access/"
    assert client.post(url).status_code == 403
    session = client.session
    session[stepup.VERIFIED_AT] = timezone.now().timestamp()
    session[stepup.VERIFIED_USER] = bob.pk
    session.save()
    assert client.post(url).status_code == 200


def test_a_check_by_another_user_in_the_same_browser_does_not_count(
    bob, charlie, mfa_account, federation
):
    client = Client()
    client.force_login(bob)
    session = client.session
    session[stepup.VERIFIED_AT] = timezone.now().timestamp()
    session[stepup.VERIFIED_USER] = charlie.pk
    session.save()
    assert client.post(reverse("account-access", args=[mfa_account.pk])).status_code == 302
    assert not ConsoleSession.objects.exists()


def test_require_mfa_in_the_api_and_the_admin_is_audited(alice, account):
    api = APIClient()
    api.force_login(alice)
    url = f"/api/v1/accounts/{account.pk}/"
    assert api.get(url).json()["require_mfa"] is False
    answer = api.patch(url, {"require_mfa": True}, format="json")
    assert answer.status_code == 200 and answer.json()["require_mfa"] is True
    account.refresh_from_db()
    assert account.require_mfa
    event = AuditEvent.objects.get(action="update", object_type="accounts.pamaccount")
    assert event.changes == {"require_mfa": [False, True]}

    admin = Client()
    admin.force_login(alice)
    page = admin.get(reverse("admin:accounts_pamaccount_change", args=[account.pk]))
    assert 'name="require_mfa"' in page.content.decode()
    listing = admin.get(reverse("admin:accounts_pamaccount_changelist") + "?require_mfa__exact=1")
    assert account.name in listing.content.decode()


# --- Devices: removal and who sees what -------------------------------------------------


def test_removing_a_device_needs_a_fresh_check_and_is_audited(bob_client, bob):
    with time_machine.travel(T0, tick=False):
        totp = enroll_totp(bob_client)
    device = TotpDevice.objects.get(user=bob)
    url = reverse("security-device-remove", args=["totp", device.pk])
    with time_machine.travel(T0 + timedelta(minutes=6), tick=False):
        stale = bob_client.post(url)
        assert stale["Location"].startswith(reverse("security-verify"))
        assert TotpDevice.objects.filter(pk=device.pk).exists()
        verify_totp(bob_client, totp)
        assert bob_client.post(url)["Location"] == reverse("security")
    assert not TotpDevice.objects.filter(pk=device.pk).exists()
    assert AuditEvent.objects.get(action="delete", object_type="mfa.totpdevice").changes == {
        "user": bob.pk,
        "kind": "totp",
        "name": "Authenticator app",
    }


@pytest.fixture
def bobs_devices(bob):
    totp = TotpDevice.objects.create(user=bob, name="phone", sealed_key="v1:x")
    passkey = WebAuthnCredential.objects.create(
        user=bob, name="laptop", credential_id=b"id", public_key=b"key", credential_id_sha256="a"
    )
    services.recovery_codes_generate(user=bob)
    return {"totp": totp, "passkey": passkey, "recovery": RecoveryCodeSet.objects.get(user=bob)}


# (method, url, expected status per role): every page and endpoint of mfa/.
PAGES = [
    ("get", "/security/", {"anonymous": 302, "member": 200, "outsider": 200, "admin": 200}),
    # Nobody else has devices: the verify page sends them to enroll.
    ("get", "/security/verify/", {"anonymous": 302, "member": 200, "outsider": 302, "admin": 302}),
    ("get", "/security/totp/", {"anonymous": 302, "member": 302, "outsider": 200, "admin": 200}),
    (
        "post",
        "/security/recovery-codes/",
        {"anonymous": 302, "member": 302, "outsider": 302, "admin": 302},
    ),
    (
        "post",
        "/security/devices/totp/{totp}/remove/",
        {"anonymous": 302, "member": 302, "outsider": 404, "admin": 404},
    ),
    (
        "post",
        "/security/devices/passkey/{passkey}/remove/",
        {"anonymous": 302, "member": 302, "outsider": 404, "admin": 404},
    ),
    (
        "post",
        "/security/devices/recovery/{recovery}/remove/",
        {"anonymous": 302, "member": 302, "outsider": 404, "admin": 404},
    ),
    (
        "post",
        "/security/devices/other/1/remove/",
        {"anonymous": 302, "member": 404, "outsider": 404, "admin": 404},
    ),
    (
        "post",
        "/security/passkeys/registration/begin/",
        {"anonymous": 403, "member": 403, "outsider": 200, "admin": 200},
    ),
    (
        "post",
        "/security/passkeys/registration/complete/",
        {"anonymous": 403, "member": 403, "outsider": 400, "admin": 400},
    ),
    (
        "post",
        "/security/passkeys/authentication/begin/",
        {"anonymous": 403, "member": 200, "outsider": 200, "admin": 200},
    ),
    (
        "post",
        "/security/passkeys/authentication/complete/",
        {"anonymous": 403, "member": 400, "outsider": 400, "admin": 400},
    ),
    (
        "get",
        "/security/passkeys/jsi18n/",
        {r: 200 for r in ("anonymous", "member", "outsider", "admin")},
    ),
    (
        "get",
        "/admin/mfa/totpdevice/",
        {"anonymous": 302, "member": 302, "outsider": 302, "admin": 200},
    ),
]


@pytest.mark.parametrize(
    ("method", "url", "expected"), PAGES, ids=[f"{m} {u}" for m, u, _ in PAGES]
)
@pytest.mark.parametrize("role", ["anonymous", "member", "outsider", "admin"])
def test_every_mfa_page_answers_each_caller_exactly(
    bob, charlie, alice, bobs_devices, method, url, expected, role
):
    """member: bob, who owns the devices (not verified now); outsider: charlie; admin:
    alice, a superuser, who still may not touch bob's devices from these pages."""
    client = Client()
    user = {"member": bob, "outsider": charlie, "admin": alice}.get(role)
    if user is not None:
        client.force_login(user)
    path = url.format(**{kind: device.pk for kind, device in bobs_devices.items()})
    response = getattr(client, method)(path)
    assert response.status_code == expected[role], response.content[:300]
    # Nobody's device was removed by anyone but its owner, and not without a check.
    assert TotpDevice.objects.filter(pk=bobs_devices["totp"].pk).exists()


def test_a_webauthn_failure_answers_json_never_a_500(bob_client, bob):
    begin = bob_client.post(reverse("otp_webauthn:credential-authentication-begin"))
    assert begin.status_code == 200
    garbage = bob_client.post(
        reverse("otp_webauthn:credential-authentication-complete"),
        data=json.dumps({"id": "x", "rawId": "x", "response": {}, "type": "public-key"}),
        content_type="application/json",
    )
    assert 400 <= garbage.status_code < 500
    assert "detail" in garbage.json()


# --- Staff and the admin -------------------------------------------------------------


def test_with_the_staff_rule_the_admin_needs_a_second_factor(settings, alice):
    settings.PAM_ADMIN_MFA = True
    client = Client()
    client.force_login(alice)
    first = client.get("/admin/")
    assert first.status_code == 302
    assert first["Location"] == f"{reverse('security')}?next=%2Fadmin%2F"
    assert (
        "The admin needs a second factor (MFA)." in client.get(first["Location"]).content.decode()
    )
    with time_machine.travel(T0, tick=False):
        totp = enroll_totp(client, next_url="/admin/")
        assert client.get("/admin/").status_code == 200
    # A new sign-in asks again, once, however long the session then lasts.
    client.logout()
    client.force_login(alice)
    with time_machine.travel(T0 + timedelta(hours=1), tick=False):
        assert client.get("/admin/accounts/")["Location"].startswith(reverse("security-verify"))
        assert (
            verify_totp(client, totp, next_url="/admin/accounts/")["Location"] == "/admin/accounts/"
        )
    with time_machine.travel(T0 + timedelta(hours=3), tick=False):
        assert client.get("/admin/accounts/").status_code == 200


def test_without_the_staff_rule_the_admin_works_as_before(alice):
    client = Client()
    client.force_login(alice)
    assert client.get("/admin/").status_code == 200


def test_the_production_profile_turns_the_staff_rule_on(tmp_path):
    probe = (
        "import django; from django.conf import settings; django.setup(); "
        "print(settings.PAM_ADMIN_MFA)"
    )
    env = {
        "PATH": "/usr/bin:/bin",
        "HOME": str(tmp_path),
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "SECRET_KEY": "probe",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
    }
    run = [sys.executable, "-c", probe]
    on = subprocess.run(
        run, cwd=ROOT, env={**env, "PAM_HTTPS": "true"}, capture_output=True, text=True, check=True
    )
    off = subprocess.run(run, cwd=ROOT, env=env, capture_output=True, text=True, check=True)
    # Production cannot switch it off; development can switch it on.
    forced = subprocess.run(
        run,
        cwd=ROOT,
        env={**env, "PAM_HTTPS": "true", "PAM_ADMIN_MFA": "false"},
        capture_output=True,
        text=True,
        check=True,
    )
    assert (on.stdout.strip(), off.stdout.strip(), forced.stdout.strip()) == (
        "True",
        "False",
        "True",
    )


# --- Passkeys, server side, with a software authenticator ----------------------------------
# (The same ceremony from Chromium's virtual authenticator: test_browser_mfa.py.)


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class SoftAuthenticator:
    """Just enough of a WebAuthn authenticator (ES256, "none" attestation) to drive
    django-otp-webauthn's views as a browser would. https://www.w3.org/TR/webauthn-3/"""

    def __init__(self, origin: str, rp_id: str) -> None:
        from cryptography.hazmat.primitives.asymmetric import ec

        self.origin, self.rp_id = origin, rp_id
        self.key = ec.generate_private_key(ec.SECP256R1())
        self.credential_id = secrets_token(32)
        self.sign_count = 0

    def _client_data(self, kind: str, challenge: str) -> bytes:
        return json.dumps(
            {"type": kind, "challenge": challenge, "origin": self.origin, "crossOrigin": False}
        ).encode()

    def _auth_data(self, flags: int, attested: bytes = b"") -> bytes:
        import hashlib

        self.sign_count += 1
        rp_hash = hashlib.sha256(self.rp_id.encode()).digest()
        return rp_hash + bytes([flags]) + self.sign_count.to_bytes(4, "big") + attested

    def create(self, options: dict) -> dict:
        import cbor2

        numbers = self.key.public_key().public_numbers()
        cose = cbor2.dumps(
            {
                1: 2,
                3: -7,
                -1: 1,
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )
        attested = (
            bytes(16) + len(self.credential_id).to_bytes(2, "big") + self.credential_id + cose
        )
        auth_data = self._auth_data(0x01 | 0x04 | 0x40, attested)  # UP, UV, AT
        attestation = cbor2.dumps({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(
                    self._client_data("webauthn.create", options["challenge"])
                ),
                "attestationObject": b64url(attestation),
                "transports": ["internal"],
            },
            "clientExtensionResults": {"credProps": {"rk": True}},
        }

    def get(self, options: dict) -> dict:
        import hashlib

        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec

        client_data = self._client_data("webauthn.get", options["challenge"])
        auth_data = self._auth_data(0x01 | 0x04)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        return {
            "id": b64url(self.credential_id),
            "rawId": b64url(self.credential_id),
            "type": "public-key",
            "response": {
                "clientDataJSON": b64url(client_data),
                "authenticatorData": b64url(auth_data),
                "signature": b64url(signature),
            },
            "clientExtensionResults": {},
        }


def secrets_token(n: int) -> bytes:
    import secrets

    return secrets.token_bytes(n)


def post_json(client: Client, name: str, body: dict | None = None, query: str = ""):
    return client.post(
        reverse(f"otp_webauthn:{name}") + query,
        data=json.dumps(body or {}),
        content_type="application/json",
    )


def test_a_passkey_registers_and_then_passes_the_step_up(bob_client, bob, mfa_account, settings):
    # Test settings: PAM_PUBLIC_URL is https://pam.example.test, so that is the RP.
    authenticator = SoftAuthenticator("https://pam.example.test", "pam.example.test")
    options = post_json(bob_client, "credential-registration-begin").json()
    assert options["rp"] == {"name": "AWS Console PAM", "id": "pam.example.test"}
    done = post_json(bob_client, "credential-registration-complete", authenticator.create(options))
    assert done.status_code == 200, done.content
    passkey = WebAuthnCredential.objects.get(user=bob)
    assert passkey.name.startswith("Passkey added")
    assert AuditEvent.objects.filter(
        action="create", object_type="django_otp_webauthn.webauthncredential"
    ).exists()

    detail = reverse("account-detail", args=[mfa_account.pk])
    with time_machine.travel(timezone.now() + timedelta(minutes=6), tick=False):
        assert bob_client.get(detail)["Location"].startswith(reverse("security-verify"))
        options = post_json(bob_client, "credential-authentication-begin").json()
        assert [c["id"] for c in options["allowCredentials"]] == [
            b64url(authenticator.credential_id)
        ]
        answer = post_json(
            bob_client,
            "credential-authentication-complete",
            authenticator.get(options),
            query=f"?next={detail}",
        )
        assert answer.status_code == 200, answer.content
        assert answer.json()["redirect_url"] == detail
        assert bob_client.get(detail).status_code == 200

        # Another site's page cannot use it: the origin is checked.
        phished = SoftAuthenticator("https://pam.example.test.evil.example", "pam.example.test")
        phished.key, phished.credential_id = authenticator.key, authenticator.credential_id
        phished.sign_count = authenticator.sign_count
        options = post_json(bob_client, "credential-authentication-begin").json()
        refused = post_json(bob_client, "credential-authentication-complete", phished.get(options))
        assert refused.status_code in (400, 403, 422)
    assert (
        AuditEvent.objects.filter(
            action="verify", object_type="django_otp_webauthn.webauthncredential"
        ).count()
        == 1
    )
    assert AuditEvent.objects.filter(action="verify_failed", changes__kind="passkey").count() == 1


def test_an_open_redirect_through_next_is_refused(bob_client):
    with time_machine.travel(T0, tick=False):
        totp = enroll_totp(bob_client)
    with time_machine.travel(T0 + timedelta(minutes=1), tick=False):
        answer = verify_totp(bob_client, totp, next_url="https://evil.example/")
        assert answer["Location"] == "/"


def test_the_check_costs_no_query_for_accounts_without_require_mfa(
    rf, bob, account, mfa_account, django_assert_num_queries
):
    from django.contrib.sessions.backends.cache import SessionStore

    from sessions_app.access import StepUpRequired, check_step_up

    request = rf.post("/")
    request.user, request.session = bob, SessionStore()
    with django_assert_num_queries(0):
        check_step_up(request, account)
    request.session[stepup.VERIFIED_AT] = timezone.now().timestamp()
    request.session[stepup.VERIFIED_USER] = bob.pk
    with django_assert_num_queries(0):
        check_step_up(request, mfa_account)  # fresh: no query either
    del request.session[stepup.VERIFIED_AT]
    with pytest.raises(StepUpRequired):
        check_step_up(request, mfa_account)


def test_an_admin_removes_a_lost_device_in_the_admin_with_an_audit_event(alice, bob):
    device = TotpDevice.objects.create(
        user=bob, name="lost phone", sealed_key="v1:x", confirmed=True
    )
    admin = Client()
    admin.force_login(alice)
    page = admin.get(reverse("admin:mfa_totpdevice_change", args=[device.pk]))
    assert page.status_code == 200 and "v1:x" not in page.content.decode()
    answer = admin.post(reverse("admin:mfa_totpdevice_delete", args=[device.pk]), {"post": "yes"})
    assert answer.status_code == 302
    assert not TotpDevice.objects.filter(pk=device.pk).exists()
    event = AuditEvent.objects.get(action="delete", object_type="mfa.totpdevice")
    assert (event.actor, event.via, event.changes["user"]) == (alice, "admin", bob.pk)
