"""The whole flow in a real browser (Playwright driving Debian's Chromium) against the app
served on loopback, with the local AWS stand-ins (moto behind a trust-policy gate, and the
federation endpoint with its console page).

Screenshots of the main pages are written to $PAM_SCREENSHOTS_DIR (default: a temporary
folder); `PAM_SCREENSHOTS_DIR=docs/screenshots ./dev test tests/test_browser.py` refreshes
the ones the README shows.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import boto3
import pytest
import requests
import time_machine
from django.urls import reverse
from playwright.sync_api import Browser, BrowserContext, Page, expect, sync_playwright

from accounts.models import AccountGrant, PamAccount
from identity import oidc
from pam_demo import seed, standins
from pam_demo.people import SSO_PEOPLE
from resources.aws import iam, sts
from sessions_app import tasks
from sessions_app.models import ConsoleSession, Status

from .factories import PASSWORD
from .idp import RealIdp, issuer_of, start_real_idp

CHROMIUM = os.environ.get("PAM_CHROMIUM", "/usr/bin/chromium")
# The flags Chromium needs in a sandboxless, network-less CI container.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(scope="module")
def browser() -> Browser:
    if not Path(CHROMIUM).exists():
        pytest.fail(f"Chromium is required at {CHROMIUM} (apt-get install chromium)")
    # Playwright's sync API keeps an event loop in this thread; Django would then refuse
    # ORM calls from the test itself. Nothing here is async, so allow them, for this module.
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()
    del os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"]


def checked_context(
    browser: Browser, viewport: dict[str, int] | None = None
) -> Iterator[BrowserContext]:
    """A browser context (its own cookies: one person) whose pages must work under the
    strict Content-Security-Policy: any violation the browser reports (a blocked inline
    script or style, a foreign origin) fails the test at the end."""
    context = browser.new_context(viewport=viewport or {"width": 1280, "height": 860})
    context.set_default_timeout(15_000)
    violations: list[str] = []
    context.on(
        "console",
        lambda message: (
            violations.append(message.text) if "Content Security Policy" in message.text else None
        ),
    )
    yield context
    context.close()
    assert violations == []


@pytest.fixture
def context(browser: Browser) -> Iterator[BrowserContext]:
    yield from checked_context(browser)


@pytest.fixture
def page(context: BrowserContext) -> Page:
    return context.new_page()


@pytest.fixture
def aws_standins(settings, monkeypatch):
    running = standins.start()
    for name, value in {
        "AWS_ENDPOINT_URL_STS": running.aws.url,
        "AWS_ENDPOINT_URL_IAM": running.aws.url,
        "AWS_ACCESS_KEY_ID": "AKIABROWSERTESTS0000",
        "AWS_SECRET_ACCESS_KEY": "browser-tests",
    }.items():
        monkeypatch.setenv(name, value)
    sts.reset()
    settings.PAM_SIGNIN_URL = running.federation.url
    settings.PAM_PUBLIC_URL = ""
    yield running
    # moto keeps its state per process: start the next test from an empty AWS.
    requests.post(f"{running.aws.url}/moto-api/reset", timeout=5)
    running.stop()
    sts.reset()


@pytest.fixture
def shots(tmp_path_factory) -> Path:
    folder = Path(os.environ.get("PAM_SCREENSHOTS_DIR") or tmp_path_factory.mktemp("shots"))
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def shot(page: Page, shots: Path, name: str) -> None:
    page.screenshot(path=str(shots / f"{name}.png"), full_page=True)


def sign_in(page: Page, base: str, username: str, password: str = PASSWORD) -> None:
    page.goto(f"{base}/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).not_to_have_url(f"{base}/login/")


def choose(page: Page, field_id: str, text: str) -> None:
    """Pick `text` in one of the admin's autocomplete (select2) fields."""
    page.locator(f"#{field_id} + .select2 .select2-selection").click()
    # The open dropdown's own search box (multi-selects, such as approvers, have one
    # inline in each field as well).
    page.locator(".select2-dropdown .select2-search__field").fill(text)
    page.locator(".select2-results__option", has_text=text).first.click()


