"""The pages of just-in-time access: the request form (and break-glass), my requests,
one request, the approvals to decide, and the POSTs that cancel, approve, deny and
revoke; the Request access / pending / window states on the accounts pages; and, for
every new page and POST, the exact answer to each kind of caller (requester, approver,
second approver, ops, admin, outsider, anonymous)."""

from __future__ import annotations

import re
from datetime import timedelta
from html import unescape

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from access_requests import services
from access_requests.models import AccessRequest, Decision, RequestStatus
from accounts.models import GrantKind
from mfa import stepup
from sessions_app.models import ConsoleSession

from . import test_requests as _requests
from .factories import AccountFactory, GrantFactory, GroupFactory, UserFactory

# The eligible account and its two approvers (jit, approver, second_approver) come from
# conftest.py; asking is test_requests.py's helper.
ask = _requests.ask


def client_of(user) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def new_url(account, **extra) -> str:
    query = "&".join(f"{k}={v}" for k, v in {"account": account.pk, **extra}.items())
    return f"{reverse('request-new')}?{query}"


def said(response) -> list[tuple[str, str]]:
    """The messages the person sees on the page a POST (or a refusal) sent them back to:
    followed as a browser would, read from base.html's list."""
    assert response.status_code == 302, response.status_code
    page = response.client.get(response["Location"]).content.decode()
    listed = re.search(r'<ul class="messages" role="status">(.*?)</ul>', page, re.S)
    if listed is None:
        return []
    return [
        (level, unescape(text))
        for level, text in re.findall(r'<li class="([^"]*)">(.*?)</li>', listed.group(1), re.S)
    ]


def field_errors(response, field: str) -> str:
    page = response.content.decode()
    return " ".join(
        unescape(text) for text in re.findall(rf'id="id_{field}-error">([^<]*)</p>', page)
    )


def text_of(response) -> str:
    """The page's words, tags gone and spaces collapsed."""
    words = unescape(re.sub(r"<[^>]+>", " ", response.content.decode()))
    return re.sub(r"\s+", " ", words)


def fresh_second_factor(client: Client, user) -> None:
    session = client.session
    session[stepup.VERIFIED_AT] = timezone.now().timestamp()
    session[stepup.VERIFIED_USER] = user.pk
    session.save()


def good_form(**changes) -> dict[str, str]:
    values = {"reason": "INC-7: the queue is stuck", "ticket": "INC-7", "duration": "2h"}
    values.update(changes)
    return values


def local_input(delta: timedelta) -> str:
    """What a datetime-local input sends: local time, minutes."""
    return timezone.localtime(timezone.now() + delta).strftime("%Y-%m-%dT%H:%M")


# --- The request form ------------------------------------------------------------------


def test_the_form_shows_the_longest_window_and_sends_a_pending_request(jit, bob):
    client = client_of(bob)
    page = client.get(new_url(jit))
    assert page.status_code == 200
    body = page.content.decode()
    assert 'class="max-window">4h' in body
    for label in ("Reason", "Ticket reference", "Duration", "Start"):
        assert re.search(rf'<label for="id_\w+">{label}', body), label
    assert 'type="datetime-local"' in body

    sent = client.post(new_url(jit), good_form())
    request = AccessRequest.objects.get()
    assert sent.status_code == 302
    assert sent["Location"] == f"{reverse('request-list')}#request-{request.pk}"
    assert (request.status, request.duration_seconds, request.ticket) == (
        RequestStatus.PENDING,
        7200,
        "INC-7",
    )
    assert request.requested_start is None
    assert "sent to its approvers" in said(sent)[0][1]

    mine = client.get(reverse("request-list"))
    row = re.search(rf'<tr id="request-{request.pk}".*?</tr>', mine.content.decode(), re.S)
    assert row, "no row for the request"
    cells = unescape(re.sub(r"<[^>]+>", " ", row.group(0)))
    for text in ("admin", "Pending", "INC-7: the queue is stuck", "INC-7", "2h", "0 of 1"):
        assert text in cells, text
    assert reverse("request-cancel", args=[request.pk]) in row.group(0)


