"""History shows just-in-time access: each console session names the request it ran
under, and the API, the CSV export, the `sessions` command, the admin and the pages show
its reason, ticket and approvers, with break-glass flagged; "who had access to account X
at T" includes the approved windows covering T."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone
from rest_framework import serializers
from rest_framework.test import APIClient

from access_requests import services
from access_requests.models import AccessRequest, Decision, RequestStatus, Verdict
from accounts.models import GrantKind
from sessions_app import exports
from sessions_app.admin import request_admin_url
from sessions_app.api import SessionSerializer
from sessions_app.models import ConsoleSession, Status
from sessions_app.presenters import request_url, session_rows

from .factories import AccountFactory, ConsoleSessionFactory, GrantFactory, UserFactory

REASON = "INC-7: the queue is stuck"
TICKET = "INC-7"
BREAK_GLASS_REASON = "prod down, paging nobody answers"


@pytest.fixture
def dana(db):
    return UserFactory(username="dana", email="dana@example.com")


@pytest.fixture
def carl(db):
    return UserFactory(username="carl", email="carl@example.com")


@pytest.fixture
def sam(db):
    return UserFactory(username="sam", email="sam@example.com")


@pytest.fixture
def jit(db, bob, carl, sam, dana):
    """One account: bob ran a session under a window dana approved, carl under
    break-glass, sam under his standing grant."""
    now = timezone.now()
    account = AccountFactory(name="admin", break_glass=True)
    GrantFactory(account=account, user=bob, kind=GrantKind.ELIGIBLE)
    GrantFactory(account=account, user=carl, kind=GrantKind.ELIGIBLE)
    GrantFactory(account=account, user=sam, kind=GrantKind.STANDING)
    account.approver_users.add(dana)

    approved = services.request_create(
        requester=bob, account=account, reason=REASON, ticket=TICKET, duration_seconds=3600
    )
    approved = services.request_decide(request=approved, approver=dana, approve=True)
    glass = services.request_create(
        requester=carl,
        account=account,
        reason=BREAK_GLASS_REASON,
        duration_seconds=1800,
        break_glass=True,
        second_factor=True,
    )
    live = {"activated_at": now - timedelta(minutes=5), "expires_at": now + timedelta(minutes=25)}
    return {
        "account": account,
        "approved": approved,
        "glass": glass,
        "under_request": ConsoleSessionFactory(
            user=bob, account=account, access_request=approved, status=Status.ACTIVE, **live
        ),
        "break_glass": ConsoleSessionFactory(
            user=carl, account=account, access_request=glass, status=Status.ACTIVE, **live
        ),
        "standing": ConsoleSessionFactory(user=sam, account=account, status=Status.ACTIVE, **live),
    }


def api_client(user):
    client = APIClient()
    client.force_login(user)
    return client


def run(*args):
    out = io.StringIO()
    call_command("sessions", *args, stdout=out)
    return out.getvalue()


def read_csv(body):
    return {row["id"]: row for row in csv.DictReader(io.StringIO(body))}


# --- The API -------------------------------------------------------------------------


def test_the_api_shows_the_request_reason_ticket_approvers_and_break_glass(jit, alice):
    body = api_client(alice).get("/api/v1/sessions/").json()
    rows = {row["id"]: row for row in body["results"]}

    under = rows[jit["under_request"].pk]
    assert under["access_request"] == jit["approved"].pk
    assert under["break_glass"] is False
    assert (under["request_reason"], under["request_ticket"]) == (REASON, TICKET)
    assert under["approvers"] == ["dana@example.com"]

    glass = rows[jit["break_glass"].pk]
    assert glass["access_request"] == jit["glass"].pk
    assert glass["break_glass"] is True
    assert glass["request_reason"] == BREAK_GLASS_REASON
    assert glass["approvers"] == []  # nobody approved: it opened at once

    standing = rows[jit["standing"].pk]
    assert standing["access_request"] is None
    assert standing["break_glass"] is False
    assert standing["request_reason"] is None and standing["request_ticket"] is None
    assert standing["approvers"] == []


def test_the_fast_representation_still_equals_the_model_serializers(jit):
    """SessionSerializer writes rows by hand; the new fields must read as DRF would."""
    for key in ("under_request", "break_glass", "standing"):
        session = ConsoleSession.objects.get(pk=jit[key].pk)
        fast = SessionSerializer(session).data
        reference = serializers.ModelSerializer.to_representation(SessionSerializer(), session)
        assert fast == reference, key
        assert list(fast) == SessionSerializer.Meta.fields


def make_window(account, requester, *, starts_at, ends_at, status, ended_at=None, approvers=()):
    """A request row written directly (the services' rules are tested elsewhere)."""
    request = AccessRequest.objects.create(
        account=account,
        requester=requester,
        requester_name=requester.email,
        reason=f"work of {requester.email}",
        ticket="CHG-1",
        duration_seconds=int((ends_at - starts_at).total_seconds()),
        status=status,
        created_at=starts_at - timedelta(minutes=1),
        expires_at=starts_at + timedelta(hours=24),
        decided_at=starts_at,
        starts_at=starts_at,
        ends_at=ends_at,
        ended_at=ended_at,
    )
    for n, approver in enumerate(approvers):
        Decision.objects.create(
            request=request,
            approver=approver,
            approver_name=approver.email,
            verdict=Verdict.APPROVE,
            created_at=starts_at - timedelta(seconds=30 - n),
        )
    return request


def test_a_session_page_costs_the_same_queries_for_3_jit_rows_or_30(db, alice, dana):
    """The request comes in the page's join, the approvals in one prefetch: no query a
    row (the rows' own test of this is tests/test_api.py's, for standing sessions)."""
    now = timezone.now()
    client = api_client(alice)
    erin = UserFactory(email="erin@example.com")

    def add(n):
        for _ in range(n):
            account, person = AccountFactory(), UserFactory()
            window = make_window(
                account,
                person,
                starts_at=now - timedelta(hours=1),
                ends_at=now,
                status=RequestStatus.ENDED,
                ended_at=now,
                approvers=(dana, erin),
            )
            ConsoleSessionFactory(user=person, account=account, access_request=window)

    def queries_for_page():
        with CaptureQueriesContext(connection) as queries:
            rows = client.get("/api/v1/sessions/").json()["results"]
        assert all(row["approvers"] == ["dana@example.com", "erin@example.com"] for row in rows)
        return len(queries), len(rows)

    add(3)
    few, listed = queries_for_page()
    assert listed == 3
    add(27)
    assert queries_for_page() == (few, 30)


# --- Who had access to account X at T --------------------------------------------------


@pytest.fixture
def at_t(db, dana):
    """Windows and sessions around an instant T two hours ago, on one account."""
    t = timezone.now() - timedelta(hours=2)
    account = AccountFactory(name="payments")
    other = AccountFactory(name="elsewhere")
    people = {name: UserFactory(email=f"{name}@example.com") for name in "abcdefg"}
    erin = UserFactory(email="erin@example.com")
    m = timedelta(minutes=1)
    windows = {
        # Ran out after T: it covered T.
        "covering": make_window(
            account,
            people["a"],
            starts_at=t - 30 * m,
            ends_at=t + 30 * m,
            status=RequestStatus.ENDED,
            ended_at=t + 30 * m,
            approvers=(dana, erin),
        ),
        # Revoked, but only after T: it covered T.
        "revoked_after": make_window(
            account,
            people["b"],
            starts_at=t - 60 * m,
            ends_at=t + 60 * m,
            status=RequestStatus.REVOKED,
            ended_at=t + 10 * m,
            approvers=(dana,),
        ),
        "ended_before": make_window(
            account,
            people["c"],
            starts_at=t - 180 * m,
            ends_at=t - 60 * m,
            status=RequestStatus.ENDED,
            ended_at=t - 60 * m,
        ),
        "revoked_before": make_window(
            account,
            people["d"],
            starts_at=t - 60 * m,
            ends_at=t + 60 * m,
            status=RequestStatus.REVOKED,
            ended_at=t - 10 * m,
        ),
        "ended_early_before": make_window(
            account,
            people["e"],
            starts_at=t - 60 * m,
            ends_at=t + 60 * m,
            status=RequestStatus.ENDED,
            ended_at=t - 1 * m,
        ),
        "starts_after": make_window(
            account,
            people["f"],
            starts_at=t + 1 * m,
            ends_at=t + 60 * m,
            status=RequestStatus.ENDED,
            ended_at=t + 60 * m,
        ),
        "other_account": make_window(
            other,
            people["g"],
            starts_at=t - 30 * m,
            ends_at=t + 30 * m,
            status=RequestStatus.ENDED,
            ended_at=t + 30 * m,
        ),
    }
    sessions = {
        "live": ConsoleSessionFactory(
            user=people["a"],
            account=account,
            access_request=windows["covering"],
            status=Status.EXPIRED,
            created_at=t - 10 * m,
            activated_at=t - 10 * m,
            expires_at=t + 20 * m,
        ),
        "over": ConsoleSessionFactory(
            user=people["c"],
            account=account,
            access_request=windows["ended_before"],
            status=Status.EXPIRED,
            created_at=t - 150 * m,
            activated_at=t - 150 * m,
            expires_at=t - 120 * m,
        ),
    }
    return {"t": t, "account": account, "people": people, **windows, **sessions}


def test_the_command_answers_who_had_access_with_sessions_and_covering_windows(at_t):
    t = at_t["t"].isoformat()
    account = str(at_t["account"].pk)
    out = run("--account", account, "--active-at", t)
    sessions_part, windows_part = out.split("Approved windows covering", 1)
    session_ids = [line.split()[0] for line in sessions_part.strip().splitlines()[1:]]
    assert session_ids == [str(at_t["live"].pk)]
    assert f"#{at_t['covering'].pk}" in sessions_part
    assert "may Access" in windows_part
    listed = [line.split()[0] for line in windows_part.strip().splitlines()[2:]]
    assert listed == [str(at_t["revoked_after"].pk), str(at_t["covering"].pk)]
    assert "dana@example.com, erin@example.com" in windows_part

    # The same list alone, for scripts.
    data = json.loads(run("--account", account, "--active-at", t, "--windows", "--format", "json"))
    assert {w["request"] for w in data} == {at_t["covering"].pk, at_t["revoked_after"].pk}
    covering = next(w for w in data if w["request"] == at_t["covering"].pk)
    assert covering["requester"] == "a@example.com"
    assert covering["approvers"] == "dana@example.com, erin@example.com"
    assert covering["break_glass"] is False
    rows = list(
        csv.DictReader(
            io.StringIO(run("--account", account, "--active-at", t, "--windows", "--format", "csv"))
        )
    )
    assert {r["request"] for r in rows} == {str(at_t["covering"].pk), str(at_t["revoked_after"].pk)}
    # --user narrows the windows to one requester, as it narrows the sessions.
    only_b = run("--account", account, "--active-at", t, "--windows", "--user", "B@example.com")
    assert [line.split()[0] for line in only_b.splitlines()[1:]] == [str(at_t["revoked_after"].pk)]


def test_the_command_json_for_active_at_stays_a_list_of_sessions(at_t):
    data = json.loads(
        run(
            "--account",
            str(at_t["account"].pk),
            "--active-at",
            at_t["t"].isoformat(),
            "--format",
            "json",
        )
    )
    assert [d["id"] for d in data] == [at_t["live"].pk]
    assert data[0]["access_request"] == at_t["covering"].pk


def test_the_command_says_windows_need_an_account(at_t):
    out = run("--active-at", at_t["t"].isoformat())
    assert "give --account" in out
    with pytest.raises(CommandError, match="--windows"):
        run("--active-at", at_t["t"].isoformat(), "--windows")
    with pytest.raises(CommandError, match="--windows"):
        run("--account", str(at_t["account"].pk), "--windows")


def test_the_api_answers_who_had_access_with_sessions_and_covering_windows(at_t, alice):
    response = api_client(alice).get(
        "/api/v1/sessions/who_had_access/",
        {"account": at_t["account"].pk, "at": at_t["t"].isoformat()},
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["account"] == at_t["account"].pk
    assert [s["id"] for s in body["sessions"]] == [at_t["live"].pk]
    assert body["sessions"][0]["approvers"] == ["dana@example.com", "erin@example.com"]
    windows = {w["id"]: w for w in body["windows"]}
    assert set(windows) == {at_t["covering"].pk, at_t["revoked_after"].pk}
    covering = windows[at_t["covering"].pk]
    assert covering["requester_name"] == "a@example.com"
    assert covering["approvers"] == ["dana@example.com", "erin@example.com"]
    assert covering["reason"] == "work of a@example.com" and covering["ticket"] == "CHG-1"

    # The list's own filter is unchanged: sessions only.
    listed = api_client(alice).get(
        "/api/v1/sessions/",
        {"account": at_t["account"].pk, "active_at": at_t["t"].isoformat()},
    )
    assert [s["id"] for s in listed.json()["results"]] == [at_t["live"].pk]


def test_who_had_access_shows_a_person_only_what_they_may_see(at_t):
    a = at_t["people"]["a"]
    body = (
        api_client(a)
        .get(
            "/api/v1/sessions/who_had_access/",
            {"account": at_t["account"].pk, "at": at_t["t"].isoformat()},
        )
        .json()
    )
    assert [s["id"] for s in body["sessions"]] == [at_t["live"].pk]
    assert [w["id"] for w in body["windows"]] == [at_t["covering"].pk]

    stranger = UserFactory()
    body = (
        api_client(stranger)
        .get(
            "/api/v1/sessions/who_had_access/",
            {"account": at_t["account"].pk, "at": at_t["t"].isoformat()},
        )
        .json()
    )
    assert body["sessions"] == [] and body["windows"] == []


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"account": "1"},
        {"at": "2026-01-01T00:00:00Z"},
        {"account": "x", "at": "2026-01-01T00:00:00Z"},
        {"account": "1", "at": "yesterday"},
        {"account": str(2**70), "at": "2026-01-01T00:00:00Z"},
    ],
)
def test_who_had_access_refuses_bad_input_with_a_400(db, alice, query):
    response = api_client(alice).get("/api/v1/sessions/who_had_access/", query)
    assert response.status_code == 400


