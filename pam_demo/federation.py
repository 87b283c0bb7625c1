"""A local stand-in for the AWS federation endpoint and console, for the demo and tests.

It behaves like the real endpoint where the app depends on it:
- `Action=getSigninToken` takes the Session JSON and answers {"SigninToken": ...};
  like AWS, it rejects `SessionDuration` with role-chained credentials (HTTP 400).
- `Action=login` accepts a token once, within 15 minutes, and "signs in": it redirects
  to a small console page that shows which role, session name and expiry the token stood
  for and its Destination (the region and service the real console would open), so a
  person (or a browser test) can see what Access produced; once the session is revoked
  (a deny in the role's PamRevokedSessions policy covers it), the page says access is
  denied, as the real console's calls are.
- `/oauth?Action=logout&redirect_uri=...` signs out, as the console's own sign-out does:
  every console page it served says so from then on (this stand-in serves one browser),
  and it sends the browser on to `redirect_uri` when that is one of its own addresses
  (AWS only goes on to its own sign-in addresses). `events` records the sign-ins and
  sign-outs in order, for tests of "sign out of the previous console first".

It is only reachable when the demo or a test starts it (see pam_demo.servers); nothing in
the app imports it, and production settings refuse to point PAM_SIGNIN_URL at it.
"""

from __future__ import annotations

import html
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from urllib.parse import parse_qs

TOKEN_LIFETIME_SECONDS = 15 * 60
# Marks every page of the stand-in, so settings can recognise it (see settings checks).
STANDIN_HEADER = ("X-PAM-Stand-In", "federation")


@dataclass
class SignIn:
    access_key_id: str
    role_arn: str
    session_name: str
    expires_at: str
    issued_at: float
    # When the credentials were exchanged (just after AWS issued them), for revocation.
    exchanged_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    used: bool = False
    issuer: str = ""
    # The login's Destination: where the real console would open (region, service).
    destination: str = ""
    signed_out: bool = False


