"""The pages people use: who sees which account, and what Access answers."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import pytest
from django.test import Client
from django.urls import reverse

from sessions_app.models import ConsoleSession, Status

from .factories import AccountFactory, ConsoleSessionFactory, GrantFactory, GroupFactory


def access_url(account):
    return reverse("account-access", args=[account.pk])


def test_a_granted_member_sees_the_account_and_an_access_button_opening_a_new_tab(
    client, account, bob
):
    client.force_login(bob)
    page = client.get("/").content.decode()

    assert account.resource.project.name in page
    assert account.resource.name in page
    form = re.search(r'<form method="post" action="([^"]+)" target="_blank"', page)
    assert form and form.group(1) == access_url(account)
    assert 'Access <span class="role">pam-readonly</span> · 30m' in page


def test_access_redirects_the_member_to_the_console_and_records_the_session(
    client, federation, account, bob
):
    client.force_login(bob)
    response = client.post(access_url(account), HTTP_USER_AGENT="Firefox/140")

    assert response.status_code == 302
    location = urlsplit(response["Location"])
    assert location.hostname == "signin.aws.amazon.com"
    assert "SigninToken=" + federation.token in location.query
    assert "no-store" in response["Cache-Control"]
    # The redirect leads to a bearer credential: no Referer of ours goes with it.
    assert response["Referrer-Policy"] == "no-referrer"
    row = ConsoleSession.objects.get()
    assert (row.status, row.user, row.user_agent, row.client_ip) == (
        Status.ACTIVE,
        bob,
        "Firefox/140",
        "127.0.0.1",
    )


def test_pages_send_referers_only_to_this_site(client, bob):
    """Not no-referrer everywhere: browsers then send `Origin: null` with form POSTs,
    and the CSRF check refuses the login form (seen in the browser tests)."""
    client.force_login(bob)
    assert client.get("/")["Referrer-Policy"] == "same-origin"


def test_access_through_a_group_grant(client, federation, charlie):
    account = AccountFactory()
    group = GroupFactory()
    charlie.groups.add(group)
    GrantFactory(account=account, group=group)
    client.force_login(charlie)

    assert client.post(access_url(account)).status_code == 302


@pytest.mark.parametrize("who", ["alice", "charlie"])
def test_users_without_a_grant_get_404_for_the_account_and_its_access_url(
    client, aws, account, who, request
):
    # alice is a superuser: nobody is granted by default, superusers included.
    client.force_login(request.getfixturevalue(who))

    assert client.post(access_url(account)).status_code == 404
    assert client.get(reverse("account-detail", args=[account.pk])).status_code == 404
    assert account.name not in client.get("/").content.decode()
    assert not ConsoleSession.objects.exists()
    assert aws.calls == []


def test_404_for_a_missing_account_reads_like_404_for_an_ungranted_one(client, account, charlie):
    client.force_login(charlie)
    missing = client.post(reverse("account-access", args=[account.pk + 1000]))
    hidden = client.post(access_url(account))
    assert missing.status_code == hidden.status_code == 404
    # The same page, byte for byte, but for the sign-out form's CSRF token, which Django
    # masks afresh on every render (and which says nothing about the account).
    assert without_csrf_token(missing.content) == without_csrf_token(hidden.content)


def without_csrf_token(content: bytes) -> bytes:
    return re.sub(rb'name="csrfmiddlewaretoken" value="[^"]*"', b"", content)


def test_an_ungranted_user_sees_an_empty_state_saying_whom_to_ask(client, charlie, settings):
    settings.PAM_ADMIN_CONTACT = "#cloud-access on Slack"
    client.force_login(charlie)
    page = client.get("/").content.decode()
    assert "No AWS accounts granted to you yet" in page
    assert "Ask your PAM administrator (#cloud-access on Slack)" in page


def test_anonymous_users_are_sent_to_sign_in_and_come_back_to_the_account(client, aws, account):
    response = client.post(access_url(account))

    assert response.status_code == 302
    assert response["Location"] == f"/login/?next=/accounts/{account.pk}/"
    assert client.get("/").status_code == 302
    assert not ConsoleSession.objects.exists()


@pytest.mark.parametrize("who", ["alice", "bob", "charlie", None])
def test_get_on_the_access_url_is_refused(client, aws, account, who, request):
    if who:
        client.force_login(request.getfixturevalue(who))
    response = client.get(access_url(account))
    assert response.status_code == 405
    assert not ConsoleSession.objects.exists()
    assert aws.calls == []


def test_access_without_a_csrf_token_is_refused(federation, account, bob):
    client = Client(enforce_csrf_checks=True)
    client.force_login(bob)

    assert client.post(access_url(account)).status_code == 403
    assert not ConsoleSession.objects.exists()

    page = client.get("/").content.decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    assert client.post(access_url(account), {"csrfmiddlewaretoken": token}).status_code == 302


def test_my_sessions_lists_my_sessions_with_status_and_time_left(
    client, federation, account, bob, charlie
):
    ConsoleSessionFactory(user=charlie, account=account, user_email="charlie@elsewhere.test")
    client.force_login(bob)
    client.post(access_url(account))

    page = client.get(reverse("session-list")).content.decode()
    assert "Active" in page
    assert re.search(r"29m 5\ds left|30m 0s left", page)
    assert "charlie@elsewhere.test" not in page
    assert page.count('<tr class="status-') == 1


def test_my_sessions_shows_failures_with_their_step_and_code(client, account, bob):
    ConsoleSessionFactory(
        user=bob,
        account=account,
        status=Status.FAILED,
        failure_step="target_role",
        error_code="AccessDenied",
    )
    client.force_login(bob)
    page = client.get(reverse("session-list")).content.decode()
    assert "Failed" in page
    assert "Target Role (hop 2)" in page
    assert "AccessDenied" in page


def test_the_account_page_shows_the_role_duration_and_my_recent_sessions(client, account, bob):
    ConsoleSessionFactory(user=bob, account=account, status=Status.EXPIRED)
    client.force_login(bob)
    page = client.get(reverse("account-detail", args=[account.pk])).content.decode()
    assert account.target_role_arn in page
    assert "30m" in page
    assert "Expired" in page


@pytest.mark.parametrize("zone", ["UTC", "Europe/Paris", "Asia/Kolkata"])
def test_the_history_table_words_each_status_as_the_date_filter_would(db, account, zone):
    """The table's cells are formatted in Python (sessions_app.presenters) for speed;
    the times must read as Django's `date` filter writes them, in the active zone."""
    from datetime import timedelta

    from django.template.defaultfilters import date as date_filter
    from django.utils import timezone

    from sessions_app.presenters import session_rows

    now = timezone.now()
    active = ConsoleSessionFactory(
        account=account, status=Status.ACTIVE, expires_at=now + timedelta(minutes=10, seconds=30)
    )
    expired = ConsoleSessionFactory(
        account=account, status=Status.EXPIRED, expires_at=now - timedelta(days=200)
    )
    failed = ConsoleSessionFactory(
        account=account,
        status=Status.FAILED,
        failure_step="federation",
        error_code="Timeout",
        ended_at=now - timedelta(hours=3),
    )
    pending = ConsoleSessionFactory(account=account, status=Status.PENDING, client_ip=None)
    with timezone.override(zone):
        listed = session_rows([active, expired, failed, pending], show_account=True)
        rows = {row.id: row for row in listed}

        def shown(value, pattern):
            return date_filter(timezone.localtime(value), pattern)

        # Two columns: a running session's time left; when the others ended.
        assert re.fullmatch(r"10m (2\d|30)s left", rows[active.pk].time_left)
        assert rows[active.pk].ended == "—"
        assert rows[active.pk].until == shown(active.expires_at, "H:i:s T")
        assert rows[expired.pk].ended == "expired " + shown(expired.expires_at, "Y-m-d H:i:s T")
        assert rows[failed.pk].ended == shown(failed.ended_at, "Y-m-d H:i:s T")
        assert rows[failed.pk].time_left == rows[expired.pk].time_left == "—"
        assert rows[failed.pk].failure.startswith("Federation")
        assert rows[pending.pk].ended == "—" and rows[pending.pk].client_ip == "—"
        for session in (active, expired, failed, pending):
            row = rows[session.pk]
            assert row.started == shown(session.created_at, "Y-m-d H:i:s T")
            assert row.started_iso == shown(session.created_at, "c")
            assert row.account_url == reverse("account-detail", args=[account.pk])
            assert bool(row.failure) == (session is failed)
