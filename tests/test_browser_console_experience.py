"""The console experience (issue 17) in the real browser, under the app's strict
Content-Security-Policy (the context fails the test on any violation): a live session's
countdown, Open again and Renew; the accounts page's filter and favourites; "sign out of
the previous console first" through the console stand-in; the sessions page at 390 px."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from playwright.sync_api import expect

from accounts.models import Favourite, PamAccount
from identity.models import Preferences
from sessions_app.models import ConsoleSession, Status

from . import test_browser as _browser
from .factories import ConsoleSessionFactory

# The browser, its CSP-checked context and the demo with its AWS stand-ins, as
# test_browser.py has them (pytest finds fixtures by name in this module).
browser = _browser.browser
context = _browser.context
page = _browser.page
aws_standins = _browser.aws_standins
demo = _browser.demo
shots = _browser.shots

pytestmark = pytest.mark.django_db(transaction=True)


def _demo_user() -> User:
    return User.objects.get(username="demo")


def card(page, name: str):
    return page.locator("li.account", has=page.get_by_role("link", name=name, exact=True))


def access(page, context, name: str):
    """Click Access on the account `name`: the console stand-in's tab, loaded."""
    with context.expect_page() as opened:
        card(page, name).get_by_role("button", name=re.compile("^Access the AWS Console")).click()
    console = opened.value
    console.wait_for_load_state()
    return console


def test_a_live_session_counts_down_shows_renew_near_its_end_and_says_ended(
    page, live_server, demo, shots
):
    base = live_server.url
    readonly = PamAccount.objects.get(name="readonly")
    now = timezone.now()
    ConsoleSessionFactory(
        user=_demo_user(),
        account=readonly,
        status=Status.ACTIVE,
        activated_at=now - timedelta(minutes=10),
        expires_at=now + timedelta(minutes=16),
    )
    # The page's clock, driven by the test: time passes in the page, not in the test.
    page.clock.install()
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/sessions/")
    row = page.locator("tr.status-active")
    countdown = row.locator(".countdown")
    expect(countdown).to_have_text(re.compile(r"^1[56]m \d+s left$"))
    first = countdown.inner_text()
    renew = row.get_by_role("button", name=re.compile("^Renew"))
    expect(renew).to_be_hidden()  # not before its last 15 minutes
    expect(row.get_by_role("link", name=re.compile("^Open again"))).to_be_visible()

    page.clock.run_for(3_000)
    expect(countdown).not_to_have_text(first)  # it ticks
    page.clock.run_for(60_000)
    expect(countdown).to_have_text(re.compile(r"^1[45]m \d+s left$"))
    expect(renew).to_be_visible()  # now in its last 15 minutes
    _browser.shot(page, shots, "session-countdown")

    page.clock.run_for(15 * 60_000)
    expect(countdown).to_have_text("ended")
    expect(renew).to_be_hidden()
    expect(row.get_by_role("link", name=re.compile("^Open again"))).to_be_hidden()