def test_who_had_access_for_an_unknown_account_is_empty(db, alice):
    response = api_client(alice).get(
        "/api/v1/sessions/who_had_access/", {"account": 999999, "at": "0001-01-01T00:30:00Z"}
    )
    assert response.status_code == 200
    assert response.json()["sessions"] == [] and response.json()["windows"] == []


# --- CSV export and the command ------------------------------------------------------


def test_the_csv_export_has_the_request_columns(jit, client, alice):
    client.force_login(alice)
    response = client.get(reverse("admin:sessions_app_consolesession_export"))
    rows = read_csv(b"".join(response.streaming_content).decode())
    under = rows[str(jit["under_request"].pk)]
    assert under["access_request"] == str(jit["approved"].pk)
    assert under["break_glass"] == "false"
    assert (under["request_reason"], under["request_ticket"]) == (REASON, TICKET)
    assert under["approvers"] == "dana@example.com"
    glass = rows[str(jit["break_glass"].pk)]
    assert (glass["break_glass"], glass["request_reason"]) == ("true", BREAK_GLASS_REASON)
    assert glass["approvers"] == ""
    standing = rows[str(jit["standing"].pk)]
    assert standing["access_request"] == "" and standing["break_glass"] == "false"
    assert standing["request_reason"] == standing["request_ticket"] == standing["approvers"] == ""


