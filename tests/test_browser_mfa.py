"""The second factor in a real browser (Playwright driving Debian's Chromium, as in
test_browser.py): a passkey made by Chromium's virtual authenticator, then a step-up with
it before Access to a require_mfa account; and a TOTP step-up typing an app's code.

WebAuthn refuses IP addresses as relying party IDs, so the app is browsed as `localhost`
(pytest-django's live server address).
"""

from __future__ import annotations

import re
import time
from urllib.parse import urlsplit

import pyotp
import pytest
from django.urls import reverse
from playwright.sync_api import BrowserContext, CDPSession, Page, expect

from accounts.models import PamAccount
from audit.models import AuditEvent
from sessions_app.models import ConsoleSession, Status

from . import test_browser as _browser

# The live app, the AWS stand-ins, the demo data and the browser, as test_browser.py has
# them (pytest finds fixtures by name in this module).
browser = _browser.browser
context = _browser.context
page = _browser.page
aws_standins = _browser.aws_standins
demo = _browser.demo
shots = _browser.shots
shot = _browser.shot
sign_in = _browser.sign_in

pytestmark = pytest.mark.django_db(transaction=True)


def sign_out(page: Page) -> None:
    page.get_by_role("button", name=re.compile("Sign out")).click()
    expect(page).to_have_url(re.compile(r"/login/"))


def virtual_authenticator(context: BrowserContext, page: Page) -> tuple[CDPSession, str]:
    """A platform passkey provider that says yes at once (Chrome DevTools' WebAuthn domain)."""
    cdp = context.new_cdp_session(page)
    cdp.send("WebAuthn.enable")
    answer = cdp.send(
        "WebAuthn.addVirtualAuthenticator",
        {
            "options": {
                "protocol": "ctap2",
                "transport": "internal",
                "hasResidentKey": True,
                "hasUserVerification": True,
                "isUserVerified": True,
                "automaticPresenceSimulation": True,
            }
        },
    )
    return cdp, answer["authenticatorId"]


@pytest.fixture
def mfa_readonly(demo) -> PamAccount:
    account = PamAccount.objects.get(name="readonly")
    account.require_mfa = True
    account.save(update_fields=["require_mfa"])
    return account


def open_console(context: BrowserContext, page: Page) -> Page:
    button = page.get_by_role(
        "button", name=re.compile("Access the AWS Console as pam-demo-readonly")
    )
    with context.expect_page() as opened:
        button.click()
    console = opened.value
    console.wait_for_load_state()
    return console