def test_a_later_start_is_kept(jit, bob):
    client = client_of(bob)
    client.post(new_url(jit), good_form(starts_at=local_input(timedelta(days=2))))
    request = AccessRequest.objects.get()
    assert request.requested_start is not None
    assert (
        timedelta(days=2) - timedelta(minutes=2)
        < (request.requested_start - timezone.now())
        <= timedelta(days=2)
    )


@pytest.mark.parametrize(
    ("changes", "field", "text"),
    [
        ({"duration": "5h"}, "duration", "5h is too long: at most 4h here"),
        ({"duration": "10m"}, "duration", "10m is too short: a window lasts at least 15m"),
        ({"duration": "soon"}, "duration", "is not a duration"),
        ({"duration": ""}, "duration", "Enter a duration"),
        ({"starts_at": timedelta(hours=-1)}, "starts_at", "The start is in the past"),
        ({"starts_at": timedelta(days=7, hours=1)}, "starts_at", "at most 7 days ahead"),
        ({"starts_at": "next tuesday"}, "starts_at", "Enter a valid date/time"),
        ({"reason": ""}, "reason", "Say why you need access (required)"),
        ({"reason": "   "}, "reason", "Say why you need access (required)"),
        ({"reason": "x" * 2000}, "reason", "at most 1000 characters (it has 2000)"),
        ({"ticket": "T" * 101}, "ticket", "at most 100 characters"),
    ],
    ids=lambda v: v if isinstance(v, str) and len(v) < 30 else None,
)
def test_bad_input_shows_the_fields_error_and_sends_nothing(jit, bob, changes, field, text):
    changes = {k: local_input(v) if isinstance(v, timedelta) else v for k, v in changes.items()}
    response = client_of(bob).post(new_url(jit), good_form(**changes))
    assert response.status_code == 200
    assert text in field_errors(response, field), field_errors(response, field)
    assert not AccessRequest.objects.exists()
    # What the person typed is still there to correct.
    if field == "reason" and changes["reason"].strip():
        assert "x" * 2000 in response.content.decode()


def test_a_second_open_request_is_refused_above_the_form(jit, bob):
    client = client_of(bob)
    client.post(new_url(jit), good_form())
    again = client.post(new_url(jit), good_form())
    assert again.status_code == 200
    assert "already have an open request" in text_of(again)
    assert AccessRequest.objects.count() == 1


@pytest.mark.parametrize("which", ["standing", "not granted", "missing", "no id", "junk id"])
def test_the_form_is_a_404_for_accounts_one_may_not_request(jit, account, bob, which):
    other = AccountFactory(name="elsewhere")
    url = {
        "standing": new_url(account),  # bob's standing grant: nothing to ask for
        "not granted": new_url(other),
        "missing": f"{reverse('request-new')}?account=999999",
        "no id": reverse("request-new"),
        "junk id": f"{reverse('request-new')}?account=1%20OR%201=1",
    }[which]
    client = client_of(bob)
    assert client.get(url).status_code == 404
    assert client.post(url, good_form()).status_code == 404
    assert not AccessRequest.objects.exists()


def test_an_approver_who_is_not_eligible_gets_a_404(jit, approver, alice):
    assert client_of(approver).get(new_url(jit)).status_code == 404
    # A superuser is not eligible either (nobody is, by default).
    assert client_of(alice).get(new_url(jit)).status_code == 404


