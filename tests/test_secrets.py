"""No secret access key, session token, sign-in token or sign-in URL is ever written down:
not in the logs (even at DEBUG), the database, the task messages, or any page."""

from __future__ import annotations

import json
import logging
from urllib.parse import quote, quote_plus

import pytest
from celery.signals import before_task_publish
from django.db import connection
from django.test import Client
from django.urls import reverse

from pam_demo.federation import FederationStandIn
from pam_demo.servers import serve_wsgi

from .factories import AccountFactory, GrantFactory, ResourceFactory, UserFactory
from .log_helpers import json_logs

DENIED_TARGET = "arn:aws:iam::111122223333:role/pam-denied"


def spellings(secret: str) -> set[str]:
    """A secret as it would appear in a URL, a query string or JSON, not only verbatim."""
    return {
        secret,
        quote(secret, safe=""),
        quote_plus(secret),
        quote(quote(secret, safe=""), safe=""),  # a query string inside a logged URL
        json.dumps(secret)[1:-1],
    }


def every_table_as_text() -> str:
    rows = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names():
            cursor.execute(f'SELECT * FROM "{table}"')  # noqa: S608 (names from introspection)
            rows.extend(repr(row) for row in cursor.fetchall())
    return "\n".join(rows)


@pytest.fixture
def standin(settings):
    """A real HTTP federation endpoint on loopback, so requests and urllib3 run (and
    would log, if allowed) exactly as in production."""
    app = FederationStandIn()
    server = serve_wsgi(app)
    settings.PAM_SIGNIN_URL = server.url
    yield app
    server.stop()


@pytest.mark.django_db(transaction=True)
def test_no_credential_or_sign_in_secret_is_written_anywhere(aws, standin, caplog):
    user_client = Client()
    resource = ResourceFactory()
    good = AccountFactory(resource=resource, name="readonly")
    denied = AccountFactory(resource=resource, name="denied", target_role_arn=DENIED_TARGET)
    member = UserFactory(email="member@example.com")
    GrantFactory(account=good, user=member)
    GrantFactory(account=denied, user=member)
    aws.fail(DENIED_TARGET)
    published: list[str] = []

    def capture(body, headers, **kwargs):
        published.append(json.dumps({"body": body, "headers": headers}, default=str))

    before_task_publish.connect(capture)
    caplog.set_level(logging.DEBUG)
    user_client.force_login(member)
    try:
        # And as LOG_FORMAT=json writes them (its own formatter, the same filters).
        with json_logs() as json_stream:
            ok = user_client.post(reverse("account-access", args=[good.pk]))
            failed = user_client.post(reverse("account-access", args=[denied.pk]))
    finally:
        before_task_publish.disconnect(capture)
    assert (ok.status_code, failed.status_code) == (302, 502)

    signin_url = ok["Location"]
    secrets = {"sign-in URL": signin_url}
    for n, answer in enumerate(aws.answers):  # hop 1 and 2 of the good try, hop 1 of the bad
        secrets[f"secret key #{n}"] = answer["Credentials"]["SecretAccessKey"]
        secrets[f"session token #{n}"] = answer["Credentials"]["SessionToken"]
    assert len(aws.answers) == 3
    (signin_token,) = standin.tokens
    secrets["sign-in token"] = signin_token
    assert signin_token in signin_url  # the URL we are looking for is the real one

    pages = [ok.content, failed.content] + [
        user_client.get(path).content
        for path in ("/", reverse("session-list"), reverse("account-detail", args=[good.pk]))
    ]
    log_text = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    places = {
        "logs": log_text,
        "JSON logs": json_stream.getvalue(),
        "database": every_table_as_text(),
        "task messages": "\n".join(published),
        "pages": "\n".join(p.decode() for p in pages),
    }
    # The test is only meaningful if each place really holds the session's traces.
    assert "Access granted" in places["logs"]
    assert "Access granted" in places["JSON logs"]
    assert aws.answers[1]["Credentials"]["AccessKeyId"] in places["database"]
    assert published, "the expiry task was not published"
    assert "pam-denied" in places["pages"] or "Target Role" in places["pages"]
    for place, text in places.items():
        for what, secret in secrets.items():
            for spelling in spellings(secret):
                assert spelling not in text, f"{what} found in {place}"


