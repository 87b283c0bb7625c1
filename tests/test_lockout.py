"""Login lockout (issue 16), through the real sign-in pages: failures are counted per
username across addresses and per address across usernames (django-axes,
AXES_LOCKOUT_PARAMETERS), so neither spraying one account from many addresses nor one
address trying many accounts gets more than AXES_FAILURE_LIMIT guesses."""

from __future__ import annotations

import pytest
import time_machine
from axes.handlers.proxy import AxesProxyHandler
from axes.models import AccessAttempt
from django.contrib.auth import authenticate
from django.test import Client, RequestFactory

from .factories import PASSWORD

LIMIT = 5  # AXES_FAILURE_LIMIT
SITE, ADMIN = "/login/", "/admin/login/"
BOTH = pytest.mark.parametrize(("login_url", "who"), [(SITE, "bob"), (ADMIN, "alice")])


def sign_in(login_url, username, password, *, address="192.0.2.1", forwarded=None):
    meta = {"REMOTE_ADDR": address}
    if forwarded is not None:
        meta["HTTP_X_FORWARDED_FOR"] = forwarded
    client = Client(**meta)
    response = client.post(login_url, {"username": username, "password": password})
    response.signed_in = "_auth_user_id" in client.session
    return response


def locked(response) -> bool:
    if response.status_code != 429:
        return False
    page = response.content.decode()
    assert "Too many failed sign-ins" in page
    assert f"After {LIMIT} wrong passwords for one username (from any address)" in page
    assert "paused for 15 minutes." in page
    assert not response.signed_in
    return True


@BOTH
def test_one_username_guessed_from_many_addresses_is_locked_everywhere(
    db, bob, alice, charlie, login_url, who
):
    statuses = [
        sign_in(login_url, who, "wrong", address=f"198.51.100.{n}").status_code
        for n in range(1, LIMIT + 1)
    ]
    assert statuses == [200] * (LIMIT - 1) + [429]  # the 5th failure, from a 5th address
    # The right password, from an address that never failed, is refused too.
    assert locked(sign_in(login_url, who, PASSWORD, address="203.0.113.50"))
    # It is the username that is locked, not the addresses: one failure each.
    other = sign_in(SITE, "charlie", PASSWORD, address="198.51.100.1")
    assert other.status_code == 302 and other.signed_in


@BOTH
def test_many_usernames_tried_from_one_address_lock_that_address(
    db, bob, alice, charlie, login_url, who
):
    sprayed = ["root", "admin", "charlie", "nobody", "ops"]  # known and unknown alike
    statuses = [
        sign_in(login_url, name, "Winter2030!", address="203.0.113.9").status_code
        for name in sprayed
    ]
    assert statuses == [200] * (LIMIT - 1) + [429]
    # Any username from that address, the right password included, is refused now.
    assert locked(sign_in(login_url, who, PASSWORD, address="203.0.113.9"))
    # Elsewhere, the same people sign in: each username failed only once.
    for name in (who, "charlie"):
        url = login_url if name == who else SITE
        response = sign_in(url, name, PASSWORD, address="198.51.100.77")
        assert response.status_code == 302 and response.signed_in, name


def test_a_forwarded_for_header_is_no_way_around_the_address_lock(db, bob, settings):
    """Without a trusted proxy the header is the client's own words: ignored."""
    settings.PAM_TRUSTED_PROXIES = 0
    for n in range(LIMIT):
        sign_in(SITE, f"user-{n}", "wrong", address="203.0.113.9", forwarded=f"10.9.8.{n}")
    assert locked(sign_in(SITE, "bob", PASSWORD, address="203.0.113.9", forwarded="10.1.1.1"))