def test_a_require_mfa_account_asks_for_the_second_factor_first(jit, bob):
    jit.require_mfa = True
    jit.save()
    client = client_of(bob)
    response = client.get(new_url(jit))
    assert response.status_code == 302
    assert response["Location"].startswith(reverse("security"))
    assert "next=" in response["Location"]
    assert client.post(new_url(jit), good_form()).status_code == 302
    assert not AccessRequest.objects.exists()
    fresh_second_factor(client, bob)
    assert client.get(new_url(jit)).status_code == 200
    assert client.post(new_url(jit), good_form()).status_code == 302
    assert AccessRequest.objects.get().status == RequestStatus.PENDING


# --- Break-glass -----------------------------------------------------------------------


def test_break_glass_needs_a_fresh_second_factor_then_opens_at_once(
    jit,
    bob,
    approver,
    federation,
):
    jit.break_glass = True
    jit.save()
    client = client_of(bob)
    url = new_url(jit, break_glass=1)
    stale = client.get(url)
    assert stale.status_code == 302
    assert stale["Location"].startswith(reverse("security"))
    assert "break_glass%3D1" in stale["Location"]  # and back here afterwards
    assert "Break-glass on admin needs a second factor" in said(stale)[0][1]
    assert client.post(url, good_form(duration="30m")).status_code == 302
    assert not AccessRequest.objects.exists()

    fresh_second_factor(client, bob)
    page = client.get(url)
    assert page.status_code == 200
    assert "Break-glass: open a window on admin now" in text_of(page)
    assert 'name="starts_at"' not in page.content.decode()  # it opens now
    assert 'class="max-window">1h' in page.content.decode()
    too_long = client.post(url, good_form(duration="2h"))
    assert "at most 1h" in field_errors(too_long, "duration")

    opened = client.post(url, good_form(duration="30m"))
    assert opened.status_code == 302
    assert opened["Location"] == reverse("account-detail", args=[jit.pk])
    request = AccessRequest.objects.get()
    assert (request.status, request.break_glass) == (RequestStatus.APPROVED, True)
    account_page = client.get(opened["Location"])
    assert "Access the AWS Console as pam-readonly" in account_page.content.decode()
    assert re.search(r"window ends .*?\d\d:\d\d.*? \((29|30) min left\)", text_of(account_page))
    assert "Break-glass window on admin open until" in text_of(account_page)
    # Access now works, under that window.
    assert client.post(reverse("account-access", args=[jit.pk])).status_code == 302
    assert ConsoleSession.objects.get().access_request == request
    # The approvers see it flagged.
    approvals = client_of(approver).get(reverse("approval-list"))
    assert 'class="badge break-glass"' in approvals.content.decode()


def test_break_glass_where_it_is_off_goes_back_to_the_plain_form(jit, bob):
    client = client_of(bob)
    fresh_second_factor(client, bob)
    response = client.get(new_url(jit, break_glass=1))
    assert response.status_code == 302
    assert response["Location"] == new_url(jit)
    assert "Break-glass is off" in said(response)[0][1]
    client.post(new_url(jit, break_glass=1), good_form())
    assert not AccessRequest.objects.exists()


# --- Deciding --------------------------------------------------------------------------


def decide(client, request, verdict="approve", comment="", follow=False):
    return client.post(
        reverse(f"request-{verdict}", args=[request.pk]), {"comment": comment}, follow=follow
    )


def test_the_approver_sees_the_request_and_approves_it_and_the_requester_gets_a_window(
    jit,
    bob,
    approver,
    federation,
):
    request = ask(jit, bob, ticket="CHG-42", duration_seconds=5400)
    page = client_of(approver).get(reverse("approval-list"))
    assert page.status_code == 200
    card = re.search(
        rf'<article class="card request" id="request-{request.pk}".*?</article>',
        page.content.decode(),
        re.S,
    )
    assert card, "the request is not listed"
    text = unescape(re.sub(r"<[^>]+>", " ", card.group(0)))
    for fact in (
        "bob@example.com",
        "admin",
        "INC-7: the queue is stuck",
        "CHG-42",
        "1h30m",
        "as soon as approved",
        "0 of 1 approval",
    ):
        assert fact in text, fact
    assert 'for="comment-' in card.group(0)  # the comment box has a label

    done = decide(client_of(approver), request, comment="go ahead")
    assert done.status_code == 302 and done["Location"] == reverse("approval-list")
    [(level, text)] = said(done)
    assert level == "success" and "approved" in text
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED

    requester = client_of(bob)
    home = text_of(requester.get("/"))
    assert re.search(r"window ends \d\d:\d\d \((89|90) min left\)", home), home
    mine = text_of(requester.get(reverse("request-list")))
    assert "Approved by dana@example.com" in mine and "go ahead" in mine
    assert requester.post(reverse("account-access", args=[jit.pk])).status_code == 302


