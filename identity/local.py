"""Password sign-in, per PAM_LOCAL_LOGIN (SPEC "Identity").

With an IdP set, people sign in through it; passwords stay for the first admin and for
break-glass when the IdP is down, so by default only superusers may use one. django-axes
still guards this path (its backend comes first in AUTHENTICATION_BACKENDS).
"""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.backends import ModelBackend
from django.contrib.auth.base_user import AbstractBaseUser

ALL = "all"
SUPERUSERS = "superusers"
OFF = "off"
MODES = (ALL, SUPERUSERS, OFF)


def password_allowed(user: AbstractBaseUser) -> bool:
    mode = settings.PAM_LOCAL_LOGIN
    if mode == ALL:
        return True
    if mode == SUPERUSERS:
        return bool(getattr(user, "is_superuser", False))
    return False


class LocalPasswordBackend(ModelBackend):
    """Django's ModelBackend, refusing a password the policy does not allow.

    Also applies to sessions signed in by password before the policy changed: Django
    asks `user_can_authenticate` again when it loads the session's user.
    """

    def user_can_authenticate(self, user: AbstractBaseUser | None) -> bool:
        return super().user_can_authenticate(user) and password_allowed(user)