def test_open_again_opens_the_sessions_console_and_renew_makes_a_new_session(
    page, context, live_server, demo, shots
):
    base = live_server.url
    readonly = PamAccount.objects.get(name="readonly")
    readonly.default_region, readonly.allowed_regions = "eu-west-1", ["eu-west-1"]
    readonly.default_service, readonly.allowed_services = "ec2", ["ec2"]
    readonly.save()
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    console = access(page, context, "readonly")
    expect(console.locator("#role")).to_have_text("pam-demo-readonly")
    session = ConsoleSession.objects.get()

    # The home page's card shows the live session too.
    page.reload()
    live = card(page, "readonly").locator(".live-here")
    expect(live.locator(".countdown")).to_have_text(re.compile(r"^(29m \d+s|30m 0s) left$"))
    _browser.shot(page, shots, "accounts-live")

    # Open again: the console Destination, in a new tab, straight to AWS (the browser is
    # still signed in there): no sign-in, no new row. The real console is not reachable
    # from the test machine: the tab's request is answered here.
    destination = "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1"
    context.route(
        re.compile(r"^https://eu-west-1\.console\.aws\.amazon\.com/.*"),
        lambda route: route.fulfill(body="<title>the console</title>", content_type="text/html"),
    )
    with context.expect_page() as opened:
        live.get_by_role("link", name=re.compile("^Open again")).click()
    again = opened.value
    again.wait_for_load_state()
    assert again.url == destination
    assert ConsoleSession.objects.count() == 1

    # Renew, in the session's last 15 minutes: a new Access to the same place.
    ConsoleSession.objects.filter(pk=session.pk).update(
        expires_at=timezone.now() + timedelta(minutes=10)
    )
    page.goto(f"{base}/sessions/")
    row = page.locator(f"#session-{session.pk}")
    with context.expect_page() as opened:
        row.get_by_role("button", name=re.compile("^Renew")).click()
    renewed = opened.value
    renewed.wait_for_load_state()
    expect(renewed.locator("#role")).to_have_text("pam-demo-readonly")
    expect(renewed.locator("#destination")).to_have_text(destination)
    assert page.url == f"{base}/sessions/"  # the PAM page stays
    newest = ConsoleSession.objects.exclude(pk=session.pk).get()
    assert (newest.status, newest.region, newest.service) == (Status.ACTIVE, "eu-west-1", "ec2")
    page.reload()
    expect(page.locator("tr.status-active")).to_have_count(2)


def test_the_accounts_filter_narrows_as_one_types(page, live_server, demo, shots):
    base = live_server.url
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    box = page.get_by_label("Filter accounts")
    count = page.locator("#account-count")
    names = page.locator("li.account:visible .name")
    expect(count).to_have_text("3 of 3 accounts")

    box.press_sequentially("READ")  # any case
    expect(names).to_have_text(["readonly"])
    expect(count).to_have_text("1 of 3 accounts")
    box.fill("pam-demo-missing")  # a Target Role's name
    expect(names).to_have_text(["broken"])
    box.fill("demo sandbox")  # project and resource: every term
    expect(count).to_have_text("3 of 3 accounts")
    _browser.shot(page, shots, "accounts-filter")

    box.fill("no-such-thing")
    expect(count).to_have_text("0 of 3 accounts")
    empty = page.locator("#filter-empty")
    expect(empty).to_be_visible()
    expect(empty).to_contain_text("No account matches “no-such-thing”")
    expect(page.locator("section.project")).to_be_hidden()
    # The address keeps the filter: a reload shows the same, made by the server.
    page.reload()
    expect(box).to_have_value("no-such-thing")
    expect(empty).to_be_visible()
    box.fill("")
    expect(count).to_have_text("3 of 3 accounts")
    expect(empty).to_be_hidden()


def test_a_star_puts_an_account_first_and_unstarring_puts_it_back(page, live_server, demo, shots):
    base = live_server.url
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    expect(page.locator("li.account .name")).to_have_text(["admin", "broken", "readonly"])
    star = card(page, "readonly").get_by_role("checkbox", name="Favourite readonly")
    with page.expect_response(re.compile(r"/favourite/$")) as answer:
        star.check()
    assert answer.value.ok
    expect(star).to_be_checked()
    assert Favourite.objects.filter(account__name="readonly").count() == 1

    page.reload()
    favourites = page.locator("section.favourites")
    expect(favourites.locator(".name")).to_have_text(["readonly"])
    expect(page.locator("li.account .name").first).to_have_text("readonly")
    expect(page.locator("li.account .name")).to_have_count(3)  # listed once
    _browser.shot(page, shots, "accounts-favourite")

    with page.expect_response(re.compile(r"/favourite/$")):
        favourites.get_by_role("checkbox", name="Favourite readonly").uncheck()
    page.reload()
    expect(page.locator("section.favourites")).to_have_count(0)
    expect(page.locator("li.account .name")).to_have_text(["admin", "broken", "readonly"])
    assert not Favourite.objects.exists()