def test_two_approvals_through_the_pages_from_two_people(
    jit,
    bob,
    approver,
    second_approver,
):
    jit.approvals_required = 2
    jit.save()
    request = ask(jit, bob)
    first = client_of(approver)
    assert "needs 2 approvals" in said(decide(first, request))[0][1]
    # The first approver sees it waiting for someone else, with no buttons.
    listed = first.get(reverse("approval-list")).content.decode()
    assert "You approved it; it needs another approver" in listed
    assert reverse("request-approve", args=[request.pk]) not in listed
    decide(client_of(second_approver), request)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert Decision.objects.filter(request=request).count() == 2


@pytest.mark.parametrize("how", ["directly", "through a group", "as a superuser"])
def test_nobody_approves_their_own_request_through_the_page(jit, bob, how):
    if how == "directly":
        jit.approver_users.add(bob)
    elif how == "through a group":
        group = GroupFactory(name="approvers")
        jit.approver_groups.add(group)
        bob.groups.add(group)
    else:
        bob.is_superuser = True
        bob.save()
    request = ask(jit, bob)
    client = client_of(bob)
    # Not offered: neither on the approvals page nor on the request's own page.
    assert f'id="request-{request.pk}"' not in client.get(reverse("approval-list")).content.decode()
    detail = client.get(reverse("request-detail", args=[request.pk])).content.decode()
    assert reverse("request-approve", args=[request.pk]) not in detail
    # And refused when posted anyway.
    response = decide(client, request)
    assert response.status_code == 302
    assert said(response) == [
        (
            "error",
            f"Request #{request.pk}: You cannot decide your own request: another approver must.",
        )
    ]
    assert not Decision.objects.exists()
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


@pytest.mark.parametrize("required", [1, 2])
def test_a_double_click_on_approve_records_one_decision(jit, bob, approver, required):
    jit.approvals_required = required
    jit.save()
    request = ask(jit, bob)
    client = client_of(approver)
    first = said(decide(client, request))
    second = said(decide(client, request))
    assert first[0][0] == "success"
    [(level, text)] = second
    assert level == "error"
    assert ("nothing left to decide" if required == 1 else "already approved") in text
    assert Decision.objects.filter(request=request).count() == 1


def test_a_decision_on_an_expired_request_is_refused_clearly(jit, bob, approver):
    request = ask(jit, bob)
    with time_machine.travel(timezone.now() + timedelta(hours=24, minutes=1)):
        client = client_of(approver)
        # No longer offered...
        assert (
            f'id="request-{request.pk}"'
            not in client.get(reverse("approval-list")).content.decode()
        )
        # ... and refused when posted from a page left open.
        response = decide(client, request, follow=True)
    assert response.status_code == 200
    assert "This request expired (no decision within 24 hours)" in text_of(response)
    request.refresh_from_db()
    assert request.status == RequestStatus.EXPIRED
    assert not Decision.objects.exists()


def test_a_denial_with_its_comment_reaches_the_requesters_page(jit, bob, approver):
    request = ask(jit, bob)
    denied = decide(client_of(approver), request, "deny", comment="use the read-only role")
    assert "denied" in said(denied)[0][1]
    request.refresh_from_db()
    assert request.status == RequestStatus.DENIED
    mine = text_of(client_of(bob).get(reverse("request-list")))
    assert "Denied by dana@example.com" in mine and "use the read-only role" in mine