def test_the_export_is_still_one_streamed_query_with_requests_and_approvers(
    jit, client, alice, dana
):
    erin = UserFactory(email="erin@example.com")
    now = timezone.now()
    for _ in range(5):
        person = UserFactory()
        window = make_window(
            jit["account"],
            person,
            starts_at=now - timedelta(hours=1),
            ends_at=now,
            status=RequestStatus.ENDED,
            ended_at=now,
            approvers=(dana, erin),
        )
        ConsoleSessionFactory(user=person, account=jit["account"], access_request=window)
    client.force_login(alice)
    response = client.get(reverse("admin:sessions_app_consolesession_export"))
    with CaptureQueriesContext(connection) as queries:
        rows = read_csv(b"".join(response.streaming_content).decode())
    assert len(rows) == 8
    assert sum(r["approvers"] == "dana@example.com, erin@example.com" for r in rows.values()) == 5
    # One query reads the rows, their requests and approvers, however many there are.
    reads = [q["sql"] for q in queries if "FROM" in q["sql"].upper()]
    assert len(reads) == 1, [sql[:80] for sql in reads]
    assert "sessions_app_consolesession" in reads[0] and "access_requests_decision" in reads[0]


def test_postgresql_copy_and_python_write_the_same_request_columns(jit, dana):
    if connection.vendor != "postgresql":
        pytest.skip("the COPY writer exists only on PostgreSQL")
    erin = UserFactory(email="=erin@example.com")  # a formula start, from the IdP
    now = timezone.now()
    person = UserFactory()
    window = make_window(
        jit["account"],
        person,
        starts_at=now - timedelta(hours=1),
        ends_at=now,
        status=RequestStatus.ENDED,
        ended_at=now,
        approvers=(erin, dana),
    )
    AccessRequest.objects.filter(pk=window.pk).update(
        reason='-1+2 "quoted", comma\nnewline', ticket="@T-1"
    )
    ConsoleSessionFactory(user=person, account=jit["account"], access_request=window)
    queryset = ConsoleSession.objects.order_by("-created_at", "-id")

    by_copy = b"".join(exports.csv_stream(queryset)).decode()
    by_python = "".join(exports.csv_lines(exports.rows(queryset)))
    assert by_copy == by_python
    odd = next(r for r in read_csv(by_copy).values() if r["access_request"] == str(window.pk))
    assert odd["request_reason"] == '\'-1+2 "quoted", comma\nnewline'
    assert odd["request_ticket"] == "'@T-1"
    # In the order they approved.
    assert odd["approvers"] == "'=erin@example.com, dana@example.com"


