"""Expiry: the task scheduled for expires_at, and the sweep that catches up."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from sessions_app import services, tasks
from sessions_app.models import ConsoleSession, FailureStep, Status

from .celery_helpers import published
from .factories import ConsoleSessionFactory


def active_session(*, expires_at=None, **kwargs):
    """As activated: expires_at (AWS's) is written once, with the LiveSession row the
    sweep reads; an overdue session is made with its expiry in the past."""
    now = timezone.now()
    return ConsoleSessionFactory(
        status=Status.ACTIVE,
        activated_at=now,
        expires_at=expires_at or now + timedelta(minutes=30),
        **kwargs,
    )


def status_of(session):
    session.refresh_from_db()
    return session.status


def test_the_task_run_early_changes_nothing(db):
    session = active_session()
    assert tasks.expire_session.apply(args=[session.pk]).get() is False
    assert status_of(session) == Status.ACTIVE
    assert session.ended_at is None


def test_the_task_on_time_records_the_expiry(db):
    session = active_session()
    with time_machine.travel(session.expires_at):
        assert tasks.expire_session.apply(args=[session.pk]).get() is True
    assert status_of(session) == Status.EXPIRED
    assert session.ended_at == session.expires_at


def test_the_task_twice_records_once(db):
    session = active_session()
    with time_machine.travel(session.expires_at + timedelta(seconds=5)):
        first = tasks.expire_session.apply(args=[session.pk]).get()
        ended = ConsoleSession.objects.get(pk=session.pk).ended_at
        second = tasks.expire_session.apply(args=[session.pk]).get()
    assert (first, second) == (True, False)
    assert ConsoleSession.objects.get(pk=session.pk).ended_at == ended


@pytest.mark.parametrize("status", [Status.PENDING, Status.FAILED, Status.EXPIRED])
def test_the_task_leaves_sessions_that_are_not_active_alone(db, status):
    session = ConsoleSessionFactory(status=status, expires_at=timezone.now() - timedelta(hours=1))
    assert tasks.expire_session.apply(args=[session.pk]).get() is False
    assert status_of(session) == status


def test_the_task_for_a_missing_session_is_a_no_op(db):
    assert tasks.expire_session.apply(args=[987654]).get() is False


@pytest.mark.django_db(transaction=True)
def test_access_publishes_one_expiry_task_with_only_the_id_and_eta(client, federation, bob):
    from .factories import AccountFactory, GrantFactory

    account = AccountFactory()
    GrantFactory(account=account, user=bob)
    client.force_login(bob)
    with published() as messages:
        assert client.post(reverse("account-access", args=[account.pk])).status_code == 302

    session = ConsoleSession.objects.get()
    (message,) = messages
    args, kwargs, _ = message["body"]
    assert message["headers"]["task"] == "sessions_app.tasks.expire_session"
    assert (args, kwargs) == ([session.pk], {})
    assert message["headers"]["eta"] == session.expires_at.isoformat()
    # The task, fed what came out of JSON, does its job at that time.
    with time_machine.travel(session.expires_at):
        assert tasks.expire_session.apply(args=args, kwargs=kwargs).get() is True
    assert status_of(session) == Status.EXPIRED


def test_nothing_is_published_before_the_row_is_committed(client, federation, account, bob):
    """Inside a transaction (as in this test) the expiry waits for the commit."""
    client.force_login(bob)
    with published() as messages:
        client.post(reverse("account-access", args=[account.pk]))
    assert messages == []


def test_the_sweep_catches_up_on_overdue_expiries_and_crashed_requests(db):
    now = timezone.now()
    overdue = active_session(expires_at=now - timedelta(seconds=1))
    running = active_session()
    crashed = ConsoleSessionFactory(status=Status.PENDING, created_at=now - timedelta(minutes=6))
    in_flight = ConsoleSessionFactory(status=Status.PENDING, created_at=now - timedelta(seconds=30))
    failed = ConsoleSessionFactory(
        status=Status.FAILED, expires_at=now - timedelta(hours=1), failure_step="target_role"
    )

    assert tasks.sweep_sessions.apply().get() == {
        "expired": 1,
        "abandoned": 1,
        "revocation_roles": 0,
    }

    assert status_of(overdue) == Status.EXPIRED
    assert status_of(running) == Status.ACTIVE
    assert status_of(crashed) == Status.FAILED
    assert (crashed.failure_step, crashed.error_code) == (FailureStep.ABANDONED, "Abandoned")
    assert status_of(in_flight) == Status.PENDING
    assert status_of(failed) == Status.FAILED and failed.failure_step == "target_role"
    # Twice: nothing left to do.
    assert tasks.sweep_sessions.apply().get() == {
        "expired": 0,
        "abandoned": 0,
        "revocation_roles": 0,
    }


def test_the_sweep_works_in_bounded_batches(db, settings):
    settings.PAM_SWEEP_BATCH_SIZE = 3
    past = timezone.now() - timedelta(minutes=1)
    for _ in range(7):
        active_session(expires_at=past)

    with CaptureQueriesContext(connection) as queries:
        result = services.sessions_sweep()

    assert result.expired == 7
    assert not ConsoleSession.objects.filter(status=Status.ACTIVE).exists()
    updates = [q["sql"] for q in queries if q["sql"].startswith("UPDATE")]
    assert len(updates) == 3  # 3 + 3 + 1 rows, never all at once