def test_a_comment_too_long_is_refused_with_a_message(jit, bob, approver):
    request = ask(jit, bob)
    response = decide(client_of(approver), request, comment="c" * 1001)
    assert said(response)[0] == (
        "error",
        f"Request #{request.pk}: At most 1000 characters (this is 1001).",
    )
    assert not Decision.objects.exists()


def test_next_never_leads_off_site(jit, bob, approver):
    request = ask(jit, bob)
    response = client_of(approver).post(
        reverse("request-deny", args=[request.pk]), {"next": "https://evil.example/"}
    )
    assert response["Location"] == reverse("approval-list")


def test_posts_need_the_csrf_token(jit, bob, approver):
    request = ask(jit, bob)
    client = Client(enforce_csrf_checks=True)
    client.force_login(approver)
    assert decide(client, request).status_code == 403
    requester = Client(enforce_csrf_checks=True)
    requester.force_login(bob)
    assert requester.post(new_url(jit), good_form()).status_code == 403
    assert requester.post(reverse("request-cancel", args=[request.pk])).status_code == 403
    request.refresh_from_db()
    assert request.status == RequestStatus.PENDING


# --- Cancel and revoke -----------------------------------------------------------------


def test_the_requester_cancels_a_pending_request_and_ends_an_open_window(
    jit,
    bob,
    approver,
):
    client = client_of(bob)
    pending = ask(jit, bob)
    response = client.post(
        reverse("request-cancel", args=[pending.pk]),
        {"next": f"{reverse('request-list')}#request-{pending.pk}"},
    )
    assert response["Location"] == f"{reverse('request-list')}#request-{pending.pk}"
    assert said(response) == [("success", f"Request #{pending.pk} cancelled.")]
    pending.refresh_from_db()
    assert pending.status == RequestStatus.CANCELLED

    window = services.request_decide(request=ask(jit, bob), approver=approver, approve=True)
    ended = client.post(reverse("request-cancel", args=[window.pk]))
    assert "ended now" in said(ended)[0][1]
    window.refresh_from_db()
    assert window.status == RequestStatus.ENDED
    # Twice: nothing to cancel, said plainly.
    again = client.post(reverse("request-cancel", args=[window.pk]))
    assert said(again) == [
        ("error", f"Request #{window.pk}: This request is ended: nothing to cancel.")
    ]
    page = client.get(reverse("request-list")).content.decode()
    assert reverse("request-cancel", args=[window.pk]) not in page


def test_an_approver_revokes_an_open_window_from_the_approvals_page(
    jit,
    bob,
    approver,
):
    window = services.request_decide(request=ask(jit, bob), approver=approver, approve=True)
    client = client_of(approver)
    page = client.get(reverse("approval-list")).content.decode()
    card = re.search(rf'id="request-{window.pk}".*?</article>', page, re.S).group(0)
    assert reverse("request-revoke", args=[window.pk]) in card
    assert re.search(r"(59|60) min left", card)
    done = client.post(reverse("request-revoke", args=[window.pk]), {"comment": "done early"})
    assert "revoked" in said(done)[0][1]
    window.refresh_from_db()
    assert (window.status, window.end_reason) == (RequestStatus.REVOKED, "done early")
    assert "Revoked by dana@example.com: done early" in text_of(
        client_of(bob).get(reverse("request-list"))
    )


# --- The request's own page ------------------------------------------------------------


