"""History for ops in the admin (at scale), as CSV, and from the command line."""

from __future__ import annotations

import csv
import io
import json
import re
from datetime import UTC, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from django.db.models.query import QuerySet
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app.admin import CappedCountPaginator
from sessions_app.models import ConsoleSession, Status

from .factories import AccountFactory, ConsoleSessionFactory, UserFactory


@pytest.fixture
def admin_client(client, alice):
    client.force_login(alice)
    return client


@pytest.fixture
def history(db):
    now = timezone.now()
    readonly = AccountFactory(name="readonly")
    admin_acct = AccountFactory(name="admin")
    ann = UserFactory(email="ann@example.com")
    ben = UserFactory(email="ben@example.com")
    made = {
        "ann_ok": ConsoleSessionFactory(
            user=ann,
            account=readonly,
            status=Status.EXPIRED,
            created_at=now - timedelta(hours=3),
            access_key_id="ASIAANNKEY0000000001",
            role_session_name="ann@example.com",
            assumed_role_arn="arn:aws:sts::111122223333:assumed-role/pam-readonly/ann@example.com",
        ),
        "ann_failed": ConsoleSessionFactory(
            user=ann,
            account=admin_acct,
            status=Status.FAILED,
            failure_step="target_role",
            error_code="AccessDenied",
            created_at=now - timedelta(hours=2),
        ),
        "ben_active": ConsoleSessionFactory(
            user=ben,
            account=admin_acct,
            status=Status.ACTIVE,
            created_at=now - timedelta(minutes=5),
            user_agent='=HYPERLINK("http://evil")',
            access_key_id="ASIABENKEY0000000002",
        ),
    }
    return {"readonly": readonly, "admin": admin_acct, **made}


def listed_ids(response):
    assert response.status_code == 200
    return {row.pk for row in response.context["cl"].result_list}


CHANGELIST = "admin:sessions_app_consolesession_changelist"


def test_the_changelist_filters_by_status_project_resource_account_and_user(admin_client, history):
    url = reverse(CHANGELIST)
    admin_acct = history["admin"]
    assert listed_ids(admin_client.get(url, {"status__exact": "failed"})) == {
        history["ann_failed"].pk
    }
    assert listed_ids(admin_client.get(url, {"account__id__exact": admin_acct.pk})) == {
        history["ann_failed"].pk,
        history["ben_active"].pk,
    }
    assert listed_ids(
        admin_client.get(
            url, {"account__resource__project__id__exact": admin_acct.resource.project_id}
        )
    ) == {history["ann_failed"].pk, history["ben_active"].pk}
    assert listed_ids(
        admin_client.get(url, {"account__resource__id__exact": admin_acct.resource_id})
    ) == {
        history["ann_failed"].pk,
        history["ben_active"].pk,
    }
    assert listed_ids(admin_client.get(url, {"user_email": "ANN@example.com"})) == {
        history["ann_ok"].pk,
        history["ann_failed"].pk,
    }


@pytest.mark.parametrize(
    ("term", "expected"),
    [
        ("ann@", {"ann_ok", "ann_failed"}),
        ("asiaben", {"ben_active"}),
        ("arn:aws:sts::111122223333:assumed-role/pam-readonly", {"ann_ok"}),
        ("nobody", set()),
    ],
)
def test_search_matches_starts_of_email_session_name_key_and_arn(
    admin_client, history, term, expected
):
    response = admin_client.get(reverse(CHANGELIST), {"q": term})
    assert listed_ids(response) == {history[k].pk for k in expected}


def test_the_changelist_never_counts_the_whole_table(admin_client, history, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 2)
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(CHANGELIST))
    assert response.status_code == 200
    assert "over 2 console sessions" in response.content.decode()
    counts = [
        q["sql"]
        for q in queries
        if "COUNT(" in q["sql"].upper() and "sessions_app_consolesession" in q["sql"]
    ]
    assert counts and all("LIMIT" in sql.upper() for sql in counts), counts


