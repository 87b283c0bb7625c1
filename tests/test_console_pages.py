"""The console experience on the pages (issue 17): live sessions' time left, Open again
and Renew; the accounts page's favourites, recently used accounts and filter, at a
constant number of queries; "sign out of the previous console first"; the sessions
table's two time columns. The browser side is tests/test_browser_console_experience.py."""

from __future__ import annotations

import html
import importlib.util
import json
import logging
import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
import requests
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access_requests import services as request_services
from accounts.models import Favourite
from identity.models import Preferences
from pam_demo.federation import FederationStandIn
from pam_demo.servers import serve_wsgi
from resources import aws
from sessions_app.models import ConsoleSession, Kind, Status

from .factories import (
    AccountFactory,
    ConsoleSessionFactory,
    GrantFactory,
    ProjectFactory,
    ResourceFactory,
)
from .test_secrets import every_table_as_text, spellings

ROOT = Path(__file__).resolve().parent.parent


def live(user, account, minutes_left: float, **fields) -> ConsoleSession:
    now = timezone.now()
    return ConsoleSessionFactory(
        user=user,
        account=account,
        status=Status.ACTIVE,
        activated_at=now - timedelta(minutes=5),
        expires_at=now + timedelta(minutes=minutes_left),
        **fields,
    )


def card_names(page: str, section: str) -> list[str]:
    """The account names listed in one section of the accounts page, in order."""
    match = re.search(rf'<section class="first {section}".*?</section>', page, re.S)
    return re.findall(r'class="name" href="[^"]+">([^<]+)</a>', match.group(0)) if match else []


# --- Live sessions: time left, Open again, Renew -----------------------------------------


def test_a_live_session_shows_its_time_left_open_again_and_renew_near_its_end(client, account, bob):
    account.allowed_regions, account.default_region = ["eu-west-1", "us-west-2"], "eu-west-1"
    account.allowed_services, account.default_service = ["ec2", "s3"], "ec2"
    account.save()
    ending = live(bob, account, 10, region="us-west-2", service="s3")
    client.force_login(bob)
    page = client.get(reverse("session-list")).content.decode()

    row = re.search(rf'<tr class="status-active" id="session-{ending.pk}">.*?</tr>', page, re.S)
    row = row.group(0)
    seconds = int(re.search(r'data-seconds-left="(\d+)"', row).group(1))
    assert 590 <= seconds <= 600
    assert re.search(r'role="timer">(9m 5\d|10m 0)s left<', row)  # as text, without script
    # Open again: the console Destination this session signed in to, in a new tab.
    destination = aws.console_url("aws", "us-west-2", "s3")
    assert f'class="open-again" href="{html.escape(destination)}" target="_blank"' in row
    # Renew: a POST to the account's Access, same region and service, shown now (its
    # last 15 minutes), in a new tab.
    renew = re.search(
        r'<form method="post" action="([^"]+)" target="_blank" class="renew"[^>]*>', row
    )
    assert renew.group(1) == reverse("account-access", args=[account.pk])
    assert "hidden" not in renew.group(0)
    assert 'name="region" value="us-west-2"' in row and 'name="service" value="s3"' in row
    assert '<script src="/static/pam/countdown.js" defer></script>' in page


def test_renew_waits_for_the_last_15_minutes_and_a_failure_has_no_time_left(client, account, bob):
    early = live(bob, account, 40)
    failed = ConsoleSessionFactory(
        user=bob,
        account=account,
        status=Status.FAILED,
        failure_step="target_role",
        error_code="AccessDenied",
        ended_at=timezone.now() - timedelta(minutes=1),
    )
    client.force_login(bob)
    page = client.get(reverse("session-list")).content.decode()
    row = re.search(rf'id="session-{early.pk}">.*?</tr>', page, re.S).group(0)
    # Rendered, but hidden until the countdown reaches 15 minutes (data-renew-at).
    assert re.search(r'class="renew" data-renew-at="900" hidden', row)
    failed_row = re.search(rf'id="session-{failed.pk}">.*?</tr>', page, re.S).group(0)
    assert '<td data-label="Time left" class="time-left">—' in failed_row
    ended = re.search(r'<td data-label="Ended" class="ended">([^<]*)</td>', failed_row).group(1)
    assert ended == timezone.localtime(failed.ended_at).strftime("%Y-%m-%d %H:%M:%S %Z")
    assert '<code class="error-code">AccessDenied</code>' in failed_row


