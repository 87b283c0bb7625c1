"""The fault matrix (docs/reliability.md): every AWS-facing step under every kind of
failure, through both the web page and the API. Each cell checks what the user sees,
what is recorded, and that nothing secret reached the logs.

STS faults are injected where requests leave botocore (retries and parsing run as in
production); federation faults come from a real HTTP server on loopback, so urllib3's
retries, backoff and timeouts run for real.
"""

from __future__ import annotations

import json
import logging
import socket
import threading
import time
from datetime import timedelta
from urllib.parse import quote

import pytest
import time_machine
from django.urls import reverse
from rest_framework.test import APIClient

from pam_demo.servers import serve_wsgi
from resources.aws import federation as federation_module
from sessions_app import tasks
from sessions_app.models import ConsoleSession, FailureStep, Status

from .factories import RESOURCE_ROLE_ARN, TARGET_ROLE_ARN

TOKEN = "FLAKY-SIGNIN-TOKEN-0123456789"


class FlakyFederation:
    """A federation endpoint that misbehaves on request number n as `plan(n)` says."""

    def __init__(self) -> None:
        self.plan = lambda n: "ok"
        self.calls = 0
        self.lock = threading.Lock()

    def __call__(self, environ, start_response):
        with self.lock:
            self.calls += 1
            behaviour = self.plan(self.calls)
        if behaviour == "sleep":
            time.sleep(1.0)
            behaviour = "ok"
        if isinstance(behaviour, int):
            start_response(f"{behaviour} Error", [("Content-Type", "text/plain")])
            return [b"Invalid credentials parameter" if behaviour == 400 else b"error"]
        body = {
            "ok": json.dumps({"SigninToken": TOKEN}),
            "garbage": "<html>proxy</html>",
            "no_token": json.dumps({"Token": "x"}),
        }[behaviour]
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body.encode()]


@pytest.fixture
def flaky(settings, monkeypatch):
    app = FlakyFederation()
    server = serve_wsgi(app)
    settings.PAM_SIGNIN_URL = server.url
    # Keep the timeout cell short; production waits (3.05 s connect, 10 s read).
    monkeypatch.setattr(federation_module, "TIMEOUT", (0.5, 0.5))
    yield app
    server.stop()


def closed_port_url() -> str:
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return f"http://127.0.0.1:{port}"


def run_both(account, user):
    """Access once through the web page and once through the API."""
    web = APIClient()
    web.force_login(user)
    page = web.post(reverse("account-access", args=[account.pk]))
    api = APIClient()
    api.force_login(user)
    answer = api.post(f"/api/v1/accounts/{account.pk}/access/")
    return page, answer


def assert_no_secret_logged(caplog, aws, extra=()):
    secrets = [
        a["Credentials"][k] for a in aws.answers for k in ("SecretAccessKey", "SessionToken")
    ]
    secrets += list(extra)
    text = caplog.text
    for secret in secrets:
        assert secret not in text and quote(secret, safe="") not in text


STS_CELLS = {
    # fault: (recorder.fail kwargs, expected code or None if Access succeeds, STS calls per try)
    "access-denied": ({"code": "AccessDenied", "message": "not authorized"}, "AccessDenied"),
    "throttled": ({"status": 400, "code": "Throttling", "message": "Rate exceeded"}, "Throttling"),
    "throttled-once": (
        {"status": 400, "code": "Throttling", "message": "Rate exceeded", "times": 1},
        None,
    ),
    "timeout": ({"kind": "timeout"}, "Timeout"),
    "refused": ({"kind": "refused"}, "EndpointConnectionError"),
    "malformed": ({"kind": "malformed"}, "MalformedResponse"),
}


@pytest.mark.parametrize("hop", ["resource_role", "target_role"])
@pytest.mark.parametrize("fault", list(STS_CELLS))
def test_sts_fault_matrix(aws, federation, account, bob, caplog, hop, fault):
    caplog.set_level(logging.DEBUG)
    kwargs, code = STS_CELLS[fault]
    if "times" in kwargs:
        kwargs = {**kwargs, "times": 2}  # once for each of the two Access requests
    aws.fail(RESOURCE_ROLE_ARN if hop == "resource_role" else TARGET_ROLE_ARN, **kwargs)

    page, answer = run_both(account, bob)

    rows = list(ConsoleSession.objects.order_by("id"))
    assert len(rows) == 2  # one row per attempt, whatever happened
    if code is None:
        assert (page.status_code, answer.status_code) == (302, 200)
        assert [r.status for r in rows] == [Status.ACTIVE, Status.ACTIVE]
    else:
        assert (page.status_code, answer.status_code) == (502, 502)
        label = FailureStep(hop).label
        assert label in page.content.decode()
        assert (answer.json()["step"], answer.json()["code"]) == (hop, code)
        assert [(r.status, r.failure_step, r.error_code) for r in rows] == [
            (Status.FAILED, hop, code)
        ] * 2
    if fault in ("throttled", "timeout"):
        # Retried with backoff, and bounded: 3 attempts per hop per Access, no more.
        hop_calls = [
            c
            for c in aws.assume_role_calls()
            if c.params["RoleArn"]
            == (RESOURCE_ROLE_ARN if hop == "resource_role" else TARGET_ROLE_ARN)
        ]
        assert len(hop_calls) == 6
    assert_no_secret_logged(caplog, aws)


