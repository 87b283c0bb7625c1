"""One function per `pam` command. Each takes the parsed arguments and the Context, and
returns the exit code; failures raise CliError (main.py prints them on one line)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TextIO
from urllib.parse import urlsplit

from . import config as config_file
from .accounts import list_accounts, resolve
from .client import Api, ApiError
from .config import is_loopback
from .errors import CliError, UsageError
from .output import Printable, left, local_time, table

CREDENTIAL_KEYS = ("Version", "AccessKeyId", "SecretAccessKey", "SessionToken", "Expiration")


@dataclass
class Context:
    env: Mapping[str, str] = field(default_factory=lambda: os.environ)
    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)

    def __post_init__(self) -> None:
        # Everything the command prints passes output.printable (escape sequences from
        # the server are shown, not obeyed).
        self.stdout = Printable(self.stdout)  # type: ignore[assignment]
        self.stderr = Printable(self.stderr)  # type: ignore[assignment]

    def api(self) -> Api:
        return Api(config_file.load(self.env))

    def say(self, message: str) -> None:
        """What the person should know, on stderr: stdout stays for the data asked for
        (a URL with --print, JSON, credential_process's answer)."""
        self.stderr.write(message + "\n")


def _post(api: Api, path: str, body: Mapping[str, Any] | None, missing: str) -> Any:
    """POST, with the server's 404 (no such object, or not one you see: the API never
    says which) said as what was named."""
    try:
        return api.post(path, body)
    except ApiError as error:
        if error.status == 404:
            raise UsageError(missing) from None
        raise


def _interactive(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


def _no_account(account: int) -> str:
    return f"no account with id {account} that you can see (`pam accounts` lists yours)"


# --- login -------------------------------------------------------------------------------


def login(args: argparse.Namespace, ctx: Context) -> int:
    """Check the URL and token against the server, then store them (0600)."""
    url = args.url
    if not url:
        if not _interactive(ctx.stdin):
            raise UsageError("URL: give the server's address: pam login https://pam.example.com")
        url = input("PAM server URL: ")
    url = config_file.check_url(url)
    if _interactive(ctx.stdin):
        import getpass  # here, not above: see console()

        token = getpass.getpass("API token (pam_..., not echoed): ")
    else:
        # Piped in (`pam login URL < token-file`): never as an argument, where `ps` and
        # the shell's history would show it.
        token = ctx.stdin.readline()
    token = config_file.check_token(token)
    new = config_file.Config(url=url, token=token)
    try:
        mine = list(Api(new).pages("tokens/"))
    except ApiError as refused:
        raise CliError(f"{url} refused the token: {refused.message}") from None
    this = next((t for t in mine if token.startswith(str(t.get("prefix") or "\0"))), None)
    path = config_file.save(new, ctx.env)
    ctx.say(f"Logged in to {url}; saved to {path} (readable only by you).")
    if this is not None:
        scope = this.get("scope", "?")
        ctx.say(
            f"Token {this.get('name', '?')!r}: scope {scope}, expires "
            f"{local_time(this.get('expires_at'))}."
        )
        if scope == "read":
            ctx.say(
                "Scope read lists accounts and sessions only: console, credentials, request "
                "and revoke need a token with scope access."
            )
    return 0


# --- accounts ----------------------------------------------------------------------------


def accounts(args: argparse.Namespace, ctx: Context) -> int:
    found = list_accounts(ctx.api())
    if not args.all:
        found = [a for a in found if a.granted]
    if args.json:
        rows = [{**a.__dict__, "path": a.path} for a in found]
        ctx.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if not found:
        ctx.say("No accounts granted to you." if not args.all else "No accounts you can see.")
        return 0
    rows = [
        [
            str(a.id),
            a.path,
            a.grant_kind or "not granted",
            a.duration,
            "yes" if a.require_mfa else "",
            "yes" if a.allow_cli_credentials else "",
            a.description.splitlines()[0] if a.description else "",
        ]
        for a in found
    ]
    table(ctx.stdout, ["ID", "ACCOUNT", "GRANT", "SESSION", "MFA", "CLI", "DESCRIPTION"], rows)
    return 0


# --- console -----------------------------------------------------------------------------


def _signin_url(granted: Any) -> str:
    """The answer's sign-in URL, if it is a web address to give the browser: https (http
    only on loopback: the local demo's stand-in), printable, no spaces.

    Python's webbrowser hands the URL to the browser command as an argument, so one
    starting with "-" would be an option to the browser (CPython gh-143930, fixed only
    after this 3.11); file: or javascript: would open what the server chose on this
    computer; http elsewhere would carry the sign-in token readable on the way. The URL
    is a credential: the refusal does not repeat it."""
    url = granted.get("signin_url") if isinstance(granted, dict) else None
    try:
        parts = urlsplit(url) if isinstance(url, str) else None
        host = parts.hostname if parts else None
    except ValueError:
        host = None
    if (
        not host
        or not (parts.scheme == "https" or (parts.scheme == "http" and is_loopback(host)))
        or not url.isprintable()
        or " " in url
    ):
        raise CliError(
            "the server's answer holds no sign-in URL to open (an https address): "
            "nothing was opened; is the URL `pam login` was given the PAM server's?"
        )
    return url


def console(args: argparse.Namespace, ctx: Context) -> int:
    """Access: a one-time console sign-in URL, opened in the browser."""
    api = ctx.api()
    account = resolve(api, args.account)
    body = {}
    if args.region is not None:
        body["region"] = args.region
    if args.service is not None:
        body["service"] = args.service
    granted = _post(api, f"accounts/{account}/access/", body, _no_account(account))
    # A bearer credential for 15 minutes: to the browser, or with --print to stdout for
    # the person to paste; never to stderr or a log.
    url = _signin_url(granted)
    where = " ".join(
        part for part in (granted.get("service") or "", granted.get("region") or "") if part
    )
    summary = (
        f"console session {granted['session_id']}"
        + (f", {where}" if where else "")
        + f", until {local_time(granted.get('expires_at'))}"
    )
    if args.print:
        ctx.stdout.write(url + "\n")
        ctx.say(f"Sign-in URL for {summary}: valid once, for 15 minutes.")
        return 0
    # Imported here: `pam credentials` runs before every `aws` command (the AWS CLI does
    # not cache it), and needs none of the browser machinery (bench/cli.py).
    import webbrowser

    if not webbrowser.open(url, new=2):
        raise CliError(
            "no web browser found to open the console (set BROWSER, or run again with "
            "--print and open the URL yourself)"
        )
    ctx.say(f"Opened the AWS Console in your browser ({summary}).")
    return 0


# --- credentials -------------------------------------------------------------------------


def credentials(args: argparse.Namespace, ctx: Context) -> int:
    """The AWS CLI's credential_process answer on stdout, and nothing else there."""
    api = ctx.api()
    account = resolve(api, args.account)
    answer = _post(api, f"accounts/{account}/credentials/", None, _no_account(account))
    if not isinstance(answer, dict) or answer.get("Version") != 1:
        raise CliError("the server's answer is not credential_process JSON (Version 1)")
    missing = [key for key in CREDENTIAL_KEYS if not answer.get(key)]
    if missing:
        raise CliError(f"the server's answer lacks {', '.join(missing)}")
    ctx.stdout.write(json.dumps({key: answer[key] for key in CREDENTIAL_KEYS}) + "\n")
    return 0


# --- request -----------------------------------------------------------------------------


def request(args: argparse.Namespace, ctx: Context) -> int:
    """Ask for a just-in-time window on an account (an eligible grant)."""
    api = ctx.api()
    account = resolve(api, args.account)
    body: dict[str, Any] = {"account": account, "reason": args.reason, "duration": args.duration}
    if args.ticket is not None:
        body["ticket"] = args.ticket
    if args.start is not None:
        body["starts_at"] = args.start
    made = api.post("requests/", body)
    if args.json:
        ctx.stdout.write(json.dumps(made, indent=2) + "\n")
        return 0
    status = made.get("status", "?")
    line = f"Request {made.get('id')} on {made.get('account_name', account)}: {status}"
    if status == "pending":
        needed = made.get("approvals_required") or 1
        line += f", waiting for {needed} approval{'s' if needed != 1 else ''}"
    if made.get("starts_at"):
        line += f"; window {local_time(made['starts_at'])} to {local_time(made.get('ends_at'))}"
    ctx.stdout.write(line + ".\n")
    return 0


# --- sessions ----------------------------------------------------------------------------


def sessions(args: argparse.Namespace, ctx: Context) -> int:
    api = ctx.api()
    params: dict[str, Any] = {"limit": min(args.limit, 1000)}
    if args.status:
        params["status"] = args.status
    if args.account:
        params["account"] = resolve(api, args.account)
    rows = list(api.pages("sessions/", params, limit=args.limit))
    if args.json:
        ctx.stdout.write(json.dumps(rows, indent=2) + "\n")
        return 0
    if not rows:
        ctx.say("No sessions.")
        return 0
    table(
        ctx.stdout,
        ["ID", "STARTED", "USER", "ACCOUNT", "KIND", "STATUS", "ENDS"],
        [
            [
                str(s["id"]),
                local_time(s.get("created_at")),
                s.get("user_email", ""),
                f"{s.get('project_name')}/{s.get('resource_name')}/{s.get('account_name')}",
                s.get("kind", "console"),
                s.get("status", ""),
                _ends(s),
            ]
            for s in rows
        ],
    )
    return 0


def _ends(session: dict[str, Any]) -> str:
    status = session.get("status")
    if status == "active":
        return f"{local_time(session.get('expires_at'))} ({left(session.get('expires_at'))})"
    if status == "failed":
        return f"{session.get('failure_step', '')} {session.get('error_code', '')}".strip()
    if status == "revoked":
        by = session.get("revoked_by_name") or "?"
        return f"{local_time(session.get('revoked_at'))} by {by}"
    return local_time(session.get("ended_at"))


# --- revoke ------------------------------------------------------------------------------


def revoke(args: argparse.Namespace, ctx: Context) -> int:
    """End a live session: its credentials are denied on its Target Role (within
    minutes, console included)."""
    reason = args.reason
    if reason is None:
        if not _interactive(ctx.stdin):
            raise UsageError("--reason: say why the session is being revoked (it is audited)")
        reason = input("Why revoke it (audited)? ")
    if not reason.strip():
        raise UsageError("--reason: say why the session is being revoked (it is audited)")
    done = _post(
        ctx.api(),
        f"sessions/{args.session}/revoke/",
        {"reason": reason},
        f"no session {args.session} that you can see",
    )
    ctx.stdout.write(
        f"Session {done.get('id', args.session)} ({done.get('account_name', '?')}, "
        f"{done.get('user_email', '?')}): {done.get('status', '?')}.\n"
    )
    if done.get("revocation_error"):
        ctx.say(f"IAM has not taken it yet (retried): {done['revocation_error']}")
    return 0