@dataclass
class FederationStandIn:
    """A WSGI app. `describe(access_key_id)` names the role behind a set of credentials."""

    describe: Callable[[str], dict[str, str]] | None = None
    # Names the deny that revoked these credentials, if any (pam_demo.aws_standin).
    denied: Callable[[str, datetime], str | None] | None = None
    tokens: dict[str, SignIn] = field(default_factory=dict)
    consoles: dict[str, SignIn] = field(default_factory=dict)
    token_requests: list[dict[str, str]] = field(default_factory=list)
    events: list[str] = field(default_factory=list)  # "login", "logout", in order
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        query = {k: v[0] for k, v in parse_qs(environ.get("QUERY_STRING", "")).items()}
        if path == "/federation" and query.get("Action") == "getSigninToken":
            return self._get_signin_token(query, start_response)
        if path == "/federation" and query.get("Action") == "login":
            return self._login(query, start_response)
        if path == "/oauth" and query.get("Action") == "logout":
            return self._logout(query, environ, start_response)
        if path.startswith("/console/"):
            return self._console(path.removeprefix("/console/"), start_response)
        return _answer(start_response, "404 Not Found", "text/plain", "Not found")

    def _get_signin_token(self, query: dict[str, str], start_response: Callable) -> list[bytes]:
        self.token_requests.append({k: v for k, v in query.items() if k != "Session"})
        if "SessionDuration" in query:
            # AWS: "SessionDuration" is not allowed for role-chained credentials.
            return _answer(
                start_response, "400 Bad Request", "text/plain", "Invalid credentials parameter"
            )
        try:
            session = json.loads(query.get("Session", ""))
            access_key_id = session["sessionId"]
            if not (session["sessionKey"] and session["sessionToken"]):
                raise ValueError
        except (ValueError, KeyError, TypeError):
            return _answer(
                start_response, "400 Bad Request", "text/plain", "Invalid credentials parameter"
            )
        info = self.describe(access_key_id) if self.describe else {}
        token = secrets.token_urlsafe(48)
        with self._lock:
            self.tokens[token] = SignIn(
                access_key_id=access_key_id,
                role_arn=info.get("role_arn", "(unknown)"),
                session_name=info.get("session_name", "(unknown)"),
                expires_at=info.get("expires_at", "(unknown)"),
                issued_at=time.monotonic(),
            )
        return _answer(
            start_response, "200 OK", "application/json", json.dumps({"SigninToken": token})
        )

    def _login(self, query: dict[str, str], start_response: Callable) -> list[bytes]:
        with self._lock:
            sign_in = self.tokens.get(query.get("SigninToken", ""))
            fresh = sign_in and time.monotonic() - sign_in.issued_at < TOKEN_LIFETIME_SECONDS
            if not sign_in or sign_in.used or not fresh:
                return _answer(
                    start_response,
                    "400 Bad Request",
                    "text/html",
                    _page(
                        "Sign-in link not valid",
                        "<p>This sign-in link was already used or has expired."
                        " Go back to PAM and click Access again.</p>",
                    ),
                )
            sign_in.used = True
            sign_in.issuer = query.get("Issuer", "")
            sign_in.destination = query.get("Destination", "")
            console_id = secrets.token_urlsafe(16)
            self.consoles[console_id] = sign_in
            self.events.append("login")
        start_response(
            "302 Found",
            [
                ("Location", f"/console/{console_id}"),
                STANDIN_HEADER,
                ("Referrer-Policy", "no-referrer"),
            ],
        )
        return [b""]

    def _logout(
        self, query: dict[str, str], environ: dict, start_response: Callable
    ) -> list[bytes]:
        with self._lock:
            self.events.append("logout")
            for sign_in in self.consoles.values():
                sign_in.signed_out = True
        then = query.get("redirect_uri", "")
        own = f"{environ.get('wsgi.url_scheme', 'http')}://{environ.get('HTTP_HOST', '')}/"
        if not then.startswith(own):
            return _answer(
                start_response,
                "200 OK",
                "text/html",
                _page("Signed out", "<p id='signed-out'>You have signed out of the console.</p>"),
            )
        start_response(
            "302 Found", [("Location", then), STANDIN_HEADER, ("Referrer-Policy", "no-referrer")]
        )
        return [b""]

    def _console(self, console_id: str, start_response: Callable) -> list[bytes]:
        sign_in = self.consoles.get(console_id)
        if sign_in is None:
            return _answer(start_response, "404 Not Found", "text/plain", "Not found")
        if sign_in.signed_out:
            body = "<p id='signed-out'>You signed out of this console session.</p>"
            return _answer(
                start_response, "401 Unauthorized", "text/html", _page("Signed out", body)
            )
        issuer = sign_in.issuer
        role_name = sign_in.role_arn.rsplit("/", 1)[-1]
        sid = self.denied(sign_in.access_key_id, sign_in.exchanged_at) if self.denied else None
        if sid:
            # What the real console shows once a revocation has propagated: every call
            # of the session is denied.
            body = (
                f"<p id='denied'>Access denied: this session's credentials were revoked "
                f"(policy PamRevokedSessions, statement {html.escape(sid)}).</p>"
                f"<p>Role <span id='role'>{html.escape(role_name)}</span>, session "
                f"<span id='session-name'>{html.escape(sign_in.session_name)}</span>.</p>"
                + (f"<p><a href='{html.escape(issuer)}'>Back to PAM</a></p>" if issuer else "")
            )
            return _answer(
                start_response, "403 Forbidden", "text/html", _page("Access denied", body)
            )
        body = (
            "<p class='note'>Demo stand-in for the AWS Management Console. In production "
            "this tab is the real console, signed in as the role below.</p>"
            "<dl>"
            f"<dt>Role</dt><dd id='role'>{html.escape(role_name)}</dd>"
            f"<dt>Role ARN</dt><dd id='role-arn'>{html.escape(sign_in.role_arn)}</dd>"
            f"<dt>Session name</dt><dd id='session-name'>{html.escape(sign_in.session_name)}</dd>"
            f"<dt>Expires</dt><dd id='expires'>{html.escape(sign_in.expires_at)}</dd>"
            "<dt>Access key id</dt>"
            f"<dd id='access-key-id'>{html.escape(sign_in.access_key_id)}</dd>"
            "<dt>Opens (Destination)</dt>"
            f"<dd id='destination'>{html.escape(sign_in.destination)}</dd>"
            "</dl>" + (f"<p><a href='{html.escape(issuer)}'>Back to PAM</a></p>" if issuer else "")
        )
        return _answer(
            start_response,
            "200 OK",
            "text/html",
            _page(f"AWS Console (stand-in): {role_name}", body),
        )


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>"
        "body{font-family:system-ui,sans-serif;margin:0;background:#f2f3f3;color:#16191f}"
        "header{background:#232f3e;color:#fff;padding:.8rem 1.5rem;font-weight:700}"
        "main{max-width:44rem;margin:1.5rem auto;background:#fff;padding:1.5rem;"
        "border-radius:8px;border:1px solid #d5dbdb}"
        "dt{font-weight:600;margin-top:.6rem}dd{margin:0;word-break:break-all}"
        ".note{background:#fff7e0;padding:.6rem;border-radius:4px}"
        "</style></head><body><header>AWS Management Console · demo stand-in</header>"
        f"<main><h1>{html.escape(title)}</h1>{body}</main></body></html>"
    )


def _answer(start_response: Callable, status: str, content_type: str, text: str) -> list[bytes]:
    body = text.encode()
    start_response(
        status,
        [
            ("Content-Type", f"{content_type}; charset=utf-8"),
            ("Content-Length", str(len(body))),
            STANDIN_HEADER,
            ("Cache-Control", "no-store"),
        ],
    )
    return [body]
