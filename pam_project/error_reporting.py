"""Optional error reporting to Sentry (SENTRY_DSN), with nothing secret in the reports.

A Sentry event carries the exception message, each frame's local variables, the request
(headers, cookies, body) and breadcrumbs (recent log lines, HTTP calls). In this app
those can hold what must never leave it (SPEC "The Access chain"): secret access keys,
session tokens, sign-in tokens and sign-in URLs, cookies, Authorization headers, the
IdP's tokens, TOTP seeds. So every event and breadcrumb passes `scrub` on the way out:

- values under a sensitive key (any key naming a secret, token, password, key, cookie,
  authorization, seed, signature, session, ...) are replaced whole;
- every string is run through the log redaction (pam_project.logging.redact: the
  federation and STS parameter spellings), and strings holding a sign-in URL
  (`SigninToken=`), an `otpauth://` URI, a JWT, a bearer value or an API token are
  replaced whole;
- request cookies, headers other than a short harmless list, query strings and
  bodies are dropped, and the SDK is told not to collect them (nor the user) at all.

sentry-sdk is imported only when SENTRY_DSN is set.
"""

from __future__ import annotations

import re
from typing import Any

from .logging import redact

REDACTED = "[redacted]"

# Substrings of a dict key (lowercased, "-" as "_") whose value is dropped.
_SENSITIVE_KEY_PARTS = (
    "secret",
    "token",
    "password",
    "passwd",
    "credential",
    "cookie",
    "authorization",
    "auth_header",
    "api_key",
    "apikey",
    "private_key",
    "access_key",
    "session_key",
    "sessionkey",
    "signin",
    "sign_in",
    "login_url",
    "seed",
    "otp",
    "signature",
    "csrf",
    "sessionid",
    "session_json",
)
# A whole string goes when it holds one of these.
_SECRET_VALUES = re.compile(
    r"SigninToken"  # a sign-in URL, or the federation answer
    r"|getSigninToken"
    r"|otpauth://"  # a TOTP provisioning URI (the seed)
    r"|\beyJ[\w-]{5,}\.[\w-]{5,}\."  # a JWT (OIDC ID or access token)
    r"|\bBearer\s+\S"
    r"|\bpam_[\w-]{20,}"  # this app's API tokens
    r"|\b(?:ASIA|AKIA)[A-Z0-9]{16}\b.{0,200}?[A-Za-z0-9/+]{40}",  # a key pair side by side
    re.IGNORECASE | re.DOTALL,
)
# The request headers worth keeping for a bug report; all others are dropped.
_KEPT_HEADERS = frozenset({"accept", "accept-language", "content-type", "host", "user-agent"})
_MAX_DEPTH = 20


def _sensitive_key(key: object) -> bool:
    name = str(key).lower().replace("-", "_")
    return any(part in name for part in _SENSITIVE_KEY_PARTS)


def scrub_value(value: Any, depth: int = 0) -> Any:
    """`value` with every secret removed (dicts, lists and strings, recursively)."""
    if depth > _MAX_DEPTH:
        return REDACTED
    if isinstance(value, str):
        if _SECRET_VALUES.search(value):
            return REDACTED
        return redact(value)
    if isinstance(value, dict):
        return {
            k: (REDACTED if _sensitive_key(k) else scrub_value(v, depth + 1))
            for k, v in value.items()
        }
    if isinstance(value, list | tuple):
        return type(value)(scrub_value(v, depth + 1) for v in value)
    return value


def _scrub_request(request: dict[str, Any]) -> dict[str, Any]:
    request = dict(request)
    for dropped in ("cookies", "data", "env"):
        request.pop(dropped, None)
    headers = request.get("headers")
    if isinstance(headers, dict):
        request["headers"] = {
            k: (v if str(k).lower() in _KEPT_HEADERS else REDACTED) for k, v in headers.items()
        }
    if isinstance(request.get("query_string"), str):
        request["query_string"] = REDACTED if request["query_string"] else ""
    return scrub_value(request)


def scrub_event(event: dict[str, Any], hint: dict[str, Any] | None = None) -> dict[str, Any]:
    """Sentry's before_send (and before_send_transaction)."""
    event = dict(event)
    if isinstance(event.get("request"), dict):
        event["request"] = _scrub_request(event["request"])
    # Everything else (exception values, frames' vars, breadcrumbs, extra, contexts,
    # tags, the log message) goes through the same deep scrub.
    return {k: (v if k == "request" else scrub_value(v)) for k, v in event.items()}


def scrub_breadcrumb(
    crumb: dict[str, Any], hint: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """Sentry's before_breadcrumb: the federation call never becomes a breadcrumb (its
    query holds the credentials; its answer the sign-in token), the rest is scrubbed."""
    data = crumb.get("data") or {}
    url = str(data.get("url", "")) if isinstance(data, dict) else ""
    if url.rstrip("/").endswith("/federation"):
        return None
    return scrub_value(crumb)


def init_sentry(
    dsn: str, *, environment: str = "", release: str = "", traces_sample_rate: float = 0.0
) -> None:
    """Start the Sentry SDK (settings call this only when SENTRY_DSN is set)."""
    import sentry_sdk
    from sentry_sdk.integrations.celery import CeleryIntegration
    from sentry_sdk.integrations.django import DjangoIntegration

    sentry_sdk.init(
        dsn=dsn,
        environment=environment or None,
        release=release or None,
        # What the SDK collects at all: no user, cookies, bodies or query strings, only
        # harmless request headers; frames keep their variables (scrubbed below).
        data_collection={
            "user_info": False,
            "cookies": {"mode": "off"},
            "http_headers": {"request": {"mode": "allowlist", "terms": sorted(_KEPT_HEADERS)}},
            "http_bodies": [],
            "url_query_params": {"mode": "off"},
            "database_query_data": False,
            "queues": False,
        },
        traces_sample_rate=traces_sample_rate,
        integrations=[DjangoIntegration(), CeleryIntegration()],
        before_send=scrub_event,
        before_send_transaction=scrub_event,
        before_breadcrumb=scrub_breadcrumb,
    )
