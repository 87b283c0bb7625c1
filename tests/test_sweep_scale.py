"""The expiry at scale: an active session has a LiveSession row, written with its
activation; the sweep finds due expiries there; an expiry is a heap-only (HOT) update on
PostgreSQL, writing no index entry; the status filters of the history read indexes
that hold no status, and find exactly what a plain `status = x` finds.

The figures (100,000 due expiries at a million rows) are bench/history.py's."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from io import StringIO

import pytest
import time_machine
from django.core.management import call_command
from django.db import IntegrityError, connection, transaction
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from sessions_app import revocation, services, tasks
from sessions_app.models import ConsoleSession, FailureStep, LiveSession, Status

from .factories import AccountFactory, GrantFactory, UserFactory
from .test_revocation import access
from .test_revocation import live as live  # the fixture: two active sessions, in moto
from .test_revocation import target as target  # the fixture: the Target Role in moto

postgresql_only = pytest.mark.skipif(
    "connection.vendor != 'postgresql'", reason="HOT updates and plans are PostgreSQL's"
)


def start(account, user):
    return services.session_start(
        user=user,
        account=account,
        role_session_name=user.email,
        client_ip="198.51.100.7",
        user_agent="Mozilla/5.0 (X11; Linux x86_64) Chrome/130.0",
    )


def activate(session, expires_at):
    return services.session_activate(
        session=session,
        expires_at=expires_at,
        assumed_role_arn=f"arn:aws:sts::111122223333:assumed-role/pam-readonly/{session.user_email}",
        access_key_id="ASIAEXAMPLE000000001",
        assumed_role_id=f"AROAEXAMPLEROLEID0001:{session.user_email}",
    )


def live_ids():
    return set(LiveSession.objects.values_list("session_id", flat=True))


# --- LiveSession: written with the activation, removed with the expiry ---------------


def test_an_activation_writes_the_live_row_with_the_aws_expiry(db, bob):
    account = AccountFactory()
    expires = timezone.now().replace(microsecond=0) + timedelta(minutes=30)
    session = start(account, bob)
    assert live_ids() == set()  # pending: nothing to expire yet

    assert activate(session, expires) is True
    assert LiveSession.objects.get(session=session).expires_at == expires
    # Twice, or after the sweep failed the row: nothing more is written.
    assert activate(session, expires) is False
    failed = start(account, bob)
    services.session_fail(session=failed, step=FailureStep.TARGET_ROLE, code="X", message="x")
    assert activate(failed, expires) is False
    assert live_ids() == {session.pk}


@pytest.mark.django_db(transaction=True)
def test_an_activation_whose_live_row_cannot_be_written_is_not_recorded():
    """Never an active session without its LiveSession row: it would never be swept.
    (A row already there for this session makes the write fail.) In autocommit, as
    Access runs: nothing of the activation may be committed on its own."""
    session = start(AccountFactory(), UserFactory())
    LiveSession.objects.create(session=session, expires_at=None)

    with pytest.raises(IntegrityError):
        activate(session, timezone.now() + timedelta(minutes=30))
    session.refresh_from_db()
    assert (session.status, session.activated_at) == (Status.PENDING, None)


def test_the_task_and_the_sweep_remove_the_live_rows_they_expire(db, bob):
    account = AccountFactory()
    now = timezone.now()
    by_task, by_sweep, running = (start(account, bob) for _ in range(3))
    activate(by_task, now + timedelta(minutes=15))
    activate(by_sweep, now + timedelta(minutes=15))
    activate(running, now + timedelta(minutes=60))

    # Early: nothing changes, nothing is removed.
    assert tasks.expire_session.apply(args=[by_task.pk]).get() is False
    assert services.sessions_sweep().expired == 0
    assert live_ids() == {by_task.pk, by_sweep.pk, running.pk}

    with time_machine.travel(now + timedelta(minutes=16)):
        assert tasks.expire_session.apply(args=[by_task.pk]).get() is True
        assert live_ids() == {by_sweep.pk, running.pk}
        assert services.sessions_sweep().expired == 1
        assert services.sessions_sweep().expired == 0  # twice: nothing left
    assert live_ids() == {running.pk}
    statuses = dict(ConsoleSession.objects.values_list("pk", "status"))
    assert statuses == {
        by_task.pk: Status.EXPIRED,
        by_sweep.pk: Status.EXPIRED,
        running.pk: Status.ACTIVE,
    }


def test_a_revoked_sessions_live_row_goes_at_its_expiry_and_it_stays_revoked(live, alice):
    _, (una, vic) = live
    revocation.session_revoke(session=una, actor=alice, reason="incident")
    assert una.status == Status.REVOKED
    # The revocation leaves the row ("maybe active"); active filters check the session.
    assert live_ids() == {una.pk, vic.pk}
    assert set(ConsoleSession.objects.active().values_list("pk", flat=True)) == {vic.pk}

    with time_machine.travel(max(una.expires_at, vic.expires_at) + timedelta(seconds=1)):
        assert services.sessions_sweep().expired == 1  # vic's
    una.refresh_from_db()
    assert una.status == Status.REVOKED and una.revoke_reason == "incident"
    assert live_ids() == set()


# --- HOT: an expiry writes no index entry ----------------------------------------------


def updates_of_sessions():
    """(row updates, of which heap-only) on the session table in this transaction."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT n_tup_upd, n_tup_hot_upd FROM pg_stat_xact_user_tables "
            "WHERE relname = 'sessions_app_consolesession'"
        )
        return cursor.fetchone()