def test_the_command_table_shows_request_ticket_approvers_and_break_glass(jit):
    lines = {line.split()[0]: line for line in run("--account", "admin").splitlines()}
    header = lines["id"]
    for column in ("request", "ticket", "approvers", "reason"):
        assert column in header.split()
    under = lines[str(jit["under_request"].pk)]
    assert f"#{jit['approved'].pk}" in under
    assert TICKET in under and "dana@example.com" in under and REASON in under
    assert "BREAK-GLASS" not in under
    glass = lines[str(jit["break_glass"].pk)]
    assert f"#{jit['glass'].pk} BREAK-GLASS" in glass and BREAK_GLASS_REASON in glass
    standing = lines[str(jit["standing"].pk)]
    assert "#" not in standing and "BREAK-GLASS" not in standing and REASON not in standing


def test_the_command_json_and_csv_carry_the_request_fields(jit):
    data = {d["id"]: d for d in json.loads(run("--format", "json"))}
    under = data[jit["under_request"].pk]
    assert (under["access_request"], under["break_glass"]) == (jit["approved"].pk, False)
    assert (under["request_reason"], under["request_ticket"]) == (REASON, TICKET)
    assert under["approvers"] == "dana@example.com"
    assert data[jit["break_glass"].pk]["break_glass"] is True
    standing = data[jit["standing"].pk]
    assert standing["access_request"] is None and standing["break_glass"] is False

    rows = read_csv(run("--format", "csv"))
    assert rows[str(jit["break_glass"].pk)]["break_glass"] == "true"
    assert rows[str(jit["under_request"].pk)]["approvers"] == "dana@example.com"