FEDERATION_CELLS = {
    # fault: (plan, expected code or None, expected HTTP calls per Access)
    "http-400": (lambda n: 400, "HTTP400", 1),
    "http-403": (lambda n: 403, "HTTP403", 1),
    "http-500": (lambda n: 500, "HTTP500", 3),
    "http-503-once": (lambda n: 503 if n % 2 else "ok", None, 2),
    "throttled-429": (lambda n: 429, "HTTP429", 3),
    "throttled-429-once": (lambda n: 429 if n % 2 else "ok", None, 2),
    "timeout": (lambda n: "sleep", "Timeout", 1),
    "malformed": (lambda n: "garbage", "MalformedResponse", 1),
    "missing-signin-token": (lambda n: "no_token", "MalformedResponse", 1),
}


@pytest.mark.parametrize("fault", list(FEDERATION_CELLS))
def test_federation_fault_matrix(aws, flaky, account, bob, caplog, fault):
    caplog.set_level(logging.DEBUG)
    flaky.plan, code, calls = FEDERATION_CELLS[fault]

    page, answer = run_both(account, bob)

    rows = list(ConsoleSession.objects.order_by("id"))
    assert len(rows) == 2
    assert flaky.calls == 2 * calls
    if code is None:
        assert (page.status_code, answer.status_code) == (302, 200)
        assert TOKEN in page["Location"]
        assert [r.status for r in rows] == [Status.ACTIVE, Status.ACTIVE]
    else:
        assert (page.status_code, answer.status_code) == (502, 502)
        assert "Federation sign-in token" in page.content.decode()
        assert (answer.json()["step"], answer.json()["code"]) == ("federation", code)
        assert [(r.status, r.failure_step, r.error_code) for r in rows] == [
            (Status.FAILED, "federation", code)
        ] * 2
    assert_no_secret_logged(caplog, aws, extra=[TOKEN])


def test_federation_refused(aws, account, bob, settings, caplog):
    caplog.set_level(logging.DEBUG)
    settings.PAM_SIGNIN_URL = closed_port_url()
    page, answer = run_both(account, bob)
    assert (page.status_code, answer.status_code) == (502, 502)
    assert answer.json()["code"] == "ConnectionError"
    assert set(ConsoleSession.objects.values_list("failure_step", "error_code")) == {
        ("federation", "ConnectionError")
    }
    assert_no_secret_logged(caplog, aws)


def test_database_unavailable_at_the_start_of_access(aws, account, bob, monkeypatch):
    from django.db import OperationalError
    from django.db.backends import utils

    web, api = APIClient(), APIClient()
    web.force_login(bob)
    api.force_login(bob)

    def down(self, *args, **kwargs):
        raise OperationalError("could not connect to server: Connection refused")

    monkeypatch.setattr(utils.CursorWrapper, "execute", down)
    page = web.post(reverse("account-access", args=[account.pk]))
    answer = api.post(f"/api/v1/accounts/{account.pk}/access/")
    monkeypatch.undo()

    assert (page.status_code, answer.status_code) == (503, 503)
    assert "The database is unavailable" in page.content.decode()
    assert "database is unavailable" in answer.json()["detail"]
    assert page["Retry-After"] == answer["Retry-After"] == "30"
    assert aws.calls == []  # no AWS call was made
    assert not ConsoleSession.objects.exists()


def test_a_request_killed_between_hops_is_swept_to_failed(aws, federation, account, bob):
    """The worker dies (gunicorn's abort is a SystemExit) after hop 1: the committed
    pending row is all that is left, and the sweep closes it."""
    from resources.aws import sts
    from sessions_app.access import account_access

    def die(**kwargs):
        raise SystemExit("worker aborted")

    sts._boto_session().events.register("after-call.sts.AssumeRole", die)
    with pytest.raises(SystemExit):
        account_access(
            account=account,
            user=bob,
            client_ip=None,
            user_agent="",
            issuer="https://pam.example.test/",
        )
    row = ConsoleSession.objects.get()
    assert row.status == Status.PENDING

    with time_machine.travel(row.created_at + timedelta(minutes=4)):
        assert tasks.sweep_sessions.apply().get()["abandoned"] == 0  # not yet: still in flight?
    with time_machine.travel(row.created_at + timedelta(minutes=6)):
        assert tasks.sweep_sessions.apply().get()["abandoned"] == 1
    row.refresh_from_db()
    assert (row.status, row.failure_step, row.error_code) == (
        Status.FAILED,
        FailureStep.ABANDONED,
        "Abandoned",
    )


def test_rate_limit_answers_429_and_records_the_refusal(federation, account, bob, settings):
    settings.PAM_ACCESS_RATE = (3, 60)
    client = APIClient()
    client.force_login(bob)
    web = [client.post(reverse("account-access", args=[account.pk])) for _ in range(3)]
    assert [r.status_code for r in web] == [302] * 3

    refused = client.post(reverse("account-access", args=[account.pk]))
    assert refused.status_code == 429
    assert "Too many Access attempts" in refused.content.decode()
    assert 1 <= int(refused["Retry-After"]) <= 60
    answer = client.post(f"/api/v1/accounts/{account.pk}/access/")
    assert answer.status_code == 429
    assert (answer.json()["step"], answer.json()["code"]) == ("rate_limited", "TooManyRequests")

    refusals = ConsoleSession.objects.filter(failure_step=FailureStep.RATE_LIMITED)
    # Every refused attempt is counted, on one row per user and minute (two rows only
    # if the two refusals straddle a minute's edge).
    assert sum(refusals.values_list("refused_count", flat=True)) == 2
    assert refusals.count() <= 2
    assert ConsoleSession.objects.filter(status=Status.ACTIVE).count() == 3
    assert len(federation.calls) == 3  # refusals make no AWS call

    # Refusals do not extend the window: a minute later Access works again.
    later = ConsoleSession.objects.order_by("-created_at").first().created_at
    with time_machine.travel(later + timedelta(seconds=61)):
        assert client.post(reverse("account-access", args=[account.pk])).status_code == 302