def test_an_admin_configures_project_resource_account_and_grant(
    page, live_server, aws_standins, alice, bob, shots
):
    base = live_server.url
    sign_in(page, base, "alice")
    iam = boto3.client("iam")

    page.goto(f"{base}/admin/resources/project/add/")
    page.get_by_label("Name").fill("payments")
    page.get_by_role("button", name="Save", exact=True).click()
    external_id = page.locator("#pam-external-id").inner_text()
    assert len(external_id) >= 32
    # As an admin would: create the Resource Role in AWS with the policy the page shows.
    trust = json.loads(page.locator("#pam-trust-policy").inner_text())
    assert trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == external_id
    bridge = iam.create_role(
        RoleName="payments-bridge", AssumeRolePolicyDocument=json.dumps(trust)
    )["Role"]["Arn"]

    page.goto(f"{base}/admin/resources/awsiamresource/add/")
    choose(page, "id_project", "payments")
    page.get_by_label("Name").fill("production")
    page.get_by_label("Resource Role ARN").fill("arn:aws:iam::1234:role/payments-bridge")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".field-resource_role_arn .errorlist")).to_contain_text("exactly 12 digits")

    page.get_by_label("Resource Role ARN").fill(bridge)
    page.get_by_role("button", name="Save and continue editing").click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")
    expect(page.locator("#pam-trust-policy")).to_contain_text(external_id)
    shot(page, shots, "admin-resource")
    # ...and its permissions policy, without which (as in AWS) it may assume no role.
    iam.put_role_policy(
        RoleName="payments-bridge",
        PolicyName="pam",
        PolicyDocument=page.locator("#pam-permissions-policy").inner_text(),
    )
    target_trust = json.loads(page.locator("#pam-target-trust-policy").inner_text())
    readonly = iam.create_role(
        RoleName="payments-readonly", AssumeRolePolicyDocument=json.dumps(target_trust)
    )["Role"]["Arn"]

    page.goto(f"{base}/admin/accounts/pamaccount/add/")
    choose(page, "id_resource", "production")
    page.get_by_label("Name").fill("readonly")
    page.get_by_label("Target Role ARN").fill(readonly)
    page.get_by_label("Session duration").fill("2h")
    choose(page, "id_grants-0-user", "bob")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".field-session_duration .errorlist")).to_contain_text(
        "AWS caps role-chained sessions at 1 hour"
    )
    page.get_by_label("Session duration").fill("30m")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".messagelist")).to_contain_text("was added successfully")

    account = PamAccount.objects.get(name="readonly")
    assert (account.session_duration, account.target_role_arn) == (1800, readonly)
    assert AccountGrant.objects.filter(account=account, user=bob).exists()


@pytest.fixture
def demo(aws_standins, alice, tmp_path):
    """The demo's data (project, resource, readonly/admin/broken, users demo and visitor),
    built by the same code as `./dev run --demo`."""
    return seed.seed(logins_file=tmp_path / "logins.txt")


def test_a_member_opens_the_console_and_sees_the_session_expire(
    page, context, live_server, demo, shots
):
    base = live_server.url
    sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    names = page.locator(".account .name").all_inner_texts()
    assert names == ["admin", "broken", "readonly"]
    shot(page, shots, "accounts")

    readonly = page.locator(".account", has=page.get_by_role("link", name="readonly"))
    button = readonly.get_by_role("button", name="Access the AWS Console as pam-demo-readonly")
    expect(button).to_contain_text("30m")
    with context.expect_page() as opened:
        button.click()
    console = opened.value
    console.wait_for_load_state()
    expect(console.locator("#role")).to_have_text("pam-demo-readonly")
    expect(console.locator("#session-name")).to_have_text("demo.user@example.com")
    shot(console, shots, "access-result")
    assert page.url == f"{base}/"  # the PAM page stays where it was

    page.goto(f"{base}/sessions/")
    row = page.locator("tr.status-active")
    expect(row).to_contain_text("Active")
    expect(row).to_contain_text("left")
    shot(page, shots, "sessions")

    session = ConsoleSession.objects.get(status=Status.ACTIVE)
    with time_machine.travel(session.expires_at + timedelta(seconds=1), tick=True):
        assert tasks.expire_session.apply(args=[session.pk]).get() is True
        page.reload()
        expect(page.locator("tr.status-expired")).to_contain_text("Expired")
        expect(page.locator("tr.status-active")).to_have_count(0)


