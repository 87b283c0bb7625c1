"""Optional Sentry error reports (SENTRY_DSN): sent only when configured, and scrubbed of
every credential, cookie, token and sign-in URL before they leave."""

from __future__ import annotations

import gzip
import json
import logging
import os
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sentry_sdk
from django.core.wsgi import get_wsgi_application
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from pam_demo.servers import serve_wsgi
from pam_project.error_reporting import init_sentry, scrub_breadcrumb

from .test_secrets import spellings

ROOT = Path(__file__).resolve().parent.parent

SECRET_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY"
SESSION_TOKEN = "IQoJb3JpZ2luX2VjEFAKEsessionTOKENvalue/+abc=="
SIGNIN_TOKEN = "SigninTokenValueFAKE0123456789abcdef"
SIGNIN_URL = (
    "https://signin.aws.amazon.com/federation?Action=login&Issuer=https%3A%2F%2Fpam"
    f"&Destination=https%3A%2F%2Fconsole.aws.amazon.com%2F&SigninToken={SIGNIN_TOKEN}"
)
ID_TOKEN = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJyb2JpbiJ9.c2lnbmF0dXJlRkFLRQ"
TOTP_SEED = "JBSWY3DPEHPK3PXPFAKESEED"
API_TOKEN = "pam_FAKEapiTOKENvalue0123456789abcdef"
COOKIE = "FAKEsessionCOOKIEvalue0123"
QUERY_TOKEN = "QueryStringSigninTokenFAKE"

SECRETS = {
    "secret access key": SECRET_KEY,
    "session token": SESSION_TOKEN,
    "sign-in token": SIGNIN_TOKEN,
    "sign-in URL": SIGNIN_URL,
    "OIDC token": ID_TOKEN,
    "TOTP seed": TOTP_SEED,
    "API token": API_TOKEN,
    "cookie": COOKIE,
    "query token": QUERY_TOKEN,
}

log = logging.getLogger("tests.error_reporting")


def failing_view(request: HttpRequest) -> HttpResponse:
    # Locals as the Access chain and the identity code hold them.
    secret_access_key = SECRET_KEY
    credentials = {"SecretAccessKey": SECRET_KEY, "SessionToken": SESSION_TOKEN}
    session_json = json.dumps({"sessionKey": SECRET_KEY, "sessionToken": SESSION_TOKEN})
    url = SIGNIN_URL
    id_token = ID_TOKEN
    provisioning = f"otpauth://totp/PAM:bob?secret={TOTP_SEED}&issuer=PAM"
    log.warning("about to hand out %s", url)  # becomes a breadcrumb
    assert secret_access_key and credentials and session_json and id_token and provisioning
    raise RuntimeError(f"could not finish Access at {url} with {session_json}")


# The site's own URLs too: the 500 page links to them.
urlpatterns = [path("boom/", failing_view), path("", include("pam_project.urls"))]


class Collector(BaseHTTPRequestHandler):
    envelopes: list[str]

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
        if self.headers.get("Content-Encoding") == "gzip":
            body = gzip.decompress(body)
        assert self.headers.get("Content-Encoding") in (None, "gzip", "identity")
        self.envelopes.append(body.decode("utf-8", "replace"))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def sentry_endpoint():
    """A local stand-in for Sentry's ingest endpoint, collecting envelopes."""
    handler = type("Handler", (Collector,), {"envelopes": []})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    init_sentry(f"http://publickey@127.0.0.1:{server.server_port}/1", environment="test")
    try:
        yield handler.envelopes
    finally:
        sentry_sdk.get_client().close()
        sentry_sdk.init()  # no DSN: nothing more is sent by the rest of the run
        server.shutdown()
        server.server_close()


@pytest.mark.urls(__name__)
@pytest.mark.django_db(transaction=True)
def test_an_error_report_carries_no_secret(sentry_endpoint):
    # Through a real WSGI server: the SDK reads the request (URL, headers) in its WSGI
    # middleware, which the test client would bypass.
    server = serve_wsgi(get_wsgi_application())
    request = urllib.request.Request(  # noqa: S310 (http, loopback)
        f"{server.url}/boom/?SigninToken={QUERY_TOKEN}",
        headers={
            "Authorization": f"Bearer {API_TOKEN}",
            "Cookie": f"sessionid={COOKIE}; csrftoken={COOKIE}",
            "X-Amz-Security-Token": SESSION_TOKEN,
            "User-Agent": "Firefox/140",
        },
    )
    try:
        with pytest.raises(urllib.error.HTTPError) as answer:
            urllib.request.urlopen(request, timeout=10)  # noqa: S310 (loopback)
        assert answer.value.code == 500
        sentry_sdk.flush(timeout=5)
    finally:
        server.stop()

    sent = "\n".join(sentry_endpoint)
    # Meaningful only if the report went out with the frames, locals and request.
    assert "RuntimeError" in sent and "failing_view" in sent
    assert "secret_access_key" in sent  # the local's name is kept, its value is not
    assert "Firefox/140" in sent
    assert "about to hand out" in sent  # the breadcrumb
    for what, secret in SECRETS.items():
        for spelling in spellings(secret):
            assert spelling not in sent, f"{what} found in the report"


def test_the_federation_call_never_becomes_a_breadcrumb():
    crumb = {
        "type": "http",
        "category": "httplib",
        "data": {"url": "https://signin.aws.amazon.com/federation", "http.query": "x"},
    }
    assert scrub_breadcrumb(crumb) is None
    other = {"category": "httplib", "data": {"url": "https://sts.amazonaws.com/"}}
    assert scrub_breadcrumb(other) == other


PROBE = """
import sys, django
django.setup()
import sentry_sdk
print("active" if sentry_sdk.get_client().is_active() else "inactive")
"""


def sentry_state(env: dict[str, str], tmp_path: Path) -> str:
    clean = {
        "PATH": os.environ["PATH"],
        "DJANGO_SETTINGS_MODULE": "pam_project.settings",
        "SECRET_KEY": "probe",
        "HOME": str(tmp_path),
        "PAM_VAR_DIR": str(tmp_path),
        **env,
    }
    done = subprocess.run(
        [sys.executable, "-c", PROBE], cwd=ROOT, env=clean, check=True, capture_output=True
    )
    return done.stdout.decode().split()[-1]


def test_sentry_starts_only_when_a_dsn_is_set(tmp_path):
    assert sentry_state({}, tmp_path) == "inactive"
    assert sentry_state({"SENTRY_DSN": "http://key@127.0.0.1:9/1"}, tmp_path) == "active"