def test_a_passkey_enrolled_then_used_to_step_up_before_access(
    page, context, live_server, demo, mfa_readonly, shots, settings
):
    base = live_server.url
    assert urlsplit(base).hostname == "localhost"
    cdp, authenticator = virtual_authenticator(context, page)
    sign_in(page, base, "demo", demo["demo"])
    detail = f"{base}{reverse('account-detail', args=[mfa_readonly.pk])}"

    # The accounts page says the account needs a second factor; the demo user has none.
    page.goto(f"{base}/")
    readonly = page.locator(".account", has=page.get_by_role("link", name="readonly"))
    expect(readonly).to_contain_text("Verify to Access pam-demo-readonly")
    shot(page, shots, "accounts-require-mfa")
    readonly.get_by_role("link", name=re.compile("Verify a second factor")).click()
    expect(page).to_have_url(re.compile(r"/security/\?next="))
    expect(page.locator(".mfa-messages")).to_contain_text("readonly requires MFA (require_mfa)")

    page.get_by_role("button", name="Add a passkey").click()
    expect(page.locator(".mfa-messages")).to_contain_text("Passkey added")
    expect(page.locator("section[aria-labelledby=passkeys] li")).to_contain_text("Passkey added")
    shot(page, shots, "security-passkey")
    credentials = cdp.send("WebAuthn.getCredentials", {"authenticatorId": authenticator})
    assert len(credentials["credentials"]) == 1
    assert AuditEvent.objects.filter(
        action="create", object_type="django_otp_webauthn.webauthncredential"
    ).exists()

    # A new sign-in: no check yet, so the account page asks for one.
    sign_out(page)
    sign_in(page, base, "demo", demo["demo"])
    page.goto(detail)
    expect(page).to_have_url(re.compile(r"/security/verify/\?next="))
    expect(page.get_by_role("heading", name="Verify it's you")).to_be_visible()

    # A cancelled prompt (nobody touches the authenticator; it times out) says so.
    settings.OTP_WEBAUTHN_TIMEOUT_SECONDS = 2
    cdp.send(
        "WebAuthn.setAutomaticPresenceSimulation",
        {"authenticatorId": authenticator, "enabled": False},
    )
    page.get_by_role("button", name="Use a passkey").click()
    expect(page.locator("#passkey-verification-status-message")).to_contain_text(
        "cancelled or timed out, so nothing changed", timeout=20_000
    )
    shot(page, shots, "verify-passkey-cancelled")
    cdp.send(
        "WebAuthn.setAutomaticPresenceSimulation",
        {"authenticatorId": authenticator, "enabled": True},
    )
    settings.OTP_WEBAUTHN_TIMEOUT_SECONDS = 60

    page.get_by_role("button", name="Use a passkey").click()
    expect(page).to_have_url(detail)
    expect(page.locator(".mfa-required")).to_contain_text("Access is open for")
    expect(page.locator(".mfa-messages")).to_contain_text("Verified. You can Access")
    shot(page, shots, "account-after-step-up")

    console = open_console(context, page)
    expect(console.locator("#role")).to_have_text("pam-demo-readonly")
    assert page.url == detail  # the PAM page stays where it was
    assert ConsoleSession.objects.get(account=mfa_readonly).status == Status.ACTIVE
    assert AuditEvent.objects.filter(
        action="verify", object_type="django_otp_webauthn.webauthncredential"
    ).exists()


def test_a_totp_step_up_typing_the_apps_code(page, context, live_server, demo, mfa_readonly, shots):
    base = live_server.url
    sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/security/")
    page.get_by_role("link", name="Add an authenticator app").click()
    expect(page.locator(".mfa-qr svg")).to_be_visible()
    shot(page, shots, "security-totp-enroll")
    key = page.locator("#totp-manual-key").inner_text().replace(" ", "")
    app = pyotp.TOTP(key)
    wrong = "123456" if app.now() != "123456" else "654321"
    page.get_by_label("6-digit code from your authenticator app").fill(wrong)
    page.get_by_role("button", name="Confirm and add").click()
    expect(page.locator(".error")).to_contain_text(
        "6-digit code from your authenticator app: That code is not right"
    )
    # Wrong codes slow down the next try (1 s after the first), as a person would wait.
    page.wait_for_timeout(1100)
    enrolled_step = int(time.time()) // 30
    page.get_by_label("6-digit code from your authenticator app").fill(app.now())
    page.get_by_role("button", name="Confirm and add").click()
    expect(page.locator(".mfa-messages")).to_contain_text("Authenticator app added")

    sign_out(page)
    sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    page.locator(".account", has=page.get_by_role("link", name="readonly")).get_by_role(
        "link", name=re.compile("Verify a second factor")
    ).click()
    expect(page).to_have_url(re.compile(r"/security/verify/\?next="))
    # A code works once: wait for the step after the one used to enroll.
    while int(time.time()) // 30 == enrolled_step:
        page.wait_for_timeout(500)
    page.get_by_label("6-digit code from your authenticator app").fill(app.now())
    page.get_by_role("button", name="Verify code").click()
    detail = f"{base}{reverse('account-detail', args=[mfa_readonly.pk])}"
    expect(page).to_have_url(detail)
    expect(page.locator(".mfa-messages")).to_contain_text(
        "Verified. You can Access for the next 5 minutes."
    )
    shot(page, shots, "account-after-totp")

    console = open_console(context, page)
    expect(console.locator("#role")).to_have_text("pam-demo-readonly")
    assert ConsoleSession.objects.get(account=mfa_readonly).status == Status.ACTIVE
