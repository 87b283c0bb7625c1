"""Just-in-time access in a real browser (Playwright driving Debian's Chromium, as in
test_browser.py), with two people in two browser contexts: the requester asks for a
window through the form, the approver approves it on /approvals/, and the requester's
account page then shows the Access button with the time left, which opens the console
(the demo federation stand-in) in a new tab.

A second test opens a break-glass window: a second factor first (a recovery code), then
the window at once, and Access.

Screenshots: requests-new.png, requests-approvals.png, requests-window.png,
requests-mine.png, requests-accounts.png and requests-break-glass.png, in
$PAM_SCREENSHOTS_DIR (`PAM_SCREENSHOTS_DIR=docs/screenshots` refreshes the README's).
"""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, expect

from access_requests.models import AccessRequest, RequestStatus
from accounts.models import AccountGrant, GrantKind, PamAccount
from mfa import services as mfa_services
from sessions_app.models import ConsoleSession, Status

from . import test_browser as _browser
from .factories import UserFactory

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


@pytest.fixture
def approver_context(browser: Browser) -> BrowserContext:
    """The second person's browser (own cookies), under the same CSP check."""
    yield from _browser.checked_context(browser)


@pytest.fixture
def eligible_admin(demo) -> PamAccount:
    """The demo's `admin` account, granted to demo as eligible (not standing), approved
    by dana."""
    account = PamAccount.objects.get(name="admin")
    AccountGrant.objects.filter(account=account, user__username="demo").update(
        kind=GrantKind.ELIGIBLE
    )
    account.approver_users.add(UserFactory(username="dana", email="dana@example.com"))
    return account


def test_a_request_approved_in_another_browser_opens_a_window_and_access_works(
    page, context, approver_context, live_server, demo, eligible_admin, shots
):
    base = live_server.url
    sign_in(page, base, "demo", demo["demo"])
    # No Approvals for someone who approves nothing.
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="My requests")).to_be_visible()
    expect(nav.get_by_role("link", name="Approvals")).to_have_count(0)
    admin = page.locator(".account", has=page.get_by_role("link", name="admin", exact=True))
    expect(admin.get_by_role("button")).to_have_count(0)  # no Access outside a window
    ask = admin.get_by_role("link", name="Request access to admin (needs approval)")
    expect(ask).to_be_visible()
    ask.click()

    # The form: the longest window shown; a bad duration answered on its field.
    expect(page.locator("h1")).to_have_text("Request access to admin")
    expect(page.locator(".max-window")).to_have_text("4h")
    page.get_by_label("Reason").fill("INC-7: the payments queue is stuck")
    page.get_by_label("Ticket reference").fill("INC-7")
    page.get_by_label("Duration").fill("5h")
    page.get_by_role("button", name="Send request").click()
    error = page.locator("#id_duration-error")
    expect(error).to_be_visible()
    expect(error).to_have_text("Duration: 5h is too long: at most 4h here.")
    assert not AccessRequest.objects.exists()
    expect(page.get_by_label("Reason")).to_have_value("INC-7: the payments queue is stuck")
    shot(page, shots, "requests-new")
    page.get_by_label("Duration").fill("1h")
    page.get_by_role("button", name="Send request").click()

    expect(page.get_by_role("status")).to_contain_text("sent to its approvers")
    request = AccessRequest.objects.get()
    row = page.locator(f"#request-{request.pk}")
    expect(row.locator(".badge")).to_have_text("Pending")
    expect(row.locator(".reason")).to_contain_text("INC-7: the payments queue is stuck")
    expect(row.get_by_role("button", name=re.compile("^Cancel request"))).to_be_visible()

    # The approver, in their own browser.
    approver = approver_context.new_page()
    sign_in(approver, base, "dana")
    approver.get_by_role("navigation", name="Main").get_by_role("link", name="Approvals").click()
    card = approver.locator(f"#request-{request.pk}")
    expect(card).to_be_visible()
    expect(card.locator(".requester")).to_have_text("demo.user@example.com")
    expect(card.locator(".reason")).to_have_text("INC-7: the payments queue is stuck")
    expect(card.locator(".ticket")).to_have_text("INC-7")
    expect(card.locator(".duration")).to_have_text("1h")
    card.get_by_label("Comment").fill("go ahead, keep it short")
    shot(approver, shots, "requests-approvals")
    card.get_by_role("button", name=re.compile("^Approve request")).click()
    expect(approver.get_by_role("status")).to_contain_text(f"Request #{request.pk} approved")
    # Now among the open windows, with its Revoke button.
    window_card = approver.locator(f"article.window#request-{request.pk}")
    expect(window_card.get_by_role("button", name=re.compile("^Revoke the window"))).to_be_visible()
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED

    # The requester's account page: the Access button and the time left.
    page.goto(f"{base}/accounts/{eligible_admin.pk}/")
    button = page.get_by_role("button", name=re.compile("Access the AWS Console as pam-demo-admin"))
    expect(button).to_be_visible()
    left = page.locator(".window-left")
    expect(left).to_be_visible()
    expect(left).to_have_text(re.compile(r"^window ends \d\d:\d\d \((59|60) min left\)$"))
    shot(page, shots, "requests-window")
    with context.expect_page() as opened:
        button.click()
    console = opened.value
    console.wait_for_load_state()
    expect(console.locator("#role")).to_have_text("pam-demo-admin")
    expect(console.locator("#session-name")).to_have_text("demo.user@example.com")
    assert page.url == f"{base}/accounts/{eligible_admin.pk}/"  # the PAM page stays
    session = ConsoleSession.objects.get(status=Status.ACTIVE)
    assert session.access_request_id == request.pk

    # The history of the request names who approved it, and what they said.
    page.goto(f"{base}/requests/")
    decisions = page.locator(f"#request-{request.pk} .decisions")
    expect(decisions).to_contain_text("Approved by dana@example.com")
    expect(decisions).to_contain_text("go ahead, keep it short")
    expect(page.locator(f"#request-{request.pk} .left")).to_have_text(
        re.compile(r"^(59|60) min left$")
    )
    shot(page, shots, "requests-mine")


