"""The rough edges a newcomer hit (issue 17), in the real browser: pages that overflowed
a phone's width or hid a column off-screen, and admin forms that showed too little or
said it in one long paragraph. Under the app's strict Content-Security-Policy (the
context fails a test on any violation the browser reports)."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, Page, expect

from audit.models import AuditEvent
from resources.models import AwsIamResource, Project
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
    yield from _browser.checked_context(browser, viewport=PHONE)


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


DESKTOP = 1280


def headers_within(page: Page, width: int = DESKTOP) -> None:
    """Every column header of the result list lies inside the window and inside the
    list's own box (Django scrolls a too-wide table within it, out of sight): none is
    off-screen, none needs a sideways scroll to be read."""
    results = page.locator("#changelist .results")
    frame = results.bounding_box()
    right = min(width, frame["x"] + frame["width"])
    assert results.evaluate("e => e.scrollWidth <= e.clientWidth"), "the list scrolls sideways"
    headers = page.locator("#result_list thead th")
    assert headers.count() > 3
    for index in range(headers.count()):
        header = headers.nth(index)
        box = header.bounding_box()
        label = header.inner_text().strip() or f"column {index}"
        assert box is not None and box["x"] >= 0, label
        assert box["x"] + box["width"] <= right + 0.5, (
            f"{label!r} ends at {box['x'] + box['width']}"
        )


def access_both(page: Page, context: BrowserContext, base: str, password: str) -> None:
    """As the demo user: one Access that works (readonly), one that fails (broken)."""
    _browser.sign_in(page, base, "demo", password)
    for name in ("readonly", "broken"):
        page.goto(f"{base}/")
        row = page.locator(".account", has=page.get_by_role("link", name=name))
        with context.expect_page() as opened:
            row.get_by_role("button").first.click()
        opened.value.wait_for_load_state()
        opened.value.close()
    context.clear_cookies()


def test_the_console_session_list_shows_every_column_at_1280(
    page, context, live_server, demo, shots
):
    base = live_server.url
    access_both(page, context, base, demo["demo"])
    # Values as long as real ones: a company email, an IPv6 client.
    ConsoleSession.objects.filter(status="failed").update(
        user_email="firstname.lastname@subsidiary.example.com",
        client_ip="2001:db8:85a3:1234:5678:8a2e:370:7334",
    )
    _browser.sign_in(page, base, "alice")
    page.goto(f"{base}/admin/sessions_app/consolesession/")
    expect(page.locator("#result_list tbody tr")).to_have_count(2)
    expect(page.locator("#result_list thead")).to_contain_text("Expires")
    _browser.shot(page, shots, "admin-sessions")
    headers_within(page)
    no_sideways_scroll(page)


def test_the_audit_list_shows_each_events_object_in_full(page, live_server, demo, shots):
    base = live_server.url
    _browser.sign_in(page, base, "alice")
    page.goto(f"{base}/admin/audit/auditevent/")
    _browser.shot(page, shots, "admin-audit")
    headers_within(page)
    no_sideways_scroll(page)
    # The Object column: each event's object named in full, inside the list's box.
    headers = [h.strip().lower() for h in page.locator("#result_list thead th").all_inner_texts()]
    cells = page.locator(f"#result_list tbody tr td:nth-child({headers.index('object') + 1})")
    shown = [" ".join(text.split()) for text in cells.all_inner_texts()]
    assert shown == [e.object_repr for e in AuditEvent.objects.order_by("-created_at", "-id")]
    assert "Demo / sandbox / readonly" in shown
    frame = page.locator("#changelist .results").bounding_box()
    for index in range(cells.count()):
        cell = cells.nth(index)
        box = cell.bounding_box()
        assert box["x"] + box["width"] <= frame["x"] + frame["width"] + 0.5, shown[index]
        assert cell.evaluate("e => e.scrollWidth <= e.clientWidth"), shown[index]
        # At least a word a line: not the two letters a squeezed column showed.
        assert box["width"] >= 80, (shown[index], box["width"])


def test_the_add_account_form_shows_the_policies_of_the_chosen_resource(
    page, live_server, demo, shots
):
    """The policies to create in AWS were on the resource's page only: the add form now
    offers them once a resource is chosen, filled in with its Resource Role and External
    ID, and after a save that AWS refused."""
    resource = AwsIamResource.objects.get(name="sandbox")
    external_id = resource.project.external_id
    base = live_server.url
    _browser.sign_in(page, base, "alice")
    page.goto(f"{base}/admin/accounts/pamaccount/add/")
    expect(page.locator("#pam-account-policies-pending")).to_contain_text(
        "Choose the resource first"
    )
    expect(page.locator("#pam-target-trust-policy")).to_have_count(0)
    show = page.get_by_role("link", name="Show the policies of the chosen resource")
    expect(show).to_be_hidden()
    page.get_by_label("Name").fill("typed-first")  # never thrown away by a reload of its own
    _browser.choose(page, "id_resource", "sandbox")
    expect(show).to_be_visible()
    assert page.get_by_label("Name").input_value() == "typed-first"
    show.click()
    expect(page).to_have_url(re.compile(rf"\?resource={resource.pk}$"))
    trust = json.loads(page.locator("#pam-target-trust-policy").inner_text())
    assert trust["Statement"][0]["Principal"] == {"AWS": resource.resource_role_arn}
    assert trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == external_id
    expect(page.locator("#pam-permissions-policy")).to_contain_text('"sts:AssumeRole"')
    expect(page.locator(".field-resource")).to_contain_text("sandbox")
    _browser.shot(page, shots, "admin-account-add-policies")

    # A save AWS refuses (no such Target Role) keeps the policies, with the typed ARN.
    missing = "arn:aws:iam::123456789012:role/pam-demo-not-yet"
    page.get_by_label("Name").fill("later")
    page.get_by_label("Target Role ARN").fill(missing)
    page.get_by_label("Session duration").fill("15m")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator(".errornote")).to_be_visible()
    expect(page.locator("#pam-target-trust-policy")).to_contain_text(external_id)
    expect(page.locator("#pam-permissions-policy")).to_contain_text(missing)

    # The refusal itself reads as the Access failure page does: step, AWS's code, and
    # the checklist as a list, not one paragraph.
    error = page.locator("#id_target_role_arn_error")
    expect(error.locator(".pam-check-step")).to_have_text(
        "Step that failed: Target Role (hop 2) target_role"
    )
    expect(error.locator(".pam-check-said code")).to_have_text("AccessDenied")
    checks = error.locator("ul.pam-checks > li")
    expect(checks).to_have_count(4)
    expect(checks.nth(1)).to_contain_text(
        f'its sts:ExternalId condition is exactly "{external_id}"'
    )
    expect(checks.nth(3)).to_have_text(f"the Target Role ARN is right: {missing}")
    # Shown as a bulleted list, one check a line.
    style = checks.first.evaluate(
        "e => [getComputedStyle(e).display, getComputedStyle(e).listStyleType]"
    )
    assert style == ["list-item", "disc"]
    tops = [checks.nth(n).bounding_box()["y"] for n in range(4)]
    assert tops == sorted(tops) and len(set(tops)) == 4
    error.scroll_into_view_if_needed()
    error.screenshot(path=str(shots / "admin-account-refused.png"))
