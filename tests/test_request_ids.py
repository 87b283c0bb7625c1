"""Structured logs: LOG_FORMAT=json, one request id per request, carried into the tasks
it enqueues; plain text stays the default."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import time_machine
from django.urls import reverse

from pam_project import requestid
from sessions_app import tasks
from sessions_app.models import ConsoleSession, Status

from .celery_helpers import published
from .log_helpers import json_logs

ROOT = Path(__file__).resolve().parent.parent


def lines(stream) -> list[dict]:
    # Every line must be one JSON object: json.loads fails the test otherwise.
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


def test_an_incoming_sane_request_id_is_honoured_and_echoed(client, db):
    response = client.get("/healthz", HTTP_X_REQUEST_ID="lb-1234.abcd_EF:9")
    assert response["X-Request-ID"] == "lb-1234.abcd_EF:9"


@pytest.mark.parametrize(
    "incoming", ["", "two words", 'x"}, "level": "CRITICAL', "line\nbreak", "a" * 129, "é"]
)
def test_anything_else_gets_a_fresh_id(client, db, incoming):
    response = client.get("/healthz", HTTP_X_REQUEST_ID=incoming)
    rid = response["X-Request-ID"]
    assert rid != incoming and len(rid) == 32 and int(rid, 16) >= 0


def test_two_requests_get_two_ids_and_nothing_outlives_the_request(client, db):
    first = client.get("/healthz")["X-Request-ID"]
    second = client.get("/healthz")["X-Request-ID"]
    assert first != second
    assert requestid.current() is None


def test_a_json_log_line_is_valid_json_with_the_request_id(client, db):
    with json_logs() as stream:
        logging.getLogger("pam.test").info("outside any request")
        response = client.get("/healthz", HTTP_X_REQUEST_ID="req-json-1")
        logging.getLogger("pam.test").info("after it")
    assert response.status_code == 200
    records = lines(stream)
    outside = next(r for r in records if r["message"] == "outside any request")
    assert outside["request_id"] == "-"
    assert {"time", "level", "logger", "message"} <= outside.keys()
    assert outside["level"] == "INFO" and outside["logger"] == "pam.test"
    assert next(r for r in records if r["message"] == "after it")["request_id"] == "-"


@pytest.mark.django_db(transaction=True)
def test_the_request_id_goes_into_the_expiry_task_and_its_log_lines(
    client, federation, account, bob
):
    client.force_login(bob)
    with json_logs() as stream, published() as messages:
        response = client.post(
            reverse("account-access", args=[account.pk]), HTTP_X_REQUEST_ID="req-access-7"
        )
    assert response.status_code == 302
    assert response["X-Request-ID"] == "req-access-7"
    granted = [r for r in lines(stream) if r["message"].startswith("Access granted")]
    assert granted and granted[0]["request_id"] == "req-access-7"

    # The message as the broker carries it names the request (and nothing secret).
    (message,) = [m for m in messages if m["headers"]["task"] == tasks.expire_session.name]
    assert message["headers"][requestid.TASK_HEADER] == "req-access-7"

    # Run it as a worker would, from the published body and headers, once it is due.
    session = ConsoleSession.objects.get()
    args = message["body"][0]
    with (
        time_machine.travel(session.expires_at + timedelta(seconds=1)),
        json_logs() as task_stream,
    ):
        assert tasks.expire_session.apply(args=args, headers=message["headers"]).get() is True
    (line,) = [r for r in lines(task_stream) if r["message"].startswith("Expiry of console")]
    assert line["request_id"] == "req-access-7"
    assert "recorded" in line["message"]
    session.refresh_from_db()
    assert session.status == Status.EXPIRED
    assert requestid.current() is None  # not left behind for whatever runs next


@pytest.mark.django_db
def test_a_task_published_outside_any_request_carries_no_id(account):
    with published() as messages:
        from sessions_app import scheduling

        scheduling.schedule_lost_access_check()
    (message,) = messages
    assert requestid.TASK_HEADER not in message["headers"]
    with json_logs() as stream:
        tasks.expire_session.apply(args=[987654], headers=message["headers"]).get()
    (line,) = [r for r in lines(stream) if r["message"].startswith("Expiry of console")]
    assert line["request_id"] == "-"


PROBE = """
import logging, django
django.setup()
logging.getLogger("probe").warning("hello from %s", "the probe")
"""


def log_output(env: dict[str, str], tmp_path: Path) -> str:
    clean = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "SECRET_KEY": "probe",
        "HOME": str(tmp_path),
        "PAM_VAR_DIR": str(tmp_path),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        check=True,
        capture_output=True,
        text=True,
    )
    return done.stderr.strip().splitlines()[-1]


def test_plain_text_is_the_default_and_log_format_json_switches(tmp_path):
    plain = log_output({}, tmp_path)
    assert plain.endswith("WARNING probe hello from the probe")
    as_json = json.loads(log_output({"LOG_FORMAT": "json"}, tmp_path))
    assert as_json["message"] == "hello from the probe"
    assert as_json["level"] == "WARNING" and as_json["request_id"] == "-"


def test_workers_log_through_the_app_logging_config():
    """A worker's logging setup applies settings.LOGGING (redaction, request ids, the
    format) instead of Celery's own handlers, which have neither."""
    from celery import signals

    from pam_project.logging import RedactSecretsFilter

    root = logging.getLogger()
    saved = root.handlers[:]
    try:
        assert signals.setup_logging.send(
            sender=None, loglevel=logging.INFO, logfile=None, format="", colorize=False
        )
        filters = {type(f) for h in root.handlers for f in h.filters}
    finally:
        root.handlers[:] = saved
    assert {RedactSecretsFilter, requestid.RequestIdFilter} <= filters