def test_renew_makes_a_new_access_and_a_new_row(client, federation, account, bob):
    old = live(bob, account, 5)
    client.force_login(bob)
    page = client.get(reverse("session-list")).content.decode()
    action = re.search(r'action="([^"]+)" target="_blank" class="renew"', page).group(1)
    response = client.post(action)
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/federation"
    assert ConsoleSession.objects.filter(user=bob, account=account).count() == 2
    new = ConsoleSession.objects.exclude(pk=old.pk).get()
    assert new.status == Status.ACTIVE and new.access_request_id is None


def test_no_renew_for_an_account_no_longer_granted_nor_for_cli_credentials(client, bob):
    gone = AccountFactory(name="gone")
    was = live(bob, gone, 5)
    kept = AccountFactory(name="kept")
    GrantFactory(account=kept, user=bob)
    keys = live(bob, kept, 5, kind=Kind.CREDENTIALS)
    client.force_login(bob)
    page = client.get(reverse("session-list")).content.decode()
    for session in (was, keys):
        row = re.search(rf'id="session-{session.pk}">.*?</tr>', page, re.S).group(0)
        assert "data-seconds-left" in row and 'class="renew"' not in row
    was_row = re.search(rf'id="session-{was.pk}">.*?</tr>', page, re.S).group(0)
    keys_row = re.search(rf'id="session-{keys.pk}">.*?</tr>', page, re.S).group(0)
    assert "open-again" in was_row  # the console may still be open in this browser
    assert "open-again" not in keys_row  # CLI keys never signed a browser in
    # Which rows were keys for the CLI, not a console, is said on the row.
    assert '<span class="badge kind">CLI credentials</span>' in keys_row
    assert "badge kind" not in was_row


def test_renew_of_an_mfa_account_goes_through_the_second_factor_first(client, account, bob):
    account.require_mfa = True
    account.save()
    session = live(bob, account, 5)
    client.force_login(bob)
    page = client.get(reverse("session-list")).content.decode()
    row = re.search(rf'id="session-{session.pk}">.*?</tr>', page, re.S).group(0)
    detail = reverse("account-detail", args=[account.pk])
    # As its Access button: no POST without a fresh check, the account page asks first.
    assert f'<a class="renew" href="{detail}" data-renew-at="900"' in row
    assert ">Verify to Renew</a>" in row
    assert reverse("account-access", args=[account.pk]) not in row


def approved_window(bob, approver, jit, minutes_left: float):
    request = request_services.request_create(
        requester=bob, account=jit, reason="deploy", duration_seconds=3600
    )
    request = request_services.request_decide(request=request, approver=approver, approve=True)
    request.ends_at = timezone.now() + timedelta(minutes=minutes_left)
    request.save(update_fields=["ends_at"])
    return request


def test_renew_inside_a_window_uses_it_and_says_why_not_when_it_ends_soon(
    client, federation, jit, bob, approver
):
    window = approved_window(bob, approver, jit, 40)
    session = live(bob, jit, 10, access_request=window)
    client.force_login(bob)
    page = client.get(reverse("account-detail", args=[jit.pk])).content.decode()
    assert 'class="renew"' in page
    response = client.post(reverse("account-access", args=[jit.pk]))
    assert response.status_code == 302
    renewed = ConsoleSession.objects.exclude(pk=session.pk).get()
    assert renewed.access_request_id == window.pk  # the same window

    window.ends_at = timezone.now() + timedelta(minutes=12)
    window.save(update_fields=["ends_at"])
    page = client.get(reverse("session-list")).content.decode()
    row = re.search(rf'id="session-{session.pk}">.*?</tr>', page, re.S).group(0)
    assert 'class="renew"' not in row
    why = re.search(r'<span class="renew-refused">([^<]+)</span>', row).group(1)
    assert why.startswith("Renew is not offered: your access window ends at")
    assert "(11 min left)" in why or "(12 min left)" in why
    assert "under the 15 minutes a console session needs" in why


