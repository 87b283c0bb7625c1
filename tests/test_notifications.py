"""Notifications of access requests: mail through a real SMTP server on loopback, the
Slack webhook at the HTTP level, retries that never mail anyone twice and never fail the
request, and no secret in anything sent."""

from __future__ import annotations

import contextlib
import email
import email.policy
import json
import logging
import os
import socket
import subprocess
import sys
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import environ
import pytest
import requests
import responses
import time_machine
from aiosmtpd.controller import Controller

from access_requests import notifications, services, tasks
from access_requests.models import AccessRequest, RequestStatus
from accounts.models import GrantKind

from .celery_helpers import broker, published, refused_broker
from .factories import (
    AccountFactory,
    GrantFactory,
    GroupFactory,
    ProjectFactory,
    ResourceFactory,
    UserFactory,
)

ROOT = Path(__file__).resolve().parent.parent
BASE = "https://pam.example.test"  # tests/settings.py's PAM_PUBLIC_URL
WEBHOOK = "https://hooks.slack.com/services/T0PAM/B0PAM/webhook-path-is-a-secret"
SMTP_PASSWORD = "smtp-password-not-for-any-log"


# --- A real SMTP server ---------------------------------------------------------------


class Inbox:
    """aiosmtpd handler: keeps every message; answers 451 (try later) to RCPT for the
    addresses in `refuse`, as many times as counted there."""

    def __init__(self) -> None:
        self.messages: list[email.message.EmailMessage] = []
        self.refuse: dict[str, int] = {}

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if self.refuse.get(address, 0) > 0:
            self.refuse[address] -= 1
            return "451 4.3.0 Mailbox busy, try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.messages.append(
            email.message_from_bytes(envelope.original_content, policy=email.policy.default)
        )
        return "250 Message accepted"

    def to(self, address: str) -> list[email.message.EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def use_email_url(settings, url: str) -> None:
    """What EMAIL_URL=`url` sets (pytest-django has swapped in locmem: put it back)."""
    for name, value in environ.Env.email_url_config(url).items():
        if value is not None:
            setattr(settings, name, value)
    settings.EMAIL_TIMEOUT = 5


@pytest.fixture
def smtp(settings) -> Iterator[Inbox]:
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=free_port())
    controller.start()
    use_email_url(settings, f"smtp://127.0.0.1:{controller.port}")
    yield inbox
    controller.stop()


@pytest.fixture
def outbox(db, mailoutbox):
    """pytest-django's mailoutbox, once the database is set up: Django's test case
    setup replaces mail.outbox, so a mailoutbox taken before it would stay empty."""
    return mailoutbox


# --- People and an account ------------------------------------------------------------


@pytest.fixture
def approver(db):
    return UserFactory(username="dana", email="dana@example.com")


@pytest.fixture
def second_approver(db):
    return UserFactory(username="erin", email="erin@example.com")


@pytest.fixture
def jit(db, bob, approver, second_approver):
    """payments / prod / admin: bob is eligible; dana is named, erin through a group."""
    resource = ResourceFactory(project=ProjectFactory(name="payments"), name="prod")
    account = AccountFactory(
        resource=resource,
        name="admin",
        target_role_arn="arn:aws:iam::111122223333:role/ops/pam-admin",
        break_glass=True,
    )
    GrantFactory(account=account, user=bob, kind=GrantKind.ELIGIBLE)
    group = GroupFactory(name="approvers")
    second_approver.groups.add(group)
    account.approver_users.add(approver)
    account.approver_groups.add(group)
    return account


def ask(account, user, **kwargs) -> AccessRequest:
    values = {"reason": "INC-7: the payment queue is stuck", "duration_seconds": 3600}
    values.update(kwargs)
    return services.request_create(requester=user, account=account, **values)


