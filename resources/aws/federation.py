"""The AWS federation endpoint: chained credentials -> sign-in token -> console sign-in URL.

IAM User Guide, "Enable custom identity broker access to the AWS console". Two rules
that matter here:
- `SessionDuration` must not be sent for credentials obtained by role chaining: the
  endpoint answers HTTP 400 "Invalid credentials parameter". The console session then
  lasts as long as the credentials themselves.
- The sign-in token (and therefore the sign-in URL) is a bearer credential valid for 15
  minutes. Neither is ever logged, stored, or put in an exception message.

The endpoint is the partition's own unless PAM_SIGNIN_URL (tests, the demo) overrides it;
this module reads that setting itself, so no caller passes it down.
"""

from __future__ import annotations

import json
from urllib.parse import urlencode, urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from urllib3.util.retry import Retry

from .console import signin_host
from .errors import AwsStepError, Step
from .metrics import timed
from .partitions import PARTITIONS
from .sts import TemporaryCredentials

# (connect, read) seconds. The endpoint normally answers in well under a second.
TIMEOUT = (3.05, 10)
_MAX_ERROR_TEXT = 300

# Bounded retries with backoff for throttling (429), 5xx and failed connections, never
# waiting on a server's Retry-After: the user is waiting. A read timeout is not retried
# (the endpoint may be slow rather than down; twice the wait is worse than an error).
RETRY = Retry(
    total=2,
    connect=2,
    read=False,  # False: re-raise the timeout itself (0 would wrap it as a ConnectionError)
    status=2,
    backoff_factor=0.2,
    backoff_max=1.0,
    status_forcelist=(429, 500, 502, 503, 504),
    allowed_methods=frozenset({"GET"}),
    respect_retry_after_header=False,
    raise_on_status=False,
)

_http = requests.Session()
_http.mount("https://", HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=RETRY))
_http.mount("http://", HTTPAdapter(pool_connections=4, pool_maxsize=32, max_retries=RETRY))


def endpoint(partition: str, region: str = "") -> str:
    """The federation endpoint URL: PAM_SIGNIN_URL (tests, demo: it wins, whatever the
    region) or the partition's own, regional for a chosen region where AWS has one."""
    override = settings.PAM_SIGNIN_URL
    if override:
        parts = urlsplit(override)
        if parts.path in ("", "/"):
            return override.rstrip("/") + "/federation"
        return override
    return f"https://{signin_host(partition, region)}/federation"


def _scrub(text: str, credentials: TemporaryCredentials) -> str:
    """Error bodies are shown to users; make sure they cannot echo a credential back."""
    for secret in (credentials.secret_access_key, credentials.session_token):
        if secret:
            text = text.replace(secret, "[redacted]")
    return text[:_MAX_ERROR_TEXT]


def get_signin_token(credentials: TemporaryCredentials, *, partition: str, region: str = "") -> str:
    """Exchange temporary credentials for a sign-in token (the secret part of the URL).
    `region`: the console's, whose regional endpoint then issues it (signin_url must be
    given the same)."""
    with timed(Step.FEDERATION):  # the /metrics latency histogram
        return _get_signin_token(credentials, partition=partition, region=region)


def _get_signin_token(credentials: TemporaryCredentials, *, partition: str, region: str) -> str:
    session_json = json.dumps(
        {
            "sessionId": credentials.access_key_id,
            "sessionKey": credentials.secret_access_key,
            "sessionToken": credentials.session_token,
        }
    )
    try:
        response = _http.get(
            endpoint(partition, region),
            params={"Action": "getSigninToken", "Session": session_json},
            timeout=TIMEOUT,
            allow_redirects=False,
        )
    except requests.Timeout:
        raise AwsStepError(
            Step.FEDERATION, "Timeout", "The federation endpoint did not answer in time."
        ) from None
    except requests.ConnectionError:
        raise AwsStepError(
            Step.FEDERATION,
            "ConnectionError",
            "Could not connect to the federation endpoint.",
        ) from None
    except requests.RequestException as exc:
        # The exception text may quote the request URL, which carries the credentials.
        raise AwsStepError(Step.FEDERATION, type(exc).__name__, "The request failed.") from None
    if response.status_code != 200:
        raise AwsStepError(
            Step.FEDERATION,
            f"HTTP{response.status_code}",
            _scrub(response.text.strip(), credentials) or response.reason or "",
        )
    try:
        token = response.json()["SigninToken"]
    except (ValueError, KeyError, TypeError):
        raise AwsStepError(
            Step.FEDERATION,
            "MalformedResponse",
            "The federation endpoint answered without a SigninToken.",
        ) from None
    if not isinstance(token, str) or not token:
        raise AwsStepError(
            Step.FEDERATION, "MalformedResponse", "The federation endpoint's SigninToken is empty."
        )
    return token


def signin_url(
    signin_token: str,
    *,
    partition: str,
    issuer: str,
    destination: str | None = None,
    region: str = "",
) -> str:
    """The one-time console sign-in URL. A bearer credential: hand it to the user, nowhere
    else. `destination`: console.console_url's (default: the console home); `region`:
    as given to get_signin_token (the same endpoint)."""
    query = urlencode(
        {
            "Action": "login",
            "Issuer": issuer,
            "Destination": destination or PARTITIONS[partition].console_url,
            "SigninToken": signin_token,
        }
    )
    return f"{endpoint(partition, region)}?{query}"


# The console's sign-out, before a new sign-in (a person's "sign out of the previous
# console first"). AWS documents no sign-out endpoint for federated sessions; this is the
# one the console's own "Sign out" uses, and the one peers rely on for the same purpose
# (Leapp, Noovolari/leapp#520; aws-vault's AutoLogout; kion-cli#25):
# `https://<sign-in host>/oauth?Action=logout&redirect_uri=<an address of that sign-in
# service>`, after which AWS sends the browser on to `redirect_uri`. Both peers keep the
# sign-out on the host of the sign-in URL, and Leapp found the redirect ignored on the
# global host (the console's landing page instead) but honoured on us-east-1's own host,
# `us-east-1.signin.aws.amazon.com`, which aws-vault uses too. Undocumented behaviour,
# checked here against the demo's stand-in only (pam_demo/federation.py).
LOGOUT_HOST_FOR = {"signin.aws.amazon.com": "us-east-1.signin.aws.amazon.com"}


def logout_url(then: str) -> str:
    """AWS's console sign-out, sending the browser on to `then`, a sign-in URL from
    signin_url(). That URL is a bearer credential: it only goes back to the sign-in
    service that issued it (the same origin: PAM_SIGNIN_URL's in the demo and tests)."""
    parts = urlsplit(then)
    host = LOGOUT_HOST_FOR.get(parts.netloc, parts.netloc)
    query = urlencode({"Action": "logout", "redirect_uri": then})
    return f"{parts.scheme}://{host}/oauth?{query}"