def test_the_accounts_page_shows_a_live_session_on_its_card(client, federation, account, bob):
    client.force_login(bob)
    client.post(reverse("account-access", args=[account.pk]))
    page = client.get("/").content.decode()
    card = re.search(rf'<li class="account" id="account-{account.pk}".*?</li>', page, re.S)
    assert re.search(
        r'Live session:\s*<span class="live" data-live>\s*<span class="countdown" '
        r'data-seconds-left="1[78]\d\d"',
        card.group(0),
    )
    assert "open-again" in card.group(0)


def test_open_again_url_is_the_sessions_destination():
    session = ConsoleSession(
        target_role_arn="arn:aws-cn:iam::111122223333:role/x", region="cn-north-1", service="ec2"
    )
    assert open_again(session) == "https://console.amazonaws.cn/ec2/home?region=cn-north-1"
    session = ConsoleSession(target_role_arn="arn:aws:iam::111122223333:role/x")
    assert open_again(session) == "https://console.aws.amazon.com/"
    session.kind = Kind.CREDENTIALS
    assert open_again(session) == ""


def open_again(session):
    from sessions_app.presenters import open_again_url

    return open_again_url(session)


# --- The accounts page: favourites, recently used, filter ---------------------------------


@pytest.fixture
def many(db, bob):
    """Six accounts granted to bob over two projects, and one he is not granted."""
    alpha, beta = ProjectFactory(name="alpha"), ProjectFactory(name="beta")
    prod = ResourceFactory(project=alpha, name="prod")
    dev = ResourceFactory(project=beta, name="dev")
    accounts = {}
    for resource, name, role in (
        (prod, "readonly", "ReadOnly"),
        (prod, "admin", "Administrator"),
        (prod, "billing", "BillingViewer"),
        (dev, "readonly", "DevReadOnly"),
        (dev, "deploy", "Deployer"),
        (dev, "network", "NetworkAdmin"),
    ):
        accounts[f"{resource.name}/{name}"] = AccountFactory(
            resource=resource,
            name=name,
            target_role_arn=f"arn:aws:iam::111122223333:role/{role}",
        )
        GrantFactory(account=accounts[f"{resource.name}/{name}"], user=bob)
    accounts["other"] = AccountFactory(resource=prod, name="secret-ops")
    return accounts


def test_favourites_then_recently_used_then_the_rest_each_listed_once(client, many, bob):
    Favourite.objects.create(user=bob, account=many["dev/network"])
    Favourite.objects.create(user=bob, account=many["other"])  # not granted: never shown
    now = timezone.now()
    for minutes, key in ((30, "prod/billing"), (20, "dev/network"), (10, "prod/admin")):
        ConsoleSessionFactory(
            user=bob, account=many[key], created_at=now - timedelta(minutes=minutes)
        )
    client.force_login(bob)
    page = client.get("/").content.decode()
    assert card_names(page, "favourites") == ["network"]
    # The last attempts, newest first, but for what is already a favourite.
    assert card_names(page, "recent") == ["admin", "billing"]
    everything = re.findall(r'class="name" href="[^"]+">([^<]+)</a>', page)
    # Then by project, resource and name.
    assert everything == ["network", "admin", "billing", "readonly", "deploy", "readonly"]
    assert "secret-ops" not in page
    assert "6 of 6 accounts" in page


def test_the_filter_matches_project_resource_account_and_role_in_any_case(client, many, bob):
    client.force_login(bob)

    def shown(query: str) -> tuple[list[str], str]:
        page = client.get("/", {"q": query}).content.decode()
        names = re.findall(
            r'<li class="account" id="account-\d+" data-filter="[^"]*">.*?class="name" '
            r'href="[^"]+">([^<]+)</a>',
            page,
            re.S,
        )
        count = re.search(r'id="account-count"[^>]*>([^<]+)<', page).group(1)
        return names, count

    assert shown("DEV") == (["deploy", "network", "readonly"], "3 of 6 accounts")  # resource
    assert shown("alpha")[1] == "3 of 6 accounts"  # project
    assert shown("netWORKadmin") == (["network"], "1 of 6 accounts")  # role
    assert shown("prod read") == (["readonly"], "1 of 6 accounts")  # every term
    names, count = shown("nothing-like-it")
    assert (names, count) == ([], "0 of 6 accounts")
    page = client.get("/", {"q": "nothing-like-it"}).content.decode()
    empty = re.search(r'<p class="empty filter-empty" id="filter-empty"( hidden)?>', page)
    assert empty.group(1) is None  # the empty state shows
    assert 'No account matches “<span class="filter-text">nothing-like-it</span>”' in page
    assert 'id="filter-empty" hidden' in client.get("/").content.decode()