def test_the_request_page_shows_the_facts_and_only_the_actions_one_may_take(
    jit,
    bob,
    approver,
    charlie,
):
    request = ask(jit, bob, ticket="INC-7")
    url = reverse("request-detail", args=[request.pk])
    as_bob = client_of(bob).get(url).content.decode()
    assert reverse("request-cancel", args=[request.pk]) in as_bob
    assert reverse("request-approve", args=[request.pk]) not in as_bob
    as_dana = client_of(approver).get(url).content.decode()
    assert reverse("request-approve", args=[request.pk]) in as_dana
    assert reverse("request-deny", args=[request.pk]) in as_dana
    assert reverse("request-cancel", args=[request.pk]) not in as_dana
    assert "INC-7: the queue is stuck" in unescape(as_dana)
    assert client_of(charlie).get(url).status_code == 404


def test_user_text_is_escaped_everywhere(jit, bob, approver):
    evil = '<script>alert("x")</script>'
    request = ask(jit, bob, reason=evil, ticket="<b>T</b>")
    services.request_decide(request=request, approver=approver, approve=False, comment=evil)
    for client, url in [
        (client_of(bob), reverse("request-list")),
        (client_of(bob), reverse("request-detail", args=[request.pk])),
    ]:
        page = client.get(url).content.decode()
        assert "<script>alert" not in page and "<b>T</b>" not in page
        assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;" in page
    other = ask(jit, bob, reason=evil)
    page = client_of(approver).get(reverse("approval-list")).content.decode()
    assert f'id="request-{other.pk}"' in page
    assert "<script>alert" not in page


# --- The accounts pages ----------------------------------------------------------------


def test_the_accounts_pages_show_request_access_pending_and_the_open_window(
    jit,
    account,
    bob,
    approver,
):
    client = client_of(bob)
    home = client.get("/").content.decode()
    item = re.search(rf'<li class="account" id="account-{jit.pk}".*?</li>', home, re.S).group(0)
    assert f'href="{new_url(jit)}"' in item.replace("&amp;", "&")
    assert "Request access" in item
    assert "Break-glass" not in item
    assert "Accounts that need approval show Request access instead" in unescape(
        re.sub(r"<[^>]+>", "", home)
    )
    assert reverse("account-access", args=[jit.pk]) not in item  # no Access outside a window
    standing = re.search(rf'id="account-{account.pk}".*?</li>', home, re.S).group(0)
    assert reverse("account-access", args=[account.pk]) in standing
    assert "Request access" not in standing

    jit.break_glass = True
    jit.save()
    detail = client.get(reverse("account-detail", args=[jit.pk])).content.decode()
    assert f'href="{new_url(jit, break_glass=1)}"' in detail.replace("&amp;", "&")
    assert "Eligible: Access inside an approved window (at most 4h" in detail

    request = ask(jit, bob)
    home = text_of(client.get("/"))
    assert "Request pending 0 of 1 approval" in home
    services.request_decide(request=request, approver=approver, approve=True)
    page = client.get(reverse("account-detail", args=[jit.pk]))
    body = page.content.decode()
    assert reverse("account-access", args=[jit.pk]) in body
    assert 'target="_blank"' in body
    assert re.search(r"window ends \d\d:\d\d \((59|60) min left\)", text_of(page))


def test_a_window_that_opens_later_shows_when(jit, bob, approver):
    start = timezone.now() + timedelta(hours=3)
    request = ask(jit, bob, starts_at=start)
    services.request_decide(request=request, approver=approver, approve=True)
    home = text_of(client_of(bob).get("/"))
    assert "Approved window opens" in home
    assert reverse("account-access", args=[jit.pk]) not in client_of(bob).get("/").content.decode()


def test_the_home_page_reads_open_requests_once_however_many_accounts(bob, approver):
    def eligible_with_request(n: int) -> None:
        account = AccountFactory(name=f"eligible-{n}")
        GrantFactory(account=account, user=bob, kind=GrantKind.ELIGIBLE)
        account.approver_users.add(approver)
        ask(account, bob)

    client = client_of(bob)
    eligible_with_request(0)
    client.get("/")
    with CaptureQueriesContext(connection) as one:
        assert client.get("/").status_code == 200
    for n in range(1, 6):
        eligible_with_request(n)
    with CaptureQueriesContext(connection) as six:
        page = client.get("/")
    assert page.content.decode().count("Request pending") == 6
    assert len(six) == len(one), [q["sql"][:80] for q in six]
    on_requests = [q for q in six if 'FROM "access_requests_accessrequest"' in q["sql"]]
    assert len(on_requests) == 1