@contextlib.contextmanager
def notices(capture) -> Iterator[list[list]]:
    """The args of every notify task published (after commit) meanwhile, as JSON
    carried them."""
    found: list[list] = []
    with published() as messages, capture(execute=True):
        yield found
    for message in messages:
        if message["headers"]["task"] == notifications.NOTIFY_TASK:
            args, kwargs, _ = message["body"]
            assert kwargs == {}
            found.append(args)


def deliver(args: list) -> dict:
    """Run the task as a worker would, retries included (eagerly: no waiting)."""
    result = tasks.notify.apply(args=args)
    assert result.successful(), result.traceback
    return result.get()


# --- Mail -----------------------------------------------------------------------------


def test_approvers_get_a_mail_with_the_reason_and_the_decision_link_from_a_real_smtp_server(
    smtp, settings, jit, bob, approver, second_approver, django_capture_on_commit_callbacks
):
    settings.DEFAULT_FROM_EMAIL = "pam@example.test"
    with notices(django_capture_on_commit_callbacks) as sent:
        request = ask(jit, bob, ticket="CHG-1234")
    # Only the kind and the id travel through the broker.
    assert sent == [["requested", request.pk]]
    outcome = deliver(sent[0])
    assert sorted(outcome["sent"]) == [f"mail:{approver.pk}", f"mail:{second_approver.pk}"]

    # One mail each (erin through her group), none to the requester.
    assert sorted(m["To"] for m in smtp.messages) == ["dana@example.com", "erin@example.com"]
    mail = smtp.to("dana@example.com")[0]
    assert mail["From"] == "pam@example.test"
    assert mail["Auto-Submitted"] == "auto-generated"
    assert mail["Subject"] == (
        "[PAM] Approval needed: bob@example.com asks for access to payments / prod / admin"
    )
    body = mail.get_content()
    assert f"{BASE}/approvals/#request-{request.pk}" in body
    for fact in (
        "INC-7: the payment queue is stuck",
        "CHG-1234",
        "payments / prod / admin",
        "pam-admin",
        "1h",
        "bob@example.com",
        "as soon as approved",
    ):
        assert fact in body
    assert "BREAK-GLASS" not in body


def test_break_glass_is_told_to_approvers_at_once_and_flagged_loudly(
    outbox, jit, bob, django_capture_on_commit_callbacks
):
    with notices(django_capture_on_commit_callbacks) as sent:
        request = ask(jit, bob, break_glass=True, second_factor=True, duration_seconds=1800)
    assert sent == [["break_glass", request.pk]]
    deliver(sent[0])
    assert sorted(m.to[0] for m in outbox) == ["dana@example.com", "erin@example.com"]
    mail = outbox[0]
    assert mail.subject.startswith("[PAM] BREAK-GLASS: bob@example.com opened access to")
    assert mail.body.startswith("*** BREAK-GLASS ***")
    assert "OPEN NOW, without anyone's approval" in mail.body
    assert "Break-glass:   YES" in mail.body
    assert f"{BASE}/approvals/#request-{request.pk}" in mail.body


@pytest.mark.parametrize("outcome", ["approved", "denied", "revoked", "expired"])
def test_the_requester_hears_of_the_decision_with_a_link_to_their_request(
    outcome, outbox, jit, bob, approver, django_capture_on_commit_callbacks
):
    request = ask(jit, bob)
    with notices(django_capture_on_commit_callbacks) as sent:
        if outcome == "expired":
            with time_machine.travel(request.expires_at + timedelta(seconds=1)):
                assert services.requests_sweep()["expired"] == 1
        else:
            services.request_decide(
                request=request,
                approver=approver,
                approve=outcome != "denied",
                comment="ok for INC-7" if outcome != "denied" else "use the runbook",
            )
        if outcome == "revoked":
            services.request_revoke(request=request, actor=approver, comment="incident closed")
    request.refresh_from_db()
    assert request.status == outcome
    # A revoke follows an approval: two notices, each read the request as it is now.
    assert sent[-1] == ["decided", request.pk]
    deliver(sent[-1])

    (mail,) = outbox
    assert mail.to == ["bob@example.com"]
    verb = "" if outcome == "expired" else "was "
    assert mail.subject == f"[PAM] Your request for payments / prod / admin {verb}{outcome}"
    assert f"{BASE}/requests/#request-{request.pk}" in mail.body
    assert "/approvals/" not in mail.body
    expected = {
        "approved": ["approved by dana@example.com", "Your window:", "ok for INC-7"],
        "denied": ["denied by dana@example.com", "Comment: use the runbook"],
        "revoked": ["revoked by dana@example.com", "Comment: incident closed"],
        "expired": ["nobody decided it within 24 hours"],
    }[outcome]
    for text in expected:
        assert text in mail.body