@pytest.mark.django_db(transaction=True)
def test_a_totp_seed_and_recovery_codes_are_never_written_in_the_clear(caplog):
    """The seed appears on one page (enrollment, before confirmation) and nowhere else:
    not in the database (sealed with a key derived from SECRET_KEY), not in the logs, not
    in the other pages. Recovery codes appear once, on their page, and are stored hashed."""
    import base64
    import re

    import pyotp

    from mfa.models import TotpDevice

    caplog.set_level(logging.DEBUG)
    member = UserFactory(email="mfa-member@example.com")
    client = Client()
    client.force_login(member)
    enrollment = client.get(reverse("security-totp")).content.decode()
    key = re.search(r'id="totp-manual-key">([A-Z2-7 ]+)<', enrollment).group(1).replace(" ", "")
    seed = base64.b32decode(key + "=" * (-len(key) % 8))
    assert client.post(reverse("security-totp"), {"code": pyotp.TOTP(key).now()}).status_code == 302
    assert TotpDevice.objects.get(user=member, confirmed=True).seed() == seed
    codes_page = client.post(reverse("security-recovery-codes")).content.decode()
    codes = re.findall(r"<code>([a-z0-9-]{14})</code>", codes_page)
    assert len(codes) == 10
    pages = [
        client.get(path).content.decode()
        for path in (reverse("security"), reverse("security-verify"), "/")
    ]

    secrets = {"seed (base32)": key, "seed (hex)": seed.hex()}
    secrets["seed (base64)"] = base64.b64encode(seed).decode()
    secrets["seed (bytes)"] = repr(seed)[2:-1]
    for n, code in enumerate(codes):
        secrets[f"recovery code #{n}"] = code
        secrets[f"recovery code #{n}, bare"] = code.replace("-", "")
    log_text = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    database = every_table_as_text()
    # Meaningful only if the database does hold the device and the codes' traces.
    assert "v1:" in database and "Authenticator app" in database
    grouped = " ".join(key[i : i + 4] for i in range(0, len(key), 4))
    assert grouped in enrollment and all(code in codes_page for code in codes)
    secrets["seed (as shown)"] = grouped
    places = {"logs": log_text, "database": database, "other pages": "\n".join(pages)}
    for place, text in places.items():
        for what, secret in secrets.items():
            for spelling in spellings(secret):
                assert spelling not in text, f"{what} found in {place}"


@pytest.mark.django_db(transaction=True)
def test_cli_credentials_reach_the_caller_and_nowhere_else(aws, caplog):
    """`POST .../credentials/` answers hop 2's secret key and session token to the
    caller (`pam credentials`); they land in no row, audit event, log line or task
    message, and the history the person then reads does not show them either."""
    from rest_framework.test import APIClient

    from accounts.tokens import token_create
    from audit.models import AuditEvent

    from .celery_helpers import published

    resource = ResourceFactory()
    cli = AccountFactory(resource=resource, name="cli", allow_cli_credentials=True)
    console_only = AccountFactory(resource=resource, name="console-only")
    member = UserFactory(email="cli-member@example.com")
    GrantFactory(account=cli, user=member)
    GrantFactory(account=console_only, user=member)
    _, raw = token_create(user=member, name="laptop", scope="access")
    api = APIClient()
    api.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    caplog.set_level(logging.DEBUG)
    with json_logs() as json_stream, published() as messages:
        granted = api.post(f"/api/v1/accounts/{cli.pk}/credentials/")
        refused = api.post(f"/api/v1/accounts/{console_only.pk}/credentials/")
        session_id = api.get("/api/v1/sessions/").json()["results"][0]["id"]
        # A revocation writes audit events about the session (IAM refuses it here: moto
        # has no such Target Role; the attempt is audited all the same).
        revoked = api.post(f"/api/v1/sessions/{session_id}/revoke/", {"reason": "lost laptop"})
        history = [
            api.get(path).content.decode()
            for path in ("/api/v1/sessions/", f"/api/v1/sessions/{session_id}/")
        ]
    assert (granted.status_code, refused.status_code, revoked.status_code) == (200, 403, 502)

    body = granted.json()
    # Hop 1 and hop 2 of the Access, then hop 1 again for the revocation's IAM write.
    assert len(aws.answers) == 3
    assert body["SecretAccessKey"] == aws.answers[1]["Credentials"]["SecretAccessKey"]
    secrets = {"token": raw}
    for n, answer in enumerate(aws.answers):
        secrets[f"secret key #{n}"] = answer["Credentials"]["SecretAccessKey"]
        secrets[f"session token #{n}"] = answer["Credentials"]["SessionToken"]
    log_text = caplog.text + "\n".join(
        f"{r.getMessage()} {r.exc_text or ''} {r.args!r}" for r in caplog.records
    )
    events = "\n".join(repr(e.__dict__) for e in AuditEvent.objects.all())
    places = {
        "logs": log_text,
        "JSON logs": json_stream.getvalue(),
        "database": every_table_as_text(),
        "audit events": events,
        "task messages": "\n".join(json.dumps(m) for m in messages),
        "history": "\n".join(history),
    }
    # Meaningful only if each place holds this session's traces.
    assert f"console session {session_id} (credentials)" in places["logs"]
    assert "Access granted" in places["JSON logs"]
    assert body["AccessKeyId"] in places["database"] and body["AccessKeyId"] in places["history"]
    assert "allow_cli_credentials" in events and "lost laptop" in events
    assert messages, "the expiry task was not published"
    for place, text in places.items():
        for what, secret in secrets.items():
            for spelling in spellings(secret):
                assert spelling not in text, f"{what} found in {place}"