def test_a_failing_aws_step_shows_its_page(page, context, live_server, demo, shots):
    base = live_server.url
    sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    broken = page.locator(".account", has=page.get_by_role("link", name="broken"))
    with context.expect_page() as opened:
        broken.get_by_role("button").click()
    failure = opened.value
    failure.wait_for_load_state()
    expect(failure.locator("h1")).to_have_text("Access to broken failed")
    expect(failure.locator(".step")).to_contain_text("Target Role (hop 2)")
    # The demo user administers nothing: the page says whom to tell and what to give
    # them, and none of the project's setup (External ID, role ARNs).
    session = ConsoleSession.objects.get()
    expect(failure.locator("ul.checks")).to_contain_text('admins of the project "Demo"')
    expect(failure.locator("ul.checks")).to_contain_text(f"console session number {session.pk}")
    assert session.account.resource.project.external_id not in failure.content()
    assert session.target_role_arn not in failure.content()
    shot(failure, shots, "access-failed")
    assert session.failure_step == "target_role"


def test_an_outsider_sees_no_accounts_and_gets_404s(page, live_server, demo, shots):
    base = live_server.url
    sign_in(page, base, "visitor", demo["visitor"])
    page.goto(f"{base}/")
    expect(page.locator(".empty h2")).to_have_text("No AWS accounts granted to you yet")
    expect(page.locator(".account")).to_have_count(0)
    shot(page, shots, "accounts-empty")

    account = PamAccount.objects.get(name="readonly")
    assert page.goto(f"{base}{reverse('account-detail', args=[account.pk])}").status == 404
    csrf = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    response = page.request.post(
        f"{base}{reverse('account-access', args=[account.pk])}",
        headers={"X-CSRFToken": csrf, "Referer": f"{base}/"},
    )
    assert response.status == 404
    assert not ConsoleSession.objects.exists()


def test_the_accounts_page_works_on_a_narrow_window(browser, live_server, demo, shots):
    context = browser.new_context(viewport={"width": 390, "height": 844})
    page = context.new_page()
    sign_in(page, live_server.url, "demo", demo["demo"])
    page.goto(f"{live_server.url}/")
    button = page.locator(".account button").first
    box = button.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390  # no sideways scrolling
    page.keyboard.press("Tab")
    expect(page.locator(".skip")).to_be_focused()  # keyboard users can skip the header
    shot(page, shots, "accounts-narrow")
    context.close()


@pytest.fixture
def sso_demo(aws_standins, alice, tmp_path, settings):
    """The demo with its identity provider: oidc-provider-mock on loopback, its people
    the demo's (sam in the group granted readonly and admin), as `./dev run --demo`."""
    with start_real_idp() as server:
        issuer = issuer_of(server)
        settings.PAM_OIDC_ISSUER = issuer
        settings.OIDC_RP_CLIENT_ID = "pam-browser-tests"
        settings.OIDC_RP_CLIENT_SECRET = "browser-tests-client-secret"
        settings.PAM_OIDC_NAME = "Demo IdP"
        settings.PAM_LOCAL_LOGIN = "superusers"
        oidc.reset()
        idp = RealIdp(issuer)
        for person in SSO_PEOPLE:
            idp.set_person(person["sub"], **{k: v for k, v in person.items() if k != "sub"})
        seed.seed(logins_file=tmp_path / "logins.txt")
        yield idp
        oidc.reset()


