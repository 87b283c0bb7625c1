"""Refusals past the rate limit are recorded without flooding the history (issue 16):
one row per user and minute, counting them (`refused_count`), seen by the pages, the
API, the CSV export and the admin; the limit itself is unchanged."""

from __future__ import annotations

import csv
import io
import re
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from django.db import connection
from django.db.models import Sum
from django.urls import reverse
from rest_framework.test import APIClient

from sessions_app import exports
from sessions_app.access import AccessFailed, account_access
from sessions_app.models import ConsoleSession, FailureStep, Status

from .factories import ConsoleSessionFactory, GrantFactory

# Five seconds into a minute, so a test's attempts all fall in that minute.
T0 = datetime(2030, 1, 7, 9, 0, 5, tzinfo=UTC)


def attempt(user, account) -> AccessFailed:
    """One Access by `user` that the rate limit refuses (no AWS call is reached)."""
    with pytest.raises(AccessFailed) as refused:
        account_access(
            account=account,
            user=user,
            client_ip="198.51.100.7",
            user_agent="flood/1.0",
            issuer="https://pam.example.test/",
        )
    assert (refused.value.step, refused.value.code) == (FailureStep.RATE_LIMITED, "TooManyRequests")
    return refused.value


def refusals(user=None):
    rows = ConsoleSession.objects.filter(failure_step=FailureStep.RATE_LIMITED)
    return rows.filter(user=user) if user else rows


def test_a_flood_of_refused_attempts_is_one_row_counting_them(federation, account, bob, settings):
    settings.PAM_ACCESS_RATE = (3, 60)
    web = APIClient()
    access = reverse("account-access", args=[account.pk])
    with time_machine.travel(T0, tick=True):
        web.force_login(bob)  # here: a session started in the real now would be over
        assert [web.post(access).status_code for _ in range(3)] == [302] * 3

        pages = [web.post(access) for _ in range(20)]
        answers = [web.post(f"/api/v1/accounts/{account.pk}/access/") for _ in range(20)]

    # Each refusal answers as it did when each wrote its own row.
    for page in pages:
        assert page.status_code == 429
        assert "Too many Access attempts" in page.content.decode()
        assert 1 <= int(page["Retry-After"]) <= 60
    for answer in answers:
        assert answer.status_code == 429
        assert 1 <= int(answer["Retry-After"]) <= 60
        body = answer.json()
        assert (body["step"], body["code"]) == ("rate_limited", "TooManyRequests")
        assert body["message"].startswith("More than 3 Access attempts in a minute; try again in")
        assert body["checks"]

    # 40 refusals, one row: the first refusal's, counting all of them.
    (row,) = refusals()
    assert row.refused_count == 40
    assert (row.status, row.error_code, row.user_id) == (Status.FAILED, "TooManyRequests", bob.pk)
    assert row.created_at <= row.ended_at  # from the first refusal to the last
    assert {answer.json()["session_id"] for answer in answers} == {row.pk}
    assert ConsoleSession.objects.count() == 4  # 3 active + 1 refusal row
    assert not ConsoleSession.objects.filter(status=Status.PENDING).exists()
    # Summed over rows, refused_count is the number of attempts.
    assert ConsoleSession.objects.aggregate(n=Sum("refused_count"))["n"] == 43
    assert len(federation.calls) == 3  # refusals make no AWS call

    # The refusals did not extend the limit: once the successes are a minute old,
    # Access works again.
    later = ConsoleSession.objects.filter(status=Status.ACTIVE).latest("created_at").created_at
    with time_machine.travel(later + timedelta(seconds=61)):
        assert web.post(access).status_code == 302


def test_each_minute_starts_a_new_row(account, bob, settings):
    settings.PAM_ACCESS_RATE = (1, 3600)  # one an hour: refused for the whole test
    with time_machine.travel(T0 - timedelta(minutes=1)):
        ConsoleSessionFactory(user=bob, account=account, status=Status.EXPIRED)
    for at, times in (
        (T0, 3),
        (T0 + timedelta(seconds=54.9), 1),  # 09:00:59.9: still the first minute
        (T0 + timedelta(seconds=55), 2),  # 09:01:00
        (T0 + timedelta(minutes=5), 1),
    ):
        with time_machine.travel(at):
            for _ in range(times):
                attempt(bob, account)

    rows = list(refusals().order_by("created_at"))
    assert [(r.created_at.minute, r.refused_count) for r in rows] == [(0, 4), (1, 2), (5, 1)]
    assert ConsoleSession.objects.count() == 4


