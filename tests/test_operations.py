"""Operations: /readyz (database and broker, bounded and cached) and /metrics
(Prometheus, for a scraper with the token or an allowed address only)."""

from __future__ import annotations

import contextlib
import ipaddress
import time
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families

from access_requests.models import AccessRequest, RequestStatus
from pam_project import celery_app, health
from pam_project.brokers import transport_options
from sessions_app import scheduling
from sessions_app.models import ConsoleSession, Revocation, Status

from .celery_helpers import _switch, broker, refused_broker, silent_broker
from .factories import AccountFactory, ConsoleSessionFactory, GrantFactory

TOKEN = "metrics-token-for-tests-0123456789"
READY_BUDGET_SECONDS = 3.0


@pytest.fixture(autouse=True)
def _fresh_readiness():
    health.reset_readiness_cache()
    yield
    health.reset_readiness_cache()


def ready(client):
    started = time.monotonic()
    response = client.get("/readyz")
    return response, time.monotonic() - started


# --- /readyz ---------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_ready_when_the_database_and_the_broker_answer(client):
    response, _ = ready(client)
    assert response.status_code == 200
    assert response.json() == {"status": "ok", "checks": {"database": "ok", "broker": "ok"}}
    assert "no-store" in response["Cache-Control"]


@contextlib.contextmanager
def filesystem_broker(folder):
    """The embedded default (no CELERY_BROKER_URL): a directory, no server."""
    from django.conf import settings

    _switch("filesystem://")
    celery_app.conf.broker_transport_options = transport_options("filesystem://", folder)
    try:
        yield
    finally:
        _switch(settings.CELERY_BROKER_URL)


@pytest.mark.django_db(transaction=True)
def test_the_embedded_filesystem_broker_is_ready_without_redis(client, tmp_path):
    with filesystem_broker(tmp_path):
        response, _ = ready(client)
    assert response.status_code == 200, response.json()
    assert response.json()["checks"]["broker"] == "ok"


@pytest.mark.django_db(transaction=True)
def test_a_refused_broker_answers_503_quickly_naming_the_broker(client):
    with broker(refused_broker()):
        response, seconds = ready(client)
    assert response.status_code == 503
    assert response.json() == {
        "status": "unavailable",
        "checks": {"database": "ok", "broker": "failed"},
    }
    assert seconds < READY_BUDGET_SECONDS, seconds


@pytest.mark.django_db(transaction=True)
def test_a_broker_that_never_answers_is_bounded_too(client):
    with silent_broker(accept=True) as url, broker(url):
        response, seconds = ready(client)
    assert response.status_code == 503
    assert response.json()["checks"]["broker"] in ("failed", "timeout")
    assert seconds < READY_BUDGET_SECONDS, seconds


@pytest.mark.django_db(transaction=True)
def test_a_database_that_hangs_is_named_and_bounded(client, monkeypatch):
    monkeypatch.setattr(health, "_check_database", lambda: time.sleep(5))
    monkeypatch.setitem(health._in_flight, "database", None)
    response, seconds = ready(client)
    assert response.status_code == 503
    assert response.json()["checks"] == {"database": "timeout", "broker": "ok"}
    assert seconds < READY_BUDGET_SECONDS, seconds


@pytest.mark.django_db(transaction=True)
def test_a_probe_storm_checks_once_per_cache_period(client, monkeypatch):
    calls = []
    real = health._check_database
    monkeypatch.setattr(health, "_check_database", lambda: calls.append(1) or real())
    for _ in range(20):
        assert client.get("/readyz").status_code == 200
    assert len(calls) == 1


def test_readyz_only_reads(client):
    assert client.post("/readyz").status_code == 405


@pytest.mark.django_db(transaction=True)
def test_readyz_is_probed_over_plain_http_while_pages_redirect(client, settings):
    settings.SECURE_SSL_REDIRECT = True
    assert client.get("/readyz").status_code == 200
    assert client.get("/login/").status_code == 301


# --- /metrics: who may read it -------------------------------------------------------


def metric_values(text: str) -> dict[tuple[str, tuple], float]:
    values = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            values[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return values


def scrape(client, **headers):
    return client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}", **headers)


@pytest.fixture
def token(settings):
    settings.PAM_METRICS_TOKEN = TOKEN


@pytest.mark.django_db
def test_metrics_are_404_when_nothing_is_configured(client, settings):
    settings.PAM_METRICS_TOKEN = ""
    settings.PAM_METRICS_ALLOWED_NETWORKS = []
    assert client.get("/metrics").status_code == 404
    assert scrape(client).status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer ").status_code == 404


@pytest.mark.django_db
def test_metrics_need_the_token(client, token):
    assert client.get("/metrics").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Basic {TOKEN}").status_code == 404
    # Exactly the token: not a prefix of it, not it with more after.
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN[:-1]}").status_code == 404
    assert client.get("/metrics", HTTP_AUTHORIZATION=f"Bearer {TOKEN}x").status_code == 404
    response = scrape(client)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/plain")
    assert "pam_access_attempts_total" in response.content.decode()