def test_recently_used_accounts_come_first(page, context, live_server, demo):
    base = live_server.url
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    access(page, context, "readonly")
    page.reload()
    expect(page.locator("section.recent .name")).to_have_text(["readonly"])
    expect(page.locator("li.account .name")).to_have_text(["readonly", "admin", "broken"])


def test_logout_first_signs_the_browser_out_of_aws_before_signing_in(
    page, context, live_server, demo, aws_standins, shots
):
    base = live_server.url
    federation = aws_standins.federation_app
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/")
    first = access(page, context, "readonly")  # beside whatever is open: no sign-out
    expect(first.locator("#role")).to_have_text("pam-demo-readonly")
    assert federation.events == ["login"]

    page.goto(f"{base}/preferences/")
    page.get_by_label("Sign out of the previous AWS console first").check()
    page.get_by_role("button", name="Save").click()
    expect(page.locator("ul.messages")).to_contain_text("signs out of the previous AWS console")
    assert Preferences.objects.get().logout_first is True
    _browser.shot(page, shots, "preferences")

    page.goto(f"{base}/")
    second = access(page, context, "readonly")
    # Our page, then AWS's sign-out, then the sign-in: the stand-in saw them in order.
    expect(second.locator("#role")).to_have_text("pam-demo-readonly")
    assert federation.events == ["login", "logout", "login"]
    assert ConsoleSession.objects.count() == 2  # one row per Access, as ever
    first.reload()
    expect(first.locator("#signed-out")).to_be_visible()  # the earlier console ended


def test_the_sessions_page_is_usable_at_390_pixels(page, live_server, demo, shots):
    base = live_server.url
    readonly = PamAccount.objects.get(name="readonly")
    user = _demo_user()
    now = timezone.now()
    # STS's error codes, up to its longest (36 characters: wider than a phone's line).
    for code in (
        "AccessDenied",
        "RegionDisabledException",
        "InvalidAuthorizationMessageException",
    ):
        ConsoleSessionFactory(
            user=user,
            account=readonly,
            status=Status.FAILED,
            failure_step="target_role",
            error_code=code,
            ended_at=now,
        )
    ConsoleSessionFactory(
        user=user,
        account=readonly,
        status=Status.ACTIVE,
        activated_at=now,
        expires_at=now + timedelta(minutes=10),
        client_ip="2001:db8:85a3::8a2e:370:7334",
    )
    page.set_viewport_size({"width": 390, "height": 844})
    _browser.sign_in(page, base, "demo", demo["demo"])
    page.goto(f"{base}/sessions/")
    # Nothing beyond the right edge: no sideways scrolling, every cell on screen.
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 390, width
    for cell in page.locator("table.sessions td").all():
        box = cell.bounding_box()
        assert box["x"] >= 0 and box["x"] + box["width"] <= 390, cell.inner_text()
    # Each cell says what it is (the header row is not shown on a narrow screen).
    labels = page.eval_on_selector_all(
        "tr.status-failed td",
        "cells => cells.map(c => getComputedStyle(c, '::before').content)",
    )
    assert labels[:7] == [
        '"Session"',
        '"Account"',
        '"Started"',
        '"Status"',
        '"Time left"',
        '"Ended"',
        '"From"',
    ]
    # A failure: "—" under Time left, its time under Ended, its code whole on one line.
    failed = page.locator("tr.status-failed").first
    expect(failed.locator("td.time-left")).to_have_text("—")
    expect(failed.locator("td.ended")).to_have_text(re.compile(r"^\d{4}-\d\d-\d\d \d\d:"))
    for code in page.locator("code.error-code").all():
        lines = code.evaluate("c => c.getClientRects().length")
        assert lines == 1, f"{code.inner_text()} is broken over {lines} lines"
    expect(page.locator("tr.status-active .countdown")).to_be_visible()
    _browser.shot(page, shots, "sessions-narrow")
