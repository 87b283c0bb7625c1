"""Pages a newcomer meets outside the Access flow (issue 17), in the real browser and under
the app's strict Content-Security-Policy: the API docs and the error pages."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from . import test_browser as _browser

# The browser and its CSP-checked context, as test_browser.py has them (pytest finds
# fixtures by name in this module).
browser = _browser.browser
context = _browser.context
page = _browser.page

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_render_their_operations_under_the_csp(page, live_server, path):
    """Swagger UI was a blank page and Redoc said "Something went wrong": the CSP blocked
    their inline scripts and styles. Both must show the operations, with no violation
    (the context fails the test on any the browser reports)."""
    page.goto(f"{live_server.url}{path}")
    # The Access operation's path, as each renders it once the schema is loaded.
    expect(page.get_by_text("/api/v1/accounts/{id}/access/").first).to_be_visible()
    expect(page.get_by_text("Something went wrong")).to_have_count(0)


def test_a_404_is_a_styled_page_of_the_app(page, live_server, bob):
    _browser.sign_in(page, live_server.url, "bob")
    response = page.goto(f"{live_server.url}/no-such-page/")
    assert response is not None and response.status == 404
    expect(page.get_by_role("heading", name="Page not found")).to_be_visible()
    expect(page.get_by_role("navigation", name="Main")).to_be_visible()
    # The stylesheet applied: the header is the app's dark bar, not an unstyled block.
    header_colour = page.locator("header.top").evaluate("e => getComputedStyle(e).backgroundColor")
    assert header_colour not in ("rgba(0, 0, 0, 0)", "transparent")
    page.get_by_role("link", name="Back to your accounts").click()
    expect(page).to_have_url(f"{live_server.url}/")