def test_a_person_signs_in_through_the_idp_and_their_group_gives_access(
    page, context, live_server, sso_demo, shots
):
    base = live_server.url
    page.goto(f"{base}/sessions/")
    sso = page.get_by_role("link", name="Sign in with Demo IdP")
    expect(sso).to_be_visible()
    # SSO first; the password form is folded away for break-glass administrators.
    expect(page.get_by_label("Password")).not_to_be_visible()
    expect(page.get_by_text("break-glass administrators only")).to_be_visible()
    shot(page, shots, "sign-in-sso")
    sso.click()

    # The provider's own authorization page, reached by the real redirect.
    expect(page).to_have_url(re.compile(rf"^{re.escape(sso_demo.issuer)}/oauth2/authorize\?"))
    page.get_by_placeholder("sub").fill("sam")
    page.get_by_role("button", name="Authorize").click()

    expect(page).to_have_url(f"{base}/sessions/")
    expect(page.locator("header .who")).to_have_text("sam.sso@example.com")
    page.goto(f"{base}/")
    expect(page.locator(".account .name")).to_have_text(["admin", "readonly"])
    readonly = page.locator(".account", has=page.get_by_role("link", name="readonly"))
    with context.expect_page() as opened:
        readonly.get_by_role("button").click()
    console = opened.value
    console.wait_for_load_state()
    expect(console.locator("#session-name")).to_have_text("sam.sso@example.com")


def test_robin_in_no_group_signs_in_to_no_access_and_a_cancel_shows_a_page(
    page, live_server, sso_demo, shots
):
    base = live_server.url
    page.goto(f"{base}/login/")
    page.get_by_role("link", name="Sign in with Demo IdP").click()
    page.get_by_role("button", name="Deny").click()
    expect(page.locator("h1")).to_have_text("The identity provider did not sign you in")
    expect(page.get_by_role("alert")).to_contain_text("access_denied")
    shot(page, shots, "sso-failed")

    page.get_by_role("link", name="Back to the sign-in page").click()
    page.get_by_role("link", name="Sign in with Demo IdP").click()
    page.get_by_placeholder("sub").fill("robin")
    page.get_by_role("button", name="Authorize").click()
    expect(page.locator("header .who")).to_have_text("robin.sso@example.com")
    expect(page.locator(".account")).to_have_count(0)


def test_a_member_revokes_their_live_session_from_the_history(
    page, context, live_server, demo, shots
):
    base = live_server.url
    sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    readonly = page.locator(".account", has=page.get_by_role("link", name="readonly"))
    with context.expect_page() as opened:
        readonly.get_by_role("button").click()
    console = opened.value
    console.wait_for_load_state()
    expect(console.locator("#role")).to_have_text("pam-demo-readonly")
    expect(console.locator("#denied")).to_have_count(0)

    page.goto(f"{base}/sessions/")
    row = page.locator("tr.status-active")
    row.get_by_placeholder("Why revoke?").fill("done for today")
    shot(page, shots, "session-revoke")
    row.get_by_role("button", name="Revoke").click()

    expect(page.get_by_role("status")).to_contain_text("revoked: its console stops working")
    revoked = page.locator("tr.status-revoked")
    expect(revoked.locator(".badge")).to_have_text("Revoked")
    expect(revoked).to_contain_text("by demo.user@example.com: done for today")
    expect(page.locator("tr.status-active")).to_have_count(0)
    shot(page, shots, "session-revoked")
    # What AWS now holds on the Target Role: a deny for exactly this session.
    session = ConsoleSession.objects.get(status=Status.REVOKED)
    hop1 = sts.assume_resource_role(
        role_arn=session.resource_role_arn,
        external_id=session.account.resource.project.external_id,
        session_name="browser-test",
        duration_seconds=900,
    )
    document = iam.read_revocation_policy(
        credentials=hop1.credentials, target_role=session.account.role
    )
    [statement] = document["Statement"]
    assert statement["Condition"]["StringEquals"]["aws:userid"] == session.assumed_role_id
    # The console tab, reloaded: the stand-in evaluates the deny as IAM does.
    console.reload()
    expect(console.locator("#denied")).to_contain_text("this session's credentials were revoked")
    shot(console, shots, "console-revoked")
