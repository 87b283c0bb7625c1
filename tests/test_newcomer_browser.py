"""The rough edges a newcomer hit (issue 17), in the real browser: pages that overflowed
a phone's width or hid a column off-screen, and admin forms that showed too little or
said it in one long paragraph. Under the app's strict Content-Security-Policy (the
context fails a test on any violation the browser reports)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, Page, expect

from resources.models import Project
from sessions_app.models import ConsoleSession

from . import test_browser as _browser
from .factories import ProjectRoleFactory

# The browser, its CSP-checked context and the demo with its AWS stand-ins, as
# test_browser.py has them (pytest finds fixtures by name in this module).
browser = _browser.browser
context = _browser.context
page = _browser.page
aws_standins = _browser.aws_standins
demo = _browser.demo
shots = _browser.shots

pytestmark = pytest.mark.django_db(transaction=True)

PHONE = {"width": 390, "height": 844}


@pytest.fixture
def phone(browser: Browser) -> Iterator[BrowserContext]:
    """A CSP-checked context as wide as a phone (pages it opens in new tabs are too)."""
    context = browser.new_context(viewport=PHONE)
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


def no_sideways_scroll(page: Page) -> None:
    widths = page.evaluate("() => [document.documentElement.scrollWidth, window.innerWidth]")
    assert widths[0] <= widths[1], f"the page is {widths[0]} px wide in a {widths[1]} px window"


def fully_visible(page: Page, text: str) -> None:
    """`text` is on the page, inside the window's width, and not clipped by its box."""
    element = page.locator("li, p, code", has_text=text).last
    expect(element).to_be_visible()
    box = element.bounding_box()
    width = page.evaluate("() => window.innerWidth")
    assert box["x"] >= 0 and box["x"] + box["width"] <= width, (text, box)
    assert element.evaluate("e => e.scrollWidth <= e.clientWidth"), f"{text} is clipped"


def test_the_failure_page_fits_a_phone_with_the_external_id_and_arns_wrapped(
    phone, live_server, demo, shots
):
    """As the project's admin, the failure page lists the External ID and the role ARNs:
    at 390 px they ran off the right edge."""
    project = Project.objects.get(name="Demo")
    ProjectRoleFactory(project=project, user=User.objects.get(username="demo"), role="admin")
    page = phone.new_page()
    base = live_server.url
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    broken = page.locator(".account", has=page.get_by_role("link", name="broken"))
    with phone.expect_page() as opened:
        broken.get_by_role("button").click()
    failure = opened.value
    failure.wait_for_load_state()
    expect(failure.locator("h1")).to_have_text("Access to broken failed")
    session = ConsoleSession.objects.get()
    # The admin sees the setup: the External ID and the Target Role's ARN.
    expect(failure.locator("ul.checks")).to_contain_text(project.external_id)
    expect(failure.locator("ul.checks")).to_contain_text(session.target_role_arn)
    no_sideways_scroll(failure)
    fully_visible(failure, project.external_id)
    fully_visible(failure, session.target_role_arn)
    _browser.shot(failure, shots, "access-failed-narrow")
