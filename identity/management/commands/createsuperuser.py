"""Django's createsuperuser, refusing an email another user has with a clear message.

Emails are unique case-insensitively (identity/emails.py); Django's command knows nothing
of the index, so without this a clash ends in an IntegrityError traceback after every
prompt has been answered.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.management.commands import createsuperuser
from django.core.management.base import CommandError
from django.db import IntegrityError

from identity.emails import clash_message


class Command(createsuperuser.Command):
    def handle(self, *args: Any, **options: Any) -> None:
        email = options.get("email") or ""
        problem = clash_message(email, get_user_model().objects.all())
        if problem:
            raise CommandError(problem)
        try:
            super().handle(*args, **options)
        except IntegrityError as exc:
            # Typed at the prompt, or taken meanwhile.
            raise CommandError(
                "Another user already has this email (each email names one person): "
                "choose another, or clear it."
            ) from exc
