"""Region and service (issue 17) in the real browser: the Access button's pickers, under
the app's strict Content-Security-Policy (no inline script), and where the console opens."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from accounts.models import PamAccount
from sessions_app.models import ConsoleSession, Status

from . import test_browser as _browser

# The browser, its CSP-checked context and the demo with its AWS stand-ins, as
# test_browser.py has them (pytest finds fixtures by name in this module).
browser = _browser.browser
context = _browser.context
page = _browser.page
aws_standins = _browser.aws_standins
demo = _browser.demo
shots = _browser.shots

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_member_picks_a_region_and_service_and_the_console_opens_there(
    page, context, live_server, demo, shots
):
    PamAccount.objects.filter(name="readonly").update(
        default_region="eu-west-1",
        allowed_regions=["eu-west-1", "us-west-2"],
        default_service="s3",
        allowed_services=["s3", "ec2", "cloudwatch"],
    )
    base = live_server.url
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    readonly = page.locator(".account", has=page.get_by_role("link", name="readonly"))
    region = readonly.get_by_label("Region")
    service = readonly.get_by_label("Service")
    # The account's defaults are preselected; only its own choices are offered.
    expect(region).to_have_value("eu-west-1")
    expect(service).to_have_value("s3")
    expect(region.locator("option")).to_have_text(["eu-west-1", "us-west-2"])
    region.select_option("us-west-2")
    service.select_option("ec2")
    _browser.shot(page, shots, "access-picker")

    with context.expect_page() as opened:
        readonly.get_by_role("button", name="Access the AWS Console as pam-demo-readonly").click()
    console = opened.value
    console.wait_for_load_state()
    expect(console.locator("#role")).to_have_text("pam-demo-readonly")
    # The stand-in shows the login's Destination: what the real console would open.
    expect(console.locator("#destination")).to_have_text(
        "https://us-west-2.console.aws.amazon.com/ec2/home?region=us-west-2"
    )
    assert page.url == f"{base}/"  # the PAM page stays where it was
    session = ConsoleSession.objects.get()
    assert (session.status, session.region, session.service) == (Status.ACTIVE, "us-west-2", "ec2")

    page.goto(f"{base}/sessions/")
    expect(page.locator("tr.status-active .console-where")).to_have_text("console: us-west-2 · ec2")


def test_an_account_with_nothing_to_choose_keeps_the_plain_button_and_the_home_page(
    page, context, live_server, demo
):
    base = live_server.url
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    readonly = page.locator(".account", has=page.get_by_role("link", name="readonly"))
    expect(readonly.locator("select")).to_have_count(0)
    with context.expect_page() as opened:
        readonly.get_by_role("button").click()
    console = opened.value
    console.wait_for_load_state()
    expect(console.locator("#destination")).to_have_text("https://console.aws.amazon.com/")