def test_fifteen_minutes_before_the_end_the_requester_is_told_once(
    outbox, jit, bob, approver, django_capture_on_commit_callbacks
):
    request = services.request_decide(request=ask(jit, bob), approver=approver, approve=True)
    with (
        time_machine.travel(request.ends_at - timedelta(minutes=10), tick=False),
        notices(django_capture_on_commit_callbacks) as sent,
    ):
        assert services.window_ending_notice(request_id=request.pk) is True
        assert services.window_ending_notice(request_id=request.pk) is False
    assert sent == [["ending", request.pk]]
    with time_machine.travel(request.ends_at - timedelta(minutes=9), tick=False):
        deliver(sent[0])
    (mail,) = outbox
    assert mail.to == ["bob@example.com"]
    ends = request.ends_at.strftime("%Y-%m-%d %H:%M UTC")
    assert mail.subject == f"[PAM] Your access to payments / prod / admin ends at {ends}"
    assert "in 15 minutes or less" in mail.body
    assert f"{BASE}/requests/#request-{request.pk}" in mail.body

    # Delivered late (a broker backlog), after the window ended: nothing is sent.
    outbox.clear()
    with time_machine.travel(request.ends_at + timedelta(minutes=1), tick=False):
        assert deliver(["ending", request.pk])["skipped"] == "the window is not open any more"
    assert outbox == []


def test_who_is_not_mailed(outbox, jit, bob, approver, second_approver, caplog):
    """The requester (also an approver here), approvers without an email or inactive;
    and a "new request" notice once the request was decided before it went out."""
    jit.approver_users.add(bob)
    second_approver.is_active = False
    second_approver.save()
    nameless = UserFactory(email="")
    jit.approver_users.add(nameless)
    request = ask(jit, bob)
    assert deliver(["requested", request.pk])["sent"] == [f"mail:{approver.pk}"]
    assert [m.to for m in outbox] == [["dana@example.com"]]

    # Nobody left with an email, and no Slack: said in the log, for an operator.
    approver.email = ""
    approver.save()
    outbox.clear()
    with caplog.at_level(logging.WARNING, logger="access_requests.notifications"):
        assert deliver(["requested", request.pk])["skipped"] == "nobody to tell"
    assert "Nobody to tell of requested request" in caplog.text
    assert outbox == []

    approver.email = "dana@example.com"
    approver.save()
    services.request_decide(request=request, approver=approver, approve=True)
    outbox.clear()
    assert deliver(["requested", request.pk])["skipped"] == "already approved"
    assert outbox == []


# --- Slack ----------------------------------------------------------------------------


def test_slack_gets_one_block_kit_message_with_the_link_and_escaped_user_text(
    settings, outbox, jit, bob
):
    settings.PAM_SLACK_WEBHOOK_URL = WEBHOOK
    request = ask(jit, bob, reason="<!channel> see <https://evil.example|the runbook> & go")
    with responses.RequestsMock() as webhook:
        webhook.post(WEBHOOK, body="ok")
        outcome = deliver(["requested", request.pk])
        (call,) = webhook.calls
    assert "slack" in outcome["sent"]
    assert call.request.headers["Content-Type"] == "application/json"
    message = json.loads(call.request.body)
    link = f"{BASE}/approvals/#request-{request.pk}"
    assert link in message["text"]
    blocks = message["blocks"]
    assert [b["type"] for b in blocks] == ["header", "section", "section", "section", "actions"]
    assert blocks[0]["text"] == {
        "type": "plain_text",
        "text": "Approval needed: bob@example.com asks for access to payments / prod / admin",
        "emoji": True,
    }
    (button,) = blocks[-1]["elements"]
    assert (button["type"], button["url"], button["style"]) == ("button", link, "primary")
    fields = [f["text"] for f in blocks[2]["fields"]]
    assert "*Target role*\npam-admin" in fields
    # The reason cannot ping the channel nor disguise a link: Slack's escaping.
    reason = blocks[3]["text"]["text"]
    assert reason == (
        "*Reason*\n&lt;!channel&gt; see &lt;https://evil.example|the runbook&gt; &amp; go"
    )
    assert len(outbox) == 2  # and the mails went as well