def test_break_glass_asks_for_the_second_factor_then_opens_the_window_at_once(
    page, context, live_server, demo, eligible_admin, shots
):
    eligible_admin.break_glass = True
    eligible_admin.save(update_fields=["break_glass"])
    [code, *_] = mfa_services.recovery_codes_generate(user=User.objects.get(username="demo"))
    base = live_server.url
    sign_in(page, base, "demo", demo["demo"])
    admin = page.locator(".account", has=page.get_by_role("link", name="admin", exact=True))
    expect(admin.get_by_role("link", name=re.compile("^Request access to admin"))).to_be_visible()
    glass = admin.get_by_role("link", name=re.compile("^Break-glass: open a window on admin"))
    expect(glass).to_be_visible()
    shot(page, shots, "requests-accounts")
    glass.click()

    # No fresh second factor: verify first, then back to the break-glass form.
    expect(page).to_have_url(re.compile(r"/security/verify/\?next=.*break_glass%3D1"))
    page.get_by_text("Use a recovery code").click()
    page.get_by_label("Recovery code").fill(code)
    page.get_by_role("button", name="Verify recovery code").click()
    expect(page.locator("h1")).to_have_text("Break-glass: open a window on admin now")
    expect(page.locator(".notice.warning")).to_be_visible()
    expect(page.get_by_label("Start")).to_have_count(0)  # it opens now
    page.get_by_label("Reason").fill("SEV-1: payments down, no approver awake")
    page.get_by_label("Duration").fill("30m")
    shot(page, shots, "requests-break-glass")
    page.get_by_role("button", name="Open break-glass window now").click()

    # The account page, where Access now works.
    expect(page).to_have_url(f"{base}/accounts/{eligible_admin.pk}/")
    expect(page.get_by_role("status")).to_contain_text("Break-glass window on admin open until")
    expect(page.locator(".window-left")).to_have_text(re.compile(r"\((29|30) min left\)$"))
    with context.expect_page() as opened:
        page.get_by_role(
            "button", name=re.compile("Access the AWS Console as pam-demo-admin")
        ).click()
    console = opened.value
    console.wait_for_load_state()
    expect(console.locator("#role")).to_have_text("pam-demo-admin")
    request = AccessRequest.objects.get()
    assert (request.status, request.break_glass) == (RequestStatus.APPROVED, True)
    assert ConsoleSession.objects.get(status=Status.ACTIVE).access_request_id == request.pk
