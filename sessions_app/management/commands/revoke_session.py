"""`manage.py revoke_session ID --reason "..."` (or `--account ID` for all its sessions).

For operators at a shell during an incident; recorded as done by the system unless
`--as USERNAME` names who asked.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import PamAccount
from sessions_app import revocation
from sessions_app.models import ConsoleSession


class Command(BaseCommand):
    help = "Revoke a live console session (or every session of an account)."

    def add_arguments(self, parser: CommandParser) -> None:
        target = parser.add_mutually_exclusive_group(required=True)
        target.add_argument("session", nargs="?", type=int, help="console session id")
        target.add_argument("--account", type=int, help="revoke all sessions of this account")
        parser.add_argument("--reason", required=True, help="why (recorded and audited)")
        parser.add_argument("--as", dest="actor", help="username of who asked for it")

    def handle(self, *args: Any, **options: Any) -> None:
        actor = None
        if options["actor"]:
            actor = get_user_model().objects.filter(username=options["actor"]).first()
            if actor is None:
                raise CommandError(f'--as: no user "{options["actor"]}"')
        try:
            if options["account"] is not None:
                account = PamAccount.objects.filter(pk=options["account"]).first()
                if account is None:
                    raise CommandError(f"--account: no account {options['account']}")
                done = revocation.account_sessions_revoke(
                    account=account, actor=actor, reason=options["reason"]
                )
                self.stdout.write(
                    f"All sessions of {account} issued before {done.before:%c} revoked."
                )
                return
            session = ConsoleSession.objects.filter(pk=options["session"]).first()
            if session is None:
                raise CommandError(f"no console session {options['session']}")
            revocation.session_revoke(session=session, actor=actor, reason=options["reason"])
        except revocation.RevocationRefused as refused:
            raise CommandError(refused.message) from None
        except revocation.RevocationFailed as failed:
            raise CommandError(
                f"IAM did not take the revocation ({failed.error.code}: {failed.error.message});"
                " it is recorded and retried every minute."
            ) from None
        self.stdout.write(f"Console session {session.pk} revoked.")