def test_slack_flags_break_glass_and_is_not_told_a_requesters_own_ending(
    settings, jit, bob, django_capture_on_commit_callbacks
):
    settings.PAM_SLACK_WEBHOOK_URL = WEBHOOK
    request = ask(jit, bob, break_glass=True, second_factor=True, duration_seconds=1800)
    with responses.RequestsMock() as webhook:
        webhook.post(WEBHOOK, body="ok")
        deliver(["break_glass", request.pk])
        message = json.loads(webhook.calls[0].request.body)
        assert message["blocks"][0]["text"]["text"].startswith(":rotating_light: BREAK-GLASS:")
        assert message["blocks"][-1]["elements"][0]["style"] == "danger"
        assert "without approval" in message["blocks"][1]["text"]["text"]

        # "15 minutes left" is for the requester alone: mail, not the approvers' channel.
        with time_machine.travel(request.ends_at - timedelta(minutes=10), tick=False):
            assert deliver(["ending", request.pk])["sent"] == [f"mail:{bob.pk}"]
        assert len(webhook.calls) == 1


# --- Failures -------------------------------------------------------------------------


def test_failures_are_retried_per_target_so_nobody_is_mailed_twice(
    smtp, settings, jit, bob, approver, second_approver, caplog
):
    settings.PAM_SLACK_WEBHOOK_URL = WEBHOOK
    smtp.refuse["erin@example.com"] = 2  # a busy mailbox: 451 twice, then fine
    request = ask(jit, bob)
    with (
        responses.RequestsMock() as webhook,
        caplog.at_level(logging.WARNING, logger="access_requests.tasks"),
    ):
        webhook.post(WEBHOOK, status=503, body="service_unavailable")
        webhook.post(WEBHOOK, body="ok")  # responses answers these in turn
        outcome = deliver(["requested", request.pk])
        assert len(webhook.calls) == 2
    # The last try had only erin left to do.
    assert outcome == {
        "sent": [f"mail:{second_approver.pk}"],
        "failed": {},
        "refused": {},
        "skipped": "",
    }
    assert len(smtp.to("dana@example.com")) == 1
    assert len(smtp.to("erin@example.com")) == 1
    retries = [r for r in caplog.records if "retry" in r.getMessage()]
    assert len(retries) == 2
    assert "SMTPRecipientsRefused [451]" in retries[0].getMessage()
    assert "slack (HTTP 503 'service_unavailable')" in retries[0].getMessage()