@postgresql_only
@pytest.mark.django_db(transaction=True)
def test_an_outage_sweep_rewrites_every_row_of_its_pages_without_an_index_entry():
    """150 sessions, each started and activated as Access does (committed one by one,
    as in production), all overdue at once as after a day without workers: the sweep
    rewrites every row of their pages in one go, and each is a heap-only update, which
    needs both no indexed column changed (status is in no index, nor in any index's
    WHERE) and room on the row's own page for its new version (the fillfactor)."""
    accounts = [AccountFactory(), AccountFactory()]
    people = [UserFactory() for _ in range(5)]
    expires = timezone.now() + timedelta(minutes=15)
    for n in range(150):
        activate(start(accounts[n % 2], people[n % 5]), expires)

    with time_machine.travel(expires + timedelta(minutes=1)), transaction.atomic():
        before = updates_of_sessions()
        result = services.sessions_sweep()
        after = updates_of_sessions()
        one = start(accounts[0], people[0])
        activate(one, timezone.now() - timedelta(seconds=1))
        middle = updates_of_sessions()
        assert services.session_expire(session_id=one.pk) is True
        last = updates_of_sessions()

    assert result.expired == 150
    assert (after[0] - before[0], after[1] - before[1]) == (150, 150)
    # The expiry task's UPDATE too.
    assert (last[0] - middle[0], last[1] - middle[1]) == (1, 1)


# --- Status filters ---------------------------------------------------------------------


@pytest.fixture
def every_status(live, alice):
    """A session in each status, each through the services that write it."""
    account, (una, vic) = live
    revocation.session_revoke(session=una, actor=alice, reason="incident")
    wes = UserFactory(username="wes")
    GrantFactory(account=account, user=wes)
    pending = start(account, wes)
    failed = start(account, wes)
    services.session_fail(session=failed, step=FailureStep.FEDERATION, code="Timeout", message="")
    ended = access(account, wes)
    with time_machine.travel(ended.expires_at + timedelta(seconds=1)):
        services.session_expire(session_id=ended.pk)
    sessions = {
        Status.PENDING: pending,
        Status.ACTIVE: vic,
        Status.EXPIRED: ended,
        Status.FAILED: failed,
        Status.REVOKED: una,
    }
    for status, session in sessions.items():
        session.refresh_from_db()
        assert session.status == status
    return account, sessions


@pytest.mark.parametrize("status", Status.values)
def test_each_status_filter_lists_exactly_the_sessions_of_that_status(
    every_status, admin_client, alice, status
):
    account, sessions = every_status
    expected = {sessions[status].pk}
    assert set(ConsoleSession.objects.filter(status=status).values_list("pk", flat=True)) == (
        expected
    )

    api = APIClient()
    api.force_login(alice)  # a superuser: every session
    answer = api.get("/api/v1/sessions/", {"status": status, "account": account.pk})
    assert answer.status_code == 200
    assert {row["id"] for row in answer.json()["results"]} == expected

    page = admin_client.get(
        reverse("admin:sessions_app_consolesession_changelist"), {"status__exact": status}
    )
    assert page.status_code == 200
    listed = set(map(int, re.findall(r'name="_selected_action" value="(\d+)"', page.text)))
    assert listed == expected

    out = StringIO()
    call_command("sessions", "--status", status, "--format", "json", stdout=out)
    assert {row["id"] for row in json.loads(out.getvalue())} == expected


@postgresql_only
@pytest.mark.parametrize(
    ("status", "read"),
    [
        (Status.PENDING, "session_pending_idx"),
        (Status.FAILED, "session_account_failed_idx"),
        (Status.REVOKED, "session_revoked_idx"),
        (Status.ACTIVE, "sessions_app_livesession"),
    ],
)
def test_each_rare_status_filter_reads_its_index_not_the_history(every_status, status, read):
    """What the filter adds to `status = x` must match the partial index's WHERE for the
    database to use it; else it would walk an account's (or all) history row by row.
    (bench/history.py shows the plans at a million rows.)"""
    query = ConsoleSession.objects.with_status(status).order_by().values("pk")
    sql, params = query.query.sql_with_params()
    with connection.cursor() as cursor:
        # A handful of rows: reading the table is cheapest unless it is ruled out; then
        # the smallest index that can answer wins, the partial one if it can.
        cursor.execute("SET LOCAL enable_seqscan = off")
        cursor.execute("EXPLAIN " + sql, params)
        plan = "\n".join(row[0] for row in cursor.fetchall())
    assert read in plan, plan