def test_the_date_drill_down_and_filters_cost_a_fixed_few_queries(admin_client, history):
    """No DISTINCT over the history for the date links, and the filter choices in one
    query each however many accounts there are."""
    for n in range(5):
        AccountFactory(name=f"extra-{n}")
    ConsoleSessionFactory(
        account=history["readonly"], created_at=timezone.now() - timedelta(days=40)
    )
    with CaptureQueriesContext(connection) as queries:
        response = admin_client.get(reverse(CHANGELIST))
    page = response.content.decode()
    assert response.status_code == 200
    assert not [q for q in queries if "DISTINCT" in q["sql"].upper()]
    on_accounts = [q for q in queries if 'FROM "accounts_pamaccount"' in q["sql"]]
    assert len(on_accounts) == 1, [q["sql"][:120] for q in on_accounts]
    # Links for the months between the first and the last session, as Django's own.
    now, before = timezone.now(), timezone.now() - timedelta(days=40)
    if now.year == before.year:
        assert f"created_at__month={now.month}" in page
        assert f"created_at__month={before.month}" in page
    else:
        assert f"created_at__year={before.year}" in page

    ben = history["ben_active"].created_at
    month = admin_client.get(
        reverse(CHANGELIST), {"created_at__year": ben.year, "created_at__month": ben.month}
    ).content.decode()
    assert f"created_at__day={ben.day}" in month
    assert listed_ids_text(month) >= {history["ben_active"].pk}


@pytest.mark.parametrize("with_rows", [False, True])
@pytest.mark.parametrize(
    "query",
    [
        "created_at__month=5",
        "created_at__day=3",
        "created_at__month=5&created_at__day=3",
        "created_at__year=abc",
        "created_at__year=2026&created_at__month=13",
        "created_at__year=2026&created_at__month=2&created_at__day=31",
    ],
)
def test_a_hand_edited_date_drill_down_is_never_a_500(admin_client, db, with_rows, query):
    if with_rows:
        ConsoleSessionFactory()
    response = admin_client.get(f"{reverse(CHANGELIST)}?{query}")
    # Django answers a date it cannot read by redirecting with ?e=1.
    assert response.status_code in (200, 302), response.status_code


@pytest.mark.parametrize(
    "query", ["user_email=a%00b", "status__exact=%00", "q=ASIA%00", "created_at__year=0"]
)
def test_unusable_list_parameters_get_djangos_error_page_not_a_500(admin_client, db, query):
    """PostgreSQL refuses NUL in text; Django's own checks refuse the rest. The list and
    its CSV export both send such a URL to the list's "?e=1" page."""
    ConsoleSessionFactory(user_email="a@example.com")
    for url in (reverse(CHANGELIST), reverse("admin:sessions_app_consolesession_export")):
        response = admin_client.get(f"{url}?{query}")
        assert response.status_code == 302, (url, response.status_code)
        assert response["Location"].endswith(f"{reverse(CHANGELIST)}?e=1")


def listed_ids_text(page):
    return {int(n) for n in re.findall(r'name="_selected_action" value="(\d+)"', page)}


def read_csv(response):
    assert response.streaming
    body = b"".join(response.streaming_content).decode()
    return list(csv.DictReader(io.StringIO(body)))


def test_the_changelist_link_exports_the_current_filter_as_streamed_csv(admin_client, history):
    page = admin_client.get(reverse(CHANGELIST), {"status__exact": "active"}).content.decode()
    assert 'export.csv?status__exact=active"' in page

    response = admin_client.get(
        reverse("admin:sessions_app_consolesession_export"), {"status__exact": "active"}
    )
    assert response["Content-Type"] == "text/csv"
    assert "attachment" in response["Content-Disposition"]
    (row,) = read_csv(response)
    ben = history["ben_active"]
    assert (row["id"], row["user_email"], row["account"], row["status"]) == (
        str(ben.pk),
        "ben@example.com",
        "admin",
        "active",
    )
    assert row["project"] == ben.account.resource.project.name
    # A user agent is attacker-controlled: it must not become a spreadsheet formula.
    assert row["user_agent"] == '\'=HYPERLINK("http://evil")'


