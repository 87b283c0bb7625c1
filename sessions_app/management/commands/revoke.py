"""`manage.py revoke ID [ID ...] --reason "..."`, or `--account ID` (every session of its
Target Role), or `--user USERNAME` (all their live sessions).

For operators at a shell during an incident; recorded as done by the system unless
`--as USERNAME` names who asked. Exits non-zero if anything was not revoked.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser

from accounts.models import PamAccount
from sessions_app import revocation
from sessions_app.models import ConsoleSession, Status


class Command(BaseCommand):
    help = "Revoke live console sessions: by id, every session of an account, or of a user."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("sessions", nargs="*", type=int, help="console session ids")
        parser.add_argument("--account", type=int, help="revoke all sessions of this account")
        parser.add_argument("--user", help="revoke all live sessions of this username")
        parser.add_argument("--reason", required=True, help="why (recorded and audited)")
        parser.add_argument("--as", dest="actor", help="username of who asked for it")

    def handle(self, *args: Any, **options: Any) -> None:
        chosen = [bool(options["sessions"]), options["account"] is not None, bool(options["user"])]
        if sum(chosen) != 1:
            raise CommandError("Name session ids, or --account ID, or --user USERNAME (one).")
        actor = self._user(options["actor"], "--as") if options["actor"] else None
        reason = options["reason"]
        if options["account"] is not None:
            account = PamAccount.objects.filter(pk=options["account"]).first()
            if account is None:
                raise CommandError(f"--account: no account {options['account']}")
            try:
                done = revocation.account_sessions_revoke(
                    account=account, actor=actor, reason=reason
                )
            except (revocation.RevocationRefused, revocation.RevocationFailed) as exc:
                raise CommandError(_why(exc)) from None
            self.stdout.write(f"All sessions of {account} issued before {done.before:%c} revoked.")
            return
        if options["user"]:
            user = self._user(options["user"], "--user")
            sessions = list(ConsoleSession.objects.filter(user=user, status=Status.ACTIVE))
            if not sessions:
                self.stdout.write(f"{user.get_username()} has no live console session.")
                return
        else:
            found = ConsoleSession.objects.in_bulk(options["sessions"])
            missing = [pk for pk in options["sessions"] if pk not in found]
            if missing:
                raise CommandError(f"no console session {', '.join(map(str, missing))}")
            sessions = [found[pk] for pk in options["sessions"]]
        failed = 0
        for session in sessions:
            try:
                revocation.session_revoke(session=session, actor=actor, reason=reason)
            except (revocation.RevocationRefused, revocation.RevocationFailed) as exc:
                failed += 1
                self.stderr.write(f"Console session {session.pk} NOT revoked: {_why(exc)}")
            else:
                self.stdout.write(f"Console session {session.pk} revoked.")
        if failed:
            raise CommandError(f"{failed} of {len(sessions)} not revoked (see above).")

    def _user(self, username: str, option: str) -> Any:
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f'{option}: no user "{username}"')
        return user


def _why(exc: Exception) -> str:
    if isinstance(exc, revocation.RevocationFailed):
        return (
            f"IAM did not take the revocation ({exc.error.code}: {exc.error.message}); it "
            "is recorded and retried every minute."
        )
    return getattr(exc, "message", str(exc))