def test_the_window_failure_page_offers_to_request_access(jit, bob, federation):
    response = client_of(bob).post(reverse("account-access", args=[jit.pk]))
    assert response.status_code == 403
    assert f'href="{new_url(jit)}"' in response.content.decode().replace("&amp;", "&")
    assert "Request access" in text_of(response)


# --- The header ------------------------------------------------------------------------


def test_the_header_shows_approvals_only_to_people_who_approve_something(
    jit,
    bob,
    approver,
    charlie,
    alice,
):
    group = GroupFactory(name="approvers")
    erin = UserFactory(username="erin-g")
    erin.groups.add(group)
    jit.approver_groups.add(group)
    decider = UserFactory(username="sec")
    decider.user_permissions.add(Permission.objects.get(codename="decide_accessrequest"))
    link = f'href="{reverse("approval-list")}"'
    for user, shown in [
        (approver, True),  # named on the account
        (erin, True),  # through a group
        (decider, True),  # the global decide permission
        (alice, True),  # a superuser holds every permission
        (bob, False),  # a requester only
        (charlie, False),
    ]:
        client = client_of(user)
        for url in ("/", reverse("request-list")):
            page = client.get(url).content.decode()
            assert (link in page) is shown, (user.username, url)
            assert f'href="{reverse("request-list")}"' in page


# --- Who gets what: every new page and POST, for each kind of caller -------------------

ROLES = ["requester", "approver", "second", "ops", "admin", "outsider", "anonymous"]


@pytest.fixture
def world(db, alice, bob, charlie):
    """bob is eligible on two accounts that dana approves directly and erin through a
    group: one holds bob's pending request, the other his approved, open window. olga
    (ops) reads every request's history but decides none; alice is a superuser."""
    dana = UserFactory(username="dana")
    erin = UserFactory(username="erin")
    group = GroupFactory(name="approvers")
    erin.groups.add(group)
    olga = UserFactory(username="olga")
    olga.user_permissions.add(Permission.objects.get(codename="view_accessrequest"))
    accounts = []
    for name in ("jit", "jit2"):
        account = AccountFactory(name=name, break_glass=True)
        GrantFactory(account=account, user=bob, kind=GrantKind.ELIGIBLE)
        account.approver_users.add(dana)
        account.approver_groups.add(group)
        accounts.append(account)
    standing = AccountFactory(name="standing")
    GrantFactory(account=standing, user=bob)
    pending = ask(accounts[0], bob)
    window = services.request_decide(request=ask(accounts[1], bob), approver=dana, approve=True)
    return {
        "users": {
            "requester": bob,
            "approver": dana,
            "second": erin,
            "ops": olga,
            "admin": alice,
            "outsider": charlie,
            "anonymous": None,
        },
        "jit": accounts[0],
        "standing": standing,
        "pending": pending,
        "window": window,
    }


def fill(url: str, world) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: str(world[m.group(1)].pk), url)


SIGNED_IN = {**dict.fromkeys(ROLES, 200), "anonymous": 302}
REQUESTER_ONLY = {**dict.fromkeys(ROLES, 404), "requester": 200, "anonymous": 302}
SEES_THE_REQUEST = {**dict.fromkeys(ROLES, 200), "outsider": 404, "anonymous": 302}
NOBODY = {**dict.fromkeys(ROLES, 404), "anonymous": 302}