def test_the_admin_action_exports_the_selected_rows(admin_client, history):
    response = admin_client.post(
        reverse(CHANGELIST),
        {
            "action": "export_csv",
            "_selected_action": [history["ann_ok"].pk, history["ben_active"].pk],
        },
    )
    assert {r["id"] for r in read_csv(response)} == {
        str(history["ann_ok"].pk),
        str(history["ben_active"].pk),
    }


def test_staff_without_the_view_permission_cannot_export(client, history):
    staff = UserFactory(is_staff=True)
    client.force_login(staff)
    assert client.get(reverse("admin:sessions_app_consolesession_export")).status_code == 403


def forbid_materializing(monkeypatch):
    """Loading every matching session into memory (an unsliced list()) fails the test;
    reading one page, or streaming with iterator(), does not."""
    real = QuerySet._fetch_all

    def guarded(self):
        if self.model is ConsoleSession and self.query.high_mark is None:
            raise AssertionError("the export loaded the whole queryset into memory")
        return real(self)

    monkeypatch.setattr(QuerySet, "_fetch_all", guarded)


@pytest.mark.parametrize("extra_rows", [0, 2500])
def test_the_export_streams_in_chunks_with_the_same_queries_at_any_size(
    admin_client, history, monkeypatch, extra_rows
):
    account = history["readonly"]
    ConsoleSession.objects.bulk_create(
        [
            ConsoleSession(
                user_email=f"u{i}@example.com",
                account=account,
                target_role_arn="x",
                resource_role_arn="y",
                role_session_name="z",
                duration_seconds=900,
            )
            for i in range(extra_rows)
        ]
    )
    forbid_materializing(monkeypatch)
    response = admin_client.get(reverse("admin:sessions_app_consolesession_export"))
    with CaptureQueriesContext(connection) as queries:
        exported = read_csv(response)
    assert len(exported) == 3 + extra_rows
    # One query (a server-side cursor read in chunks), however many rows.
    assert len([q for q in queries if "sessions_app_consolesession" in q["sql"]]) == 1


# --- The command line --------------------------------------------------------------


def run(*args):
    out = io.StringIO()
    call_command("sessions", *args, stdout=out)
    return out.getvalue()


def test_the_command_lists_a_table_newest_first(history):
    lines = run().splitlines()
    assert lines[0].split()[:3] == ["id", "created_at", "user_email"]
    assert [line.split()[0] for line in lines[1:]] == [
        str(history[k].pk) for k in ("ben_active", "ann_failed", "ann_ok")
    ]


def test_the_command_filters_and_writes_csv_and_json(history):
    rows = list(csv.DictReader(io.StringIO(run("--user", "ann@example.com", "--format", "csv"))))
    assert {r["id"] for r in rows} == {str(history["ann_ok"].pk), str(history["ann_failed"].pk)}

    data = json.loads(run("--status", "failed", "--format", "json"))
    assert [(d["id"], d["error_code"]) for d in data] == [
        (history["ann_failed"].pk, "AccessDenied")
    ]

    assert json.loads(run("--since", "1h", "--format", "json"))[0]["id"] == history["ben_active"].pk
    assert (
        json.loads(run("--account", "readonly", "--format", "json"))[0]["id"]
        == history["ann_ok"].pk
    )
    project = history["admin"].resource.project
    assert len(json.loads(run("--project", project.name, "--format", "json"))) == 2
    assert json.loads(run("--until", "24h", "--format", "json")) == []
    assert len(json.loads(run("--limit", "1", "--format", "json"))) == 1