def test_behind_a_trusted_proxy_the_client_address_is_locked_not_the_proxys(db, bob, settings):
    settings.PAM_TRUSTED_PROXIES = 1
    proxy = "10.0.0.2"
    for n in range(LIMIT):
        sign_in(SITE, f"user-{n}", "wrong", address=proxy, forwarded="198.51.100.20")
    assert locked(sign_in(SITE, "bob", PASSWORD, address=proxy, forwarded="198.51.100.20"))
    # Prepending addresses does not make another client of it: the proxy's hop counts.
    spoofed = "192.0.2.99, 198.51.100.20"
    assert locked(sign_in(SITE, "bob", PASSWORD, address=proxy, forwarded=spoofed))
    # Everyone else behind the same proxy signs in.
    other = sign_in(SITE, "bob", PASSWORD, address=proxy, forwarded="198.51.100.21")
    assert other.status_code == 302 and other.signed_in


def test_a_success_clears_the_count_and_a_lock_ends_after_the_cool_off(db, bob):
    with time_machine.travel("2030-01-07 09:00:00+00:00", tick=False):
        for n in range(LIMIT - 1):
            sign_in(SITE, "bob", "wrong", address=f"198.51.100.{n}")
        assert sign_in(SITE, "bob", PASSWORD, address="198.51.100.1").status_code == 302
        # The success cleared bob's failures: 4 more are not yet a lock.
        for n in range(LIMIT - 1):
            assert sign_in(SITE, "bob", "wrong", address=f"198.51.100.{n + 10}").status_code == 200
        assert sign_in(SITE, "bob", "wrong", address="198.51.100.20").status_code == 429
    # A failure counts for 15 minutes.
    with time_machine.travel("2030-01-07 09:14:59+00:00", tick=False):
        assert locked(sign_in(SITE, "bob", PASSWORD, address="198.51.100.30"))
    with time_machine.travel("2030-01-07 09:15:01+00:00", tick=False):
        response = sign_in(SITE, "bob", PASSWORD, address="198.51.100.30")
        assert response.status_code == 302 and response.signed_in


def test_failures_are_counted_in_one_place_for_both_pages(db, bob, alice):
    """The admin's sign-in and the site's share their count: no page to switch to."""
    for n in range(LIMIT - 1):
        sign_in(ADMIN if n % 2 else SITE, "alice", "wrong", address=f"198.51.100.{n}")
    assert sign_in(SITE, "alice", "wrong", address="198.51.100.9").status_code == 429
    assert locked(sign_in(ADMIN, "alice", PASSWORD, address="203.0.113.60"))


def sso_failure(address: str) -> None:
    """A failed authenticate() that names no username, as the OIDC callback's does when
    a backend turns the person down: axes records it (username None, the address)."""
    request = RequestFactory().get("/oidc/callback/", REMOTE_ADDR=address)
    assert authenticate(request, nonce="n", code_verifier="v") is None


def test_failures_without_a_username_lock_only_their_address(db, bob):
    """A username of None must not be one username shared by every such failure, which
    would lock out everyone's SSO (and every username-less sign-in) from anywhere."""
    for n in range(LIMIT):
        sso_failure(f"198.51.100.{n}")
    assert AccessAttempt.objects.filter(username=None).count() == LIMIT
    elsewhere = RequestFactory().get("/oidc/callback/", REMOTE_ADDR="203.0.113.70")
    AxesProxyHandler.update_request(elsewhere)
    assert AxesProxyHandler.is_allowed(elsewhere, {"username": None, "nonce": "n"})

    # From one address they count as any failures from it do.
    for _ in range(LIMIT):
        sso_failure("203.0.113.9")
    locked_out = RequestFactory().get("/oidc/callback/", REMOTE_ADDR="203.0.113.9")
    AxesProxyHandler.update_request(locked_out)
    assert not AxesProxyHandler.is_allowed(locked_out, {"username": None, "nonce": "n"})
    assert locked(sign_in(SITE, "bob", PASSWORD, address="203.0.113.9"))
    response = sign_in(SITE, "bob", PASSWORD, address="198.51.100.1")
    assert response.status_code == 302 and response.signed_in