def test_each_user_has_their_own_row_whatever_the_account(account, bob, charlie, settings):
    settings.PAM_ACCESS_RATE = (0, 60)  # every attempt refused
    GrantFactory(account=account, user=charlie)
    other = GrantFactory(user=bob).account
    with time_machine.travel(T0):
        for user, on in [(bob, account), (charlie, account), (bob, other), (bob, account)]:
            attempt(user, on)

    assert refusals(bob).get().refused_count == 3  # per user and minute, not per account
    assert refusals(charlie).get().refused_count == 1
    assert ConsoleSession.objects.count() == 2


def test_the_limit_still_counts_every_attempt_that_was_not_refused(account, bob, settings):
    """Refusals are recorded differently, not counted differently: the limit holds."""
    settings.PAM_ACCESS_RATE = (2, 60)
    with time_machine.travel(T0):
        ConsoleSessionFactory.create_batch(2, user=bob, account=account, status=Status.ACTIVE)
        for _ in range(3):
            attempt(bob, account)
    with time_machine.travel(T0 + timedelta(seconds=54)):
        attempt(bob, account)  # the two successes still count, 54 s later
    assert refusals(bob).get().refused_count == 4


def test_the_history_shows_the_count(admin_client, account, bob, settings):
    settings.PAM_ACCESS_RATE = (0, 60)
    with time_machine.travel(T0):
        for _ in range(5):
            attempt(bob, account)
        api = APIClient()
        api.force_login(bob)
    row = refusals(bob).get()

    (listed,) = api.get("/api/v1/sessions/").json()["results"]
    assert (listed["id"], listed["refused_count"]) == (row.pk, 5)

    # The CSV export, both ways it is written (COPY on PostgreSQL, Python elsewhere).
    queryset = ConsoleSession.objects.all()
    streamed = exports.csv_stream(queryset)
    by_copy = "".join(p.decode() if isinstance(p, bytes) else p for p in streamed)
    by_python = "".join(exports.csv_lines(exports.rows(queryset)))
    assert by_copy == by_python
    (exported,) = csv.DictReader(io.StringIO(by_copy))
    assert exported["refused_count"] == "5"

    change = admin_client.get(reverse("admin:sessions_app_consolesession_change", args=[row.pk]))
    assert change.status_code == 200
    shown = re.search(
        r'field-refused_count.*?<div class="readonly">(\d+)</div>', change.content.decode(), re.S
    )
    assert shown and shown[1] == "5"


def test_the_sessions_page_shows_the_count(client, account, bob, settings):
    settings.PAM_ACCESS_RATE = (0, 60)
    with time_machine.travel(T0):
        for _ in range(5):
            attempt(bob, account)
    client.force_login(bob)
    assert "5 attempts" in client.get(reverse("session-list")).content.decode()


@pytest.mark.django_db(transaction=True)
def test_concurrent_refusals_share_one_row_on_postgresql(account, bob, settings):
    """Threads, each with its own connection, refused at once: no two first refusals of
    the minute both become its row, and no increment is lost."""
    assert connection.vendor == "postgresql"
    settings.PAM_ACCESS_RATE = (0, 60)
    threads, each = 8, 6
    barrier = threading.Barrier(threads)

    def flood(_: int) -> list[int]:
        try:
            barrier.wait()
            return [attempt(bob, account).session.pk for _ in range(each)]
        finally:
            connection.close()

    with time_machine.travel(T0, tick=True), ThreadPoolExecutor(threads) as pool:
        answered = [pk for pks in pool.map(flood, range(threads), timeout=60) for pk in pks]

    row = refusals(bob).get()
    assert row.refused_count == threads * each
    assert Counter(answered) == {row.pk: threads * each}
    assert ConsoleSession.objects.count() == 1