def test_the_command_answers_who_held_access_at_a_moment(history):
    ben = history["ben_active"]
    ConsoleSession.objects.filter(pk=ben.pk).update(
        activated_at=timezone.now() - timedelta(minutes=4),
        expires_at=timezone.now() + timedelta(minutes=20),
    )
    data = json.loads(
        run("--active-at", "now", "--account", str(history["admin"].pk), "--format", "json")
    )
    assert [d["user_email"] for d in data] == ["ben@example.com"]


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--since", "yesterday"], "--since"),
        (["--status", "asleep"], "--status"),
        (["--account", "no-such-account"], "--account"),
        (["--active-at", "2026-99-01"], "--active-at"),
        (["--limit", "0"], "--limit"),
    ],
)
def test_the_command_rejects_bad_arguments_naming_them(history, args, says):
    with pytest.raises(CommandError, match=says):
        run(*args)


def test_the_command_streams(history, monkeypatch):
    forbid_materializing(monkeypatch)
    assert len(run("--format", "csv").splitlines()) == 4


def test_postgresql_copy_writes_the_same_csv_as_the_python_writer(history):
    """The export is written by COPY on PostgreSQL and by the csv module elsewhere: the
    same rows must give the same bytes, awkward values included."""
    from sessions_app import exports

    if connection.vendor != "postgresql":
        pytest.skip("the COPY writer exists only on PostgreSQL")
    ConsoleSessionFactory(
        account=history["readonly"],
        user_email="zoë+ops@example.com",
        status=Status.FAILED,
        error_code="",
        error_message='quote " comma , newline\nand a \r return',
        user_agent="-2+3",
        client_ip="2001:db8::1",
        created_at=timezone.now().replace(microsecond=0),
        activated_at=None,
    )
    ConsoleSessionFactory(account=history["readonly"], user_agent="@SUM(A1)", client_ip=None)
    ConsoleSessionFactory(
        account=history["readonly"], created_at=timezone.now().replace(microsecond=500000)
    )
    queryset = ConsoleSession.objects.order_by("-created_at", "-id")

    by_copy = b"".join(exports.csv_stream(queryset)).decode()
    by_python = "".join(exports.csv_lines(exports.rows(queryset)))

    assert by_copy == by_python
    records = list(csv.DictReader(io.StringIO(by_copy)))
    assert len(records) == ConsoleSession.objects.count()
    odd = next(r for r in records if r["user_email"] == "zoë+ops@example.com")
    assert odd["user_agent"] == "'-2+3"
    assert odd["error_message"] == 'quote " comma , newline\nand a \r return'
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", odd["created_at"])
    assert odd["activated_at"] == "" and odd["error_code"] == ""
    assert any(r["user_agent"] == "'@SUM(A1)" for r in records)
    assert any(r["created_at"].endswith(".5+00:00") for r in records)


def test_an_export_of_a_selection_known_to_be_empty_is_its_header(db):
    """Django compiles `pk__in=[]` (a scope with no project in it) to no SQL at all: the
    export is the header, not a 500."""
    from sessions_app.exports import HEADERS, csv_stream

    ConsoleSessionFactory()
    lines = b"".join(
        chunk if isinstance(chunk, bytes) else chunk.encode()
        for chunk in csv_stream(ConsoleSession.objects.filter(pk__in=[]))
    ).splitlines()
    assert lines == [",".join(HEADERS).encode()]


def test_the_command_table_names_its_database_and_each_accounts_project(history):
    out, err = io.StringIO(), io.StringIO()
    call_command("sessions", stdout=out, stderr=err)
    # Which database was read (the demo's is not the default one), on stderr only.
    assert err.getvalue().startswith("Reading ") and "Reading" not in out.getvalue()
    line = next(
        ln for ln in out.getvalue().splitlines() if ln.startswith(str(history["ann_ok"].pk))
    )
    session = history["ann_ok"]
    assert f"{session.account.resource.project.name} / {session.account.name}" in line
    # Times to the second, in UTC, marked as such: never cut inside the fraction.
    stamp = session.created_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
    assert stamp in line