def test_the_star_pins_and_unpins_only_a_granted_account(client, many, bob, charlie):
    client.force_login(bob)
    url = reverse("account-favourite", args=[many["dev/deploy"].pk])
    response = client.post(url, {"state": "on", "next": "/?q=dev"})
    assert (response.status_code, response["Location"]) == (302, "/?q=dev")
    assert Favourite.objects.filter(user=bob, account=many["dev/deploy"]).exists()
    client.post(url, {"state": "on"})  # a double submit leaves it pinned
    assert Favourite.objects.filter(user=bob).count() == 1
    # No state: a toggle; JSON for the page's script.
    response = client.post(url, HTTP_ACCEPT="application/json")
    assert json.loads(response.content) == {"favourite": False}
    assert not Favourite.objects.exists()
    # Somewhere else: back home, never off-site.
    assert client.post(url, {"next": "https://evil.example/"})["Location"] == "/"

    # Not granted: a 404 like every URL of an account one may not see; nothing written.
    assert client.post(reverse("account-favourite", args=[many["other"].pk])).status_code == 404
    client.force_login(charlie)
    assert client.post(url, {"state": "on"}).status_code == 404
    assert client.get(url).status_code == 405
    assert Favourite.objects.filter(user=charlie).count() == 0


def test_the_star_needs_the_csrf_token_and_a_known_state(many, bob):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(bob)
    url = reverse("account-favourite", args=[many["dev/deploy"].pk])
    assert browser.post(url, {"state": "on"}).status_code == 403
    assert not Favourite.objects.exists()
    page = browser.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert browser.post(url, {"state": "on", "csrfmiddlewaretoken": token}).status_code == 302
    assert Favourite.objects.filter(user=bob).count() == 1
    refused = browser.post(url, {"state": "maybe", "csrfmiddlewaretoken": token})
    assert refused.status_code == 400
    assert "The field <code>state</code> was “maybe”: it must be <code>on</code>" in (
        refused.content.decode()
    )
    anonymous = Client().post(url, {"state": "on"})
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")