PAGES = [
    ("/requests/", SIGNED_IN),
    ("/requests/new/?account={jit}", REQUESTER_ONLY),
    # Break-glass: the requester is sent to verify a second factor first.
    ("/requests/new/?account={jit}&break_glass=1", {**REQUESTER_ONLY, "requester": 302}),
    ("/requests/new/?account={standing}", NOBODY),
    ("/requests/new/", NOBODY),
    ("/requests/{pending}/", SEES_THE_REQUEST),
    ("/requests/{window}/", SEES_THE_REQUEST),
    ("/requests/999999/", NOBODY),
    ("/approvals/", SIGNED_IN),
    ("/requests/{pending}/approve/", dict.fromkeys(ROLES, 405)),
    ("/requests/{pending}/deny/", dict.fromkeys(ROLES, 405)),
    ("/requests/{pending}/cancel/", dict.fromkeys(ROLES, 405)),
    ("/requests/{window}/revoke/", dict.fromkeys(ROLES, 405)),
]


@pytest.mark.parametrize(("url", "expected"), PAGES, ids=[u for u, _ in PAGES])
@pytest.mark.parametrize("role", ROLES)
def test_every_request_page_answers_each_caller_exactly(world, url, expected, role):
    response = client_of(world["users"][role]).get(fill(url, world))
    assert response.status_code == expected[role], (response.status_code, response.content[:300])
    if response.status_code == 302 and role == "anonymous":
        assert response["Location"].startswith(reverse("login"))


# What each POST does, per caller: done, refused (back with the rule's message, nothing
# changed), 404 (cannot see the request), or the sign-in page.
DECIDERS = {
    "requester": "refused",
    "approver": "done",
    "second": "done",
    "ops": "refused",
    "admin": "done",
    "outsider": 404,
    "anonymous": "login",
}
POSTS = [
    ("approve", "pending", RequestStatus.APPROVED, DECIDERS),
    ("deny", "pending", RequestStatus.DENIED, DECIDERS),
    ("revoke", "window", RequestStatus.REVOKED, DECIDERS),
    (
        "cancel",
        "pending",
        RequestStatus.CANCELLED,
        {
            **DECIDERS,
            "requester": "done",
            "approver": "refused",
            "second": "refused",
            "admin": "refused",
        },
    ),
    (
        "cancel",
        "window",
        RequestStatus.ENDED,
        {
            **DECIDERS,
            "requester": "done",
            "approver": "refused",
            "second": "refused",
            "admin": "refused",
        },
    ),
]


@pytest.mark.parametrize(
    ("action", "target", "after", "expected"), POSTS, ids=[f"{a} {t}" for a, t, _, _ in POSTS]
)
@pytest.mark.parametrize("role", ROLES)
def test_every_request_post_does_exactly_what_the_caller_may(
    world, action, target, after, expected, role
):
    request = world[target]
    before = request.status
    response = client_of(world["users"][role]).post(
        reverse(f"request-{action}", args=[request.pk]), {"comment": "ok"}
    )
    request.refresh_from_db()
    outcome = expected[role]
    if outcome == 404:
        assert response.status_code == 404
        assert request.status == before
        return
    assert response.status_code == 302
    if outcome == "login":
        assert response["Location"].startswith(reverse("login"))
        assert request.status == before
        return
    [(level, text)] = said(response)
    if outcome == "done":
        assert (level, request.status) == ("success", after), text
    else:
        assert level == "error" and text.startswith(f"Request #{request.pk}: "), text
        assert request.status == before


@pytest.mark.parametrize("role", ROLES)
def test_the_approvals_page_lists_exactly_what_the_caller_may_decide(world, role):
    response = client_of(world["users"][role]).get(reverse("approval-list"))
    if role == "anonymous":
        assert response.status_code == 302
        return
    page = response.content.decode()
    listed = {key for key in ("pending", "window") if f'id="request-{world[key].pk}"' in page}
    deciders = {"approver", "second", "admin"}
    assert listed == ({"pending", "window"} if role in deciders else set()), listed
