from __future__ import annotations

import functools
from typing import Any

from django.apps import AppConfig


def _record_commands_as_cli() -> None:
    """Every management command runs under the channel `cli`: manage.py and django-admin
    (run_from_argv), `call_command` (tests, other commands) and the demo seed (a
    `manage.py shell -c`) all go through BaseCommand.execute, as do the commands that
    override it (createsuperuser) through super(). Requests served by `runserver` set
    their own channel (AuditViaMiddleware); its request threads start with a fresh
    context anyway."""
    from django.core.management.base import BaseCommand

    from .context import audit_context

    execute = BaseCommand.execute
    if getattr(execute, "_audit_cli", False):
        return

    @functools.wraps(execute)
    def execute_as_cli(self: BaseCommand, *args: Any, **options: Any) -> Any:
        with audit_context(via="cli", actor=None):
            return execute(self, *args, **options)

    execute_as_cli._audit_cli = True  # type: ignore[attr-defined]
    BaseCommand.execute = execute_as_cli  # type: ignore[method-assign]


class AuditConfig(AppConfig):
    name = "audit"
    verbose_name = "Audit log"

    def ready(self) -> None:
        _record_commands_as_cli()