def test_the_command_limit_applies_with_the_request_columns(jit):
    assert len(json.loads(run("--limit", "2", "--format", "json"))) == 2
    assert len(run("--limit", "2", "--format", "csv").splitlines()) == 3


# --- The admin ---------------------------------------------------------------------------


def test_the_admin_list_flags_break_glass_and_links_the_request(jit, client, alice):
    client.force_login(alice)
    page = client.get(reverse("admin:sessions_app_consolesession_changelist")).content.decode()
    assert "BREAK-GLASS" in page
    for key in ("approved", "glass"):
        url = request_admin_url(jit[key].pk)
        assert (f'href="{url}"' if url else f"#{jit[key].pk}") in page

    def listed(under):
        response = client.get(
            reverse("admin:sessions_app_consolesession_changelist"), {"under": under}
        )
        return {row.pk for row in response.context["cl"].result_list}

    assert listed("break_glass") == {jit["break_glass"].pk}
    assert listed("request") == {jit["under_request"].pk}
    assert listed("standing") == {jit["standing"].pk}


def test_the_admin_change_page_shows_reason_ticket_and_approvers(jit, client, alice):
    client.force_login(alice)

    def page(key):
        url = reverse("admin:sessions_app_consolesession_change", args=[jit[key].pk])
        response = client.get(url)
        assert response.status_code == 200
        return response.content.decode()

    under = page("under_request")
    assert 'class="fieldset-heading">Just-in-time access</h2>' in under
    assert "field-request_reason" in under and "field-request_approvers" in under
    url = request_admin_url(jit["approved"].pk)
    if url:
        assert f'href="{url}"' in under
    assert REASON in under and TICKET in under and "dana@example.com" in under
    assert "BREAK-GLASS" not in under

    glass = page("break_glass")
    assert "BREAK-GLASS" in glass and BREAK_GLASS_REASON in glass
    assert "nobody: break-glass" in glass

    standing = page("standing")
    assert "standing grant" in standing
    assert REASON not in standing and "BREAK-GLASS" not in standing