def test_a_notice_that_cannot_be_delivered_is_logged_and_never_fails_the_request(
    settings,
    jit,
    bob,
    approver,
    second_approver,
    monkeypatch,
    caplog,
    django_capture_on_commit_callbacks,
):
    # Nobody listens on the mail port; Slack cannot be reached (requests names the
    # webhook's secret path in its error); a worker runs the task at once, in process.
    use_email_url(settings, f"smtp://pam:{SMTP_PASSWORD}@127.0.0.1:{free_port()}")
    settings.PAM_SLACK_WEBHOOK_URL = WEBHOOK
    results = []
    monkeypatch.setattr(
        notifications, "publish", lambda task, args, eta, what: results.append(deliver(args))
    )
    caplog.set_level(logging.DEBUG)
    with responses.RequestsMock() as webhook:
        webhook.post(
            WEBHOOK,
            body=requests.ConnectionError(f"Max retries exceeded with url: {WEBHOOK[8:]}"),
        )
        with django_capture_on_commit_callbacks(execute=True):
            request = ask(jit, bob)
        assert len(webhook.calls) == 1 + tasks.notify.max_retries
    # The request stands; the notice gave up after its retries, and said so.
    assert AccessRequest.objects.get(pk=request.pk).status == RequestStatus.PENDING
    (outcome,) = results
    assert set(outcome["failed"]) == {f"mail:{approver.pk}", f"mail:{second_approver.pk}", "slack"}
    gave_up = [r for r in caplog.records if "giving up" in r.getMessage()]
    assert [r.levelname for r in gave_up] == ["ERROR"]
    assert "ConnectionRefusedError" in gave_up[0].getMessage()
    assert "slack (ConnectionError)" in gave_up[0].getMessage()
    # Neither the webhook (a credential) nor the mail password reached the log.
    assert "webhook-path-is-a-secret" not in caplog.text
    assert SMTP_PASSWORD not in caplog.text


def test_a_dead_broker_does_not_fail_the_request(jit, bob, django_capture_on_commit_callbacks):
    with broker(refused_broker()), django_capture_on_commit_callbacks(execute=True):
        request = ask(jit, bob)
    assert AccessRequest.objects.filter(pk=request.pk, status=RequestStatus.PENDING).exists()


@pytest.mark.parametrize(
    ("status", "headers", "reason"),
    [
        (404, {}, "HTTP 404 'no_service'"),
        # A webhook never redirects: following one would post the message elsewhere.
        (302, {"Location": "https://elsewhere.example/collect"}, "HTTP 302 'no_service'"),
    ],
)
def test_a_webhook_that_will_never_work_is_not_retried(
    status, headers, reason, settings, jit, bob, caplog
):
    settings.PAM_SLACK_WEBHOOK_URL = WEBHOOK
    request = ask(jit, bob)
    with responses.RequestsMock() as webhook:
        webhook.post(WEBHOOK, status=status, headers=headers, body="no_service")
        outcome = deliver(["requested", request.pk])
        assert len(webhook.calls) == 1
    assert outcome["refused"] == {"slack": reason}
    assert f"refused: {reason}" in caplog.text


# --- No secrets -----------------------------------------------------------------------


def test_no_secret_in_any_mail_slack_message_or_task(
    settings, outbox, jit, bob, approver, django_capture_on_commit_callbacks
):
    """What would be a secret near a notice: the project's External ID, the deployment's
    AWS key, the webhook URL, the mail password. Every kind of notice is checked."""
    settings.PAM_SLACK_WEBHOOK_URL = WEBHOOK
    settings.EMAIL_HOST_PASSWORD = SMTP_PASSWORD
    secrets = [
        jit.resource.project.external_id,
        os.environ["AWS_SECRET_ACCESS_KEY"],
        WEBHOOK,
        "webhook-path-is-a-secret",
        SMTP_PASSWORD,
    ]
    with published() as messages, django_capture_on_commit_callbacks(execute=True):
        glass = ask(jit, bob, break_glass=True, second_factor=True, duration_seconds=1800)
        services.request_revoke(request=glass, actor=approver)
        request = ask(jit, bob)
        services.request_decide(request=request, approver=approver, approve=True)
    request.refresh_from_db()
    with responses.RequestsMock() as webhook:
        webhook.post(WEBHOOK, body="ok")
        for args in (["break_glass", glass.pk], ["decided", glass.pk], ["decided", request.pk]):
            deliver(args)
        with time_machine.travel(request.ends_at - timedelta(minutes=10), tick=False):
            deliver(["ending", request.pk])
        slack_bodies = [call.request.body.decode() for call in webhook.calls]
    assert len(slack_bodies) == 3
    assert len(outbox) == 5  # break-glass to 2 approvers, 3 notices to bob
    sent = [m.subject + m.body + json.dumps(m.extra_headers) for m in outbox]
    tasks_sent = [json.dumps(m) for m in messages]
    for text in sent + slack_bodies + tasks_sent:
        for secret in secrets:
            assert secret not in text
    notify_args = [
        m["body"][0] for m in messages if m["headers"]["task"] == notifications.NOTIFY_TASK
    ]
    assert all(len(args) == 2 and isinstance(args[1], int) for args in notify_args)