@pytest.mark.django_db
def test_metrics_from_an_allowed_address(client, settings):
    settings.PAM_METRICS_TOKEN = ""
    settings.PAM_METRICS_ALLOWED_NETWORKS = [ipaddress.ip_network("10.0.0.0/8")]
    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.0.2.7").status_code == 404
    # The address comes from pam_project.http.client_ip: a forged X-Forwarded-For is
    # ignored without trusted proxies.
    forged = client.get("/metrics", REMOTE_ADDR="192.0.2.7", HTTP_X_FORWARDED_FOR="10.1.2.3")
    assert forged.status_code == 404


# --- /metrics: what it counts ---------------------------------------------------------


def aws_step_count(values, step, outcome):
    key = ("pam_aws_step_duration_seconds_count", (("outcome", outcome), ("step", step)))
    return values.get(key, 0.0)


@pytest.mark.django_db(transaction=True)
def test_an_access_is_counted_by_outcome_and_step(client, token, aws, federation, account, bob):
    denied = AccountFactory(
        resource=account.resource,
        name="denied",
        target_role_arn="arn:aws:iam::111122223333:role/pam-denied",
    )
    GrantFactory(account=denied, user=bob)
    aws.fail(denied.target_role_arn)
    before = metric_values(scrape(client).content.decode())

    client.force_login(bob)
    assert client.post(reverse("account-access", args=[account.pk])).status_code == 302
    assert client.post(reverse("account-access", args=[denied.pk])).status_code == 502
    after = metric_values(scrape(client).content.decode())

    def attempts(outcome, step):
        key = ("pam_access_attempts_total", (("failure_step", step), ("outcome", outcome)))
        return after.get(key, 0.0)

    assert attempts("granted", "") == 1
    assert attempts("failed", "target_role") == 1
    assert after[("pam_console_sessions_active", ())] == 1
    assert after[("pam_console_sessions", (("status", "active"),))] == 1
    # Hop 1 twice (both ok), hop 2 once ok and once refused, federation once.
    for step, outcome, more in (
        ("resource_role", "ok", 2),
        ("target_role", "ok", 1),
        ("target_role", "error", 1),
        ("federation", "ok", 1),
    ):
        grew = aws_step_count(after, step, outcome) - aws_step_count(before, step, outcome)
        assert grew == more, (step, outcome)


@pytest.mark.django_db
def test_sweep_lag_is_the_age_of_the_oldest_unrecorded_expiry(client, token):
    values = metric_values(scrape(client).content.decode())
    assert values[("pam_sweep_lag_seconds", ())] == 0
    now = timezone.now()
    ConsoleSessionFactory(
        status=Status.ACTIVE, activated_at=now, expires_at=now - timedelta(minutes=7)
    )
    ConsoleSessionFactory(
        status=Status.ACTIVE, activated_at=now, expires_at=now - timedelta(minutes=1)
    )
    ConsoleSessionFactory(
        status=Status.ACTIVE, activated_at=now, expires_at=now + timedelta(minutes=30)
    )
    values = metric_values(scrape(client).content.decode())
    assert 7 * 60 <= values[("pam_sweep_lag_seconds", ())] < 8 * 60
    assert values[("pam_console_sessions_active", ())] == 1


@pytest.mark.django_db
def test_revocations_and_requests_by_state(client, token, account, bob):
    now = timezone.now()
    Revocation.objects.create(
        account=account,
        target_role_arn=account.target_role_arn,
        before=now,
        prune_after=now + timedelta(hours=1),
        state="failed",
        created_by_name="ops",
        reason="test",
    )
    AccessRequest.objects.create(
        account=account,
        requester=bob,
        requester_name="bob",
        reason="test",
        duration_seconds=3600,
        expires_at=now + timedelta(hours=24),
    )
    values = metric_values(scrape(client).content.decode())
    assert values[("pam_revocations", (("state", "failed"),))] == 1
    assert values[("pam_revocations", (("state", "written"),))] == 0
    assert values[("pam_access_requests", (("state", RequestStatus.PENDING),))] == 1
    assert values[("pam_access_requests", (("state", RequestStatus.APPROVED),))] == 0
    for collector in ("access_attempts", "live_sessions", "revocations", "requests"):
        assert values[("pam_metrics_collector_up", (("collector", collector),))] == 1


@pytest.mark.django_db
def test_broker_publish_failures_are_counted(client, token):
    key = ("pam_task_publish_failures_total", (("task", scheduling.EXPIRE_TASK),))
    skipped = ("pam_task_publish_skipped_total", (("task", scheduling.EXPIRE_TASK),))
    before = metric_values(scrape(client).content.decode())
    with broker(refused_broker()):
        assert scheduling.schedule_expiry(1, timezone.now()) is False
        assert scheduling.schedule_expiry(2, timezone.now()) is False  # within the back-off
    after = metric_values(scrape(client).content.decode())
    assert after[key] - before.get(key, 0.0) == 1
    assert after[skipped] - before.get(skipped, 0.0) == 1
    assert not ConsoleSession.objects.exists()