# --- The pages -----------------------------------------------------------------------------


def test_the_sessions_page_shows_the_request_and_flags_break_glass(jit, client, bob, carl, sam):
    client.force_login(bob)
    page = client.get("/sessions/").content.decode()
    assert f'href="{request_url(jit["approved"].pk)}">request #{jit["approved"].pk}</a>' in page
    assert REASON in page and f"ticket {TICKET}" in page
    assert "approved by dana@example.com" in page
    assert "Break-glass" not in page

    client.force_login(carl)
    page = client.get("/sessions/").content.decode()
    assert "Break-glass" in page and BREAK_GLASS_REASON in page
    assert f"request #{jit['glass'].pk}" in page

    client.force_login(sam)
    page = client.get("/sessions/").content.decode()
    assert "under " not in page and "Break-glass" not in page


def test_the_request_link_is_the_request_page(db):
    assert request_url(12).rstrip("/").endswith("/requests/12")


def test_the_table_costs_the_same_queries_for_3_jit_rows_or_30(db, dana):
    now = timezone.now()

    def sessions(n):
        made = []
        for _ in range(n):
            account, person = AccountFactory(), UserFactory()
            window = make_window(
                account,
                person,
                starts_at=now - timedelta(hours=1),
                ends_at=now,
                status=RequestStatus.ENDED,
                ended_at=now,
                approvers=(dana,),
            )
            made.append(
                ConsoleSessionFactory(user=person, account=account, access_request=window).pk
            )
        return ConsoleSession.objects.filter(pk__in=made).select_related(
            "account__resource__project"
        )

    def count(queryset):
        with CaptureQueriesContext(connection) as queries:
            rows = session_rows(queryset, show_account=True)
        assert all(r.approvers == "dana@example.com" and r.request_id for r in rows)
        return len(queries)

    assert count(sessions(3)) == count(sessions(30))


def test_a_reason_is_shown_as_text_never_markup(jit, client, alice, bob):
    AccessRequest.objects.filter(pk=jit["approved"].pk).update(
        reason='<script>alert("x")</script>', ticket="<b>T</b>"
    )
    client.force_login(bob)
    page = client.get("/sessions/").content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
    assert "<b>T</b>" not in page
    client.force_login(alice)
    url = reverse("admin:sessions_app_consolesession_change", args=[jit["under_request"].pk])
    page = client.get(url).content.decode()
    assert "<script>alert" not in page and "&lt;script&gt;" in page