# --- Settings and links ---------------------------------------------------------------

PROBE = """
import json, django
from django.conf import settings
django.setup()
print(json.dumps({name: getattr(settings, name) for name in (
    "EMAIL_BACKEND", "EMAIL_HOST", "EMAIL_PORT", "EMAIL_HOST_USER", "EMAIL_USE_TLS",
    "EMAIL_USE_SSL", "EMAIL_TIMEOUT", "DEFAULT_FROM_EMAIL", "PAM_SLACK_WEBHOOK_URL")}))
"""


def settings_under(env: dict[str, str], tmp_path: Path) -> subprocess.CompletedProcess:
    clean = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "SECRET_KEY": "probe",
        "HOME": str(tmp_path),
        "PAM_VAR_DIR": str(tmp_path),
        **env,
    }
    return subprocess.run(
        [sys.executable, "-c", PROBE],
        cwd=ROOT,
        env=clean,
        capture_output=True,
        text=True,
        check=False,
    )


def test_settings_with_nothing_set_print_mail_and_need_no_server(tmp_path):
    got = json.loads(settings_under({}, tmp_path).stdout)
    assert got["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert got["DEFAULT_FROM_EMAIL"] == "pam@localhost"
    assert got["PAM_SLACK_WEBHOOK_URL"] == ""
    assert got["EMAIL_TIMEOUT"] == 10.0

    got = json.loads(
        settings_under(
            {
                "EMAIL_URL": "smtp+tls://pam:secret@mail.example.com:587",
                "PAM_EMAIL_FROM": "PAM <pam@example.com>",
                "PAM_SLACK_WEBHOOK_URL": WEBHOOK,
            },
            tmp_path,
        ).stdout
    )
    assert got["EMAIL_BACKEND"] == "django.core.mail.backends.smtp.EmailBackend"
    assert (got["EMAIL_HOST"], got["EMAIL_PORT"], got["EMAIL_HOST_USER"]) == (
        "mail.example.com",
        587,
        "pam",
    )
    assert (got["EMAIL_USE_TLS"], got["EMAIL_USE_SSL"]) == (True, False)
    assert got["DEFAULT_FROM_EMAIL"] == "PAM <pam@example.com>"
    assert got["PAM_SLACK_WEBHOOK_URL"] == WEBHOOK


def test_a_plain_http_webhook_is_refused_without_echoing_it(tmp_path):
    plain = "http://hooks.example.test/services/plain-http-secret"
    result = settings_under({"PAM_SLACK_WEBHOOK_URL": plain}, tmp_path)
    assert result.returncode != 0
    assert "PAM_SLACK_WEBHOOK_URL must be an https:// URL" in result.stderr
    assert "plain-http-secret" not in result.stderr


def test_links_fall_back_to_the_local_address_without_pam_public_url(settings, monkeypatch, caplog):
    monkeypatch.setattr(notifications, "_warned_no_public_url", False)
    assert notifications.decision_link("requested", 7) == f"{BASE}/approvals/#request-7"
    assert notifications.decision_link("decided", 7) == f"{BASE}/requests/#request-7"
    settings.PAM_PUBLIC_URL = ""
    with caplog.at_level(logging.WARNING, logger="access_requests.notifications"):
        assert notifications.decision_link("ending", 7) == (
            "http://localhost:8000/requests/#request-7"
        )
        notifications.decision_link("ending", 8)
    assert caplog.text.count("PAM_PUBLIC_URL is not set") == 1