def load_bench():
    spec = importlib.util.spec_from_file_location("bench_accounts", ROOT / "bench/accounts.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_accounts_page_costs_the_same_queries_for_5_or_60_accounts(db):
    """bench/accounts.py's world (grants, favourites, recent attempts, live sessions, an
    eligible grant with a window) at two sizes: the same statements, none per card."""
    bench = load_bench()
    counts = {}
    for size in (5, 60):
        user = bench.build(size, username=f"bench-{size}")
        client = Client()
        client.force_login(user)
        with CaptureQueriesContext(connection) as capture:
            response = client.get("/")
        assert response.status_code == 200
        page = response.content.decode()
        assert page.count('<li class="account"') == size
        assert f"{size} of {size} accounts" in page
        assert page.count("data-seconds-left") == bench.LIVE
        counts[size] = len(capture.captured_queries)
    # SQLite takes the last attempts and the live sessions in two queries (home.py).
    union = connection.features.supports_slicing_ordering_in_compound
    assert counts[5] == counts[60] == bench.EXPECTED_QUERIES + (0 if union else 1), counts


# --- Sign out of the previous console first -----------------------------------------------


def test_preferences_page_sets_and_clears_logout_first(client, bob):
    client.force_login(bob)
    page = client.get(reverse("preferences")).content.decode()
    assert 'name="logout_first"' in page and "checked" not in page
    response = client.post(reverse("preferences"), {"logout_first": "on"})
    assert response.status_code == 302
    assert Preferences.objects.get(user=bob).logout_first is True
    assert "checked" in client.get(reverse("preferences")).content.decode()
    client.post(reverse("preferences"), {})  # an unticked box sends nothing
    assert Preferences.objects.get(user=bob).logout_first is False


def test_logout_url_goes_to_the_partitions_sign_out_and_on_to_the_sign_in():
    signin = "https://signin.aws.amazon.com/federation?Action=login&SigninToken=T"
    url = urlsplit(aws.logout_url(signin))
    assert (url.scheme, url.netloc, url.path) == (
        "https",
        "us-east-1.signin.aws.amazon.com",
        "/oauth",
    )
    assert parse_qs(url.query) == {"Action": ["logout"], "redirect_uri": [signin]}
    for signin_host in (
        "eu-west-1.signin.aws.amazon.com",
        "signin.amazonaws-us-gov.com",
        "signin.amazonaws.cn",
    ):
        signin = f"https://{signin_host}/federation?Action=login&SigninToken=T"
        assert urlsplit(aws.logout_url(signin)).netloc == signin_host


@pytest.fixture
def standin(settings):
    app = FederationStandIn()
    server = serve_wsgi(app)
    settings.PAM_SIGNIN_URL = server.url
    yield app, server.url
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_logout_first_answers_our_page_then_aws_signs_out_then_in(aws, standin, caplog, bob):
    app, base = standin
    account = AccountFactory(name="readonly")
    GrantFactory(account=account, user=bob)
    Preferences.objects.create(user=bob, logout_first=True)
    client = Client()
    client.force_login(bob)
    caplog.set_level(logging.DEBUG)
    response = client.post(reverse("account-access", args=[account.pk]))

    # Our page, not a redirect: it goes on to the sign-out, kept out of caches and
    # Referer headers like the redirect it replaces.
    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    assert response["Referrer-Policy"] == "no-referrer"
    page = response.content.decode()
    refresh = re.search(r'<meta http-equiv="refresh" content="0; url=([^"]+)">', page)
    next_url = html.unescape(refresh.group(1))
    assert next_url.startswith(f"{base}/oauth?Action=logout&redirect_uri=")
    signin_url = parse_qs(urlsplit(next_url).query)["redirect_uri"][0]
    assert signin_url.startswith(f"{base}/federation?Action=login&")
    assert "<script" not in page  # nothing for the CSP to refuse
    assert ConsoleSession.objects.get().status == Status.ACTIVE  # one Access, one row

    # As the browser goes on: AWS signs out, then sends it on to the sign-in.
    out = requests.get(next_url, allow_redirects=False, timeout=5)
    assert (out.status_code, out.headers["Location"]) == (302, signin_url)
    signed_in = requests.get(signin_url, allow_redirects=False, timeout=5)
    assert signed_in.status_code == 302
    assert app.events == ["logout", "login"]

    # The sign-in URL (in this answer only) is written nowhere: logs, database, the
    # other pages.
    (token,) = app.tokens
    pages = "\n".join(
        client.get(path).content.decode()
        for path in ("/", reverse("session-list"), reverse("account-detail", args=[account.pk]))
    )
    assert "data-seconds-left" in pages  # the pages do show the session
    for place, text in (
        ("logs", caplog.text),
        ("database", every_table_as_text()),
        ("pages", pages),
    ):
        for secret in (signin_url, token):
            for spelling in spellings(secret):
                assert spelling not in text, f"sign-in secret found in {place}"


def test_without_the_preference_access_still_redirects_straight_to_the_sign_in(
    client, federation, account, bob
):
    Preferences.objects.create(user=bob, logout_first=False)
    client.force_login(bob)
    response = client.post(reverse("account-access", args=[account.pk]))
    assert response.status_code == 302
    assert urlsplit(response["Location"]).path == "/federation"


def test_the_stand_in_goes_on_only_to_its_own_addresses_and_ends_its_consoles(standin):
    app, base = standin
    session = json.dumps({"sessionId": "ASIAX", "sessionKey": "k", "sessionToken": "t"})
    token = requests.get(
        f"{base}/federation", params={"Action": "getSigninToken", "Session": session}, timeout=5
    ).json()["SigninToken"]
    signed_in = requests.get(
        f"{base}/federation", params={"Action": "login", "SigninToken": token}, timeout=5
    )
    assert signed_in.status_code == 200 and "signed-out" not in signed_in.text
    elsewhere = requests.get(
        f"{base}/oauth",
        params={"Action": "logout", "redirect_uri": "https://evil.example/"},
        allow_redirects=False,
        timeout=5,
    )
    assert elsewhere.status_code == 200 and "signed-out" in elsewhere.text
    assert app.events == ["login", "logout"]
    # The console page it served before says so now.
    again = requests.get(signed_in.url, timeout=5)
    assert again.status_code == 401 and "signed-out" in again.text
