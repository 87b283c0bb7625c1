"""Celery against real brokers: a worker on the local Redis records an expiry, and a
broken broker never fails or stalls Access (the sweep catches up)."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
import time_machine
from celery.contrib.testing.worker import start_worker
from django.urls import reverse
from django.utils import timezone

from pam_project import celery_app
from pam_project.brokers import REDIS_VISIBILITY_TIMEOUT
from sessions_app import scheduling, tasks
from sessions_app.models import ConsoleSession, Status

from .celery_helpers import broker, refused_broker, require_redis, silent_broker
from .factories import AccountFactory, ConsoleSessionFactory, GrantFactory

ACCESS_BUDGET_SECONDS = 2.0


@pytest.fixture
def granted(bob):
    account = AccountFactory()
    GrantFactory(account=account, user=bob)
    return account


def test_redis_visibility_timeout_outlasts_the_longest_expiry_eta():
    from pam_project.durations import MAX_SECONDS

    assert REDIS_VISIBILITY_TIMEOUT > MAX_SECONDS


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_on_redis_records_the_expiry_at_its_eta():
    url = require_redis()
    now = timezone.now()
    session = ConsoleSessionFactory(
        status=Status.ACTIVE, activated_at=now, expires_at=now + timedelta(seconds=2)
    )
    with broker(url):
        assert scheduling.schedule_expiry(session.pk, session.expires_at) is True
        with start_worker(
            celery_app,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=10,
            loglevel="WARNING",
        ):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                session.refresh_from_db()
                if session.status == Status.EXPIRED:
                    break
                time.sleep(0.2)
    assert session.status == Status.EXPIRED
    # Recorded at its ETA, not before.
    assert session.ended_at >= session.expires_at


def access_timed(client, account):
    started = time.monotonic()
    response = client.post(reverse("account-access", args=[account.pk]))
    return response, time.monotonic() - started


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("fault", ["refused", "silent-accepting", "silent-backlog"])
def test_access_succeeds_fast_with_a_broken_broker_and_the_sweep_catches_up(
    client, federation, bob, granted, fault, caplog
):
    client.force_login(bob)
    if fault == "refused":
        url_context = broker(refused_broker())
    else:
        silent = silent_broker(accept=fault == "silent-accepting")
        url_context = broker(silent.__enter__())
    with url_context:
        first, first_seconds = access_timed(client, granted)
        second, second_seconds = access_timed(client, granted)
    if fault != "refused":
        silent.__exit__(None, None, None)

    assert (first.status_code, second.status_code) == (302, 302)
    assert first_seconds < ACCESS_BUDGET_SECONDS, first_seconds
    assert second_seconds < ACCESS_BUDGET_SECONDS, second_seconds
    assert "Could not schedule expiry" in caplog.text
    sessions = list(ConsoleSession.objects.all())
    assert [s.status for s in sessions] == [Status.ACTIVE, Status.ACTIVE]

    with time_machine.travel(max(s.expires_at for s in sessions) + timedelta(seconds=1)):
        assert tasks.sweep_sessions.apply().get()["expired"] == 2
    assert set(ConsoleSession.objects.values_list("status", flat=True)) == {Status.EXPIRED}


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_access_publishes_to_a_healthy_redis(client, federation, bob, granted):
    import redis

    url = require_redis()
    client.force_login(bob)
    with broker(url):
        response, _ = access_timed(client, granted)
    assert response.status_code == 302
    assert redis.Redis.from_url(url).llen("celery") == 1


@pytest.mark.django_db(transaction=True)
def test_the_expiry_is_published_after_the_response_has_gone_out(federation, granted, bob):
    """The person does not wait for the broker: the WSGI response is complete (status,
    Location) before the expiry message is sent, and closing it (what the server does
    after writing it) sends it, with the request's id (pam_project/publishing.py)."""
    from django.core.handlers.wsgi import WSGIHandler
    from django.middleware.csrf import _get_new_csrf_string
    from django.test import Client, RequestFactory

    from .celery_helpers import published

    client = Client()
    client.force_login(bob)
    csrf = _get_new_csrf_string()
    client.cookies["csrftoken"] = csrf
    environ = (
        RequestFactory()
        .post(
            reverse("account-access", args=[granted.pk]),
            {"csrfmiddlewaretoken": csrf},
            HTTP_X_REQUEST_ID="req-after-1",
            HTTP_COOKIE="; ".join(f"{k}={v.value}" for k, v in client.cookies.items()),
        )
        .environ
    )
    started: list[str] = []
    with published() as messages:
        response = WSGIHandler()(environ, lambda status, headers, *a: started.append(status))
        body = b"".join(response)
        assert started == ["302 Found"] and body == b""
        assert messages == []  # the response is written; nothing published yet
        response.close()  # the server, once it has written the response
    session = ConsoleSession.objects.get(user=bob)
    assert session.status == Status.ACTIVE
    assert [m["body"][0] for m in messages] == [[session.pk]]
    assert messages[0]["headers"]["pam_request_id"] == "req-after-1"
