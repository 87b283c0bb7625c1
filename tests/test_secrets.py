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
