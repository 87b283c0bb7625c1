"""`pam`: the command line. `pam --help`, `pam <command> --help`."""

from __future__ import annotations

import argparse
from collections.abc import Sequence

from . import __version__, commands
from .errors import EXIT_FAILED, EXIT_USAGE, CliError

EPILOG = """\
ACCOUNT is an id (as `pam accounts` lists), or a name: account, resource/account or
project/resource/account. Configuration: `pam login` stores the server URL and your
API token in $XDG_CONFIG_HOME/pam/config.json (~/.config/pam/config.json), readable
only by you; PAM_URL and PAM_TOKEN override it.

For the AWS CLI and SDKs (accounts with allow_cli_credentials), in ~/.aws/config:
  [profile readonly]
  credential_process = pam credentials Demo/sandbox/readonly
"""


def _session_id(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a session id (a number)")
    return int(text)


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number")
    return int(text)


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(
        prog="pam",
        description="AWS Console PAM from the command line: your accounts, the console, "
        "CLI credentials, requests and sessions.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    top.add_argument("--version", action="version", version=f"pam {__version__}")
    sub = top.add_subparsers(dest="command", metavar="COMMAND", required=True)

    login = sub.add_parser(
        "login",
        help="store the server URL and your API token",
        description="Check the URL and token against the server, then store them "
        "(readable only by you). The token is asked for without echo, or read from stdin "
        "when it is not a terminal: pam login URL < token-file.",
    )
    login.add_argument("url", nargs="?", help="the server, e.g. https://pam.example.com")
    login.set_defaults(run=commands.login)

    accounts = sub.add_parser("accounts", help="list the accounts you may access")
    accounts.add_argument(
        "--all", action="store_true", help="also those you see without a grant (admins)"
    )
    accounts.add_argument("--json", action="store_true", help="JSON instead of a table")
    accounts.set_defaults(run=commands.accounts)

    console = sub.add_parser(
        "console",
        help="open the AWS Console for an account in your browser",
        description="Access: asks the server for a one-time console sign-in URL and "
        "opens it in your browser ($BROWSER, or the system's). The URL is a credential "
        "for 15 minutes: it is only printed with --print.",
    )
    console.add_argument("account", metavar="ACCOUNT")
    console.add_argument("--region", help="the region to open (one the account allows)")
    console.add_argument("--service", help="the console service to open, e.g. ec2")
    console.add_argument(
        "--print", action="store_true", help="print the sign-in URL (stdout) instead of opening it"
    )
    console.set_defaults(run=commands.console)

    creds = sub.add_parser(
        "credentials",
        help="temporary AWS keys for credential_process (accounts that allow it)",
        description="Prints the AWS CLI's credential_process JSON (Version 1, "
        "AccessKeyId, SecretAccessKey, SessionToken, Expiration) for an account with "
        "allow_cli_credentials on. Each call is one recorded session of kind credentials.",
    )
    creds.add_argument("account", metavar="ACCOUNT")
    creds.set_defaults(run=commands.credentials)

    request = sub.add_parser("request", help="ask for a just-in-time access window on an account")
    request.add_argument("account", metavar="ACCOUNT")
    request.add_argument("--reason", required=True, help="why (shown to the approvers)")
    request.add_argument(
        "--duration", required=True, help="the window's length: 15m up to the account's max"
    )
    request.add_argument("--ticket", help="a ticket reference, e.g. INC-1234")
    request.add_argument(
        "--start", help="when the window starts (ISO 8601, at most 7 days ahead); default: now"
    )
    request.add_argument("--json", action="store_true", help="print the request as JSON")
    request.set_defaults(run=commands.request)

    sessions = sub.add_parser("sessions", help="list your console sessions (ops: everyone's)")
    sessions.add_argument("--account", metavar="ACCOUNT", help="only this account's")
    sessions.add_argument("--status", choices=["pending", "active", "expired", "failed", "revoked"])
    sessions.add_argument(
        "--limit", type=_positive, default=20, help="how many, newest first (default 20)"
    )
    sessions.add_argument("--json", action="store_true", help="JSON instead of a table")
    sessions.set_defaults(run=commands.sessions)

    revoke = sub.add_parser(
        "revoke",
        help="revoke a live session",
        description="Deny the session's credentials on its Target Role: within minutes "
        "nothing it opened works, console included.",
    )
    revoke.add_argument("session", metavar="SESSION", type=_session_id, help="its id")
    revoke.add_argument("--reason", help="why (audited); asked for when left out")
    revoke.set_defaults(run=commands.revoke)
    return top


def main(argv: Sequence[str] | None = None, ctx: commands.Context | None = None) -> int:
    args = parser().parse_args(argv)
    ctx = ctx or commands.Context()
    try:
        return args.run(args, ctx)
    except CliError as error:
        ctx.stderr.write(f"pam: {error.message}\n")
        return error.exit_code
    except (KeyError, IndexError, TypeError, ValueError, AttributeError) as error:
        # JSON of another shape than the API's (a field missing, a list for an object):
        # the server is not the PAM server pam knows, or a hostile one. Its content is
        # not repeated (nor the traceback's): only what kind of surprise it was.
        ctx.stderr.write(
            f"pam: the server's answer is not what pam {__version__} expects "
            f"({type(error).__name__}): is the URL `pam login` was given the PAM server's?\n"
        )
        return EXIT_FAILED
    except KeyboardInterrupt:
        ctx.stderr.write("\n")
        return 130
    except EOFError:
        ctx.stderr.write("pam: no input\n")
        return EXIT_USAGE
