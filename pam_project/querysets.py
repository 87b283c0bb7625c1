"""Who sees what, decided in one place (NetBox's `RestrictedQuerySet.restrict()` idea).

Every model a person can list has a RestrictedQuerySet as its manager, and every page,
API endpoint and admin list reads through `restrict(user, action)`:

- nobody signed in, or a deactivated user: nothing;
- the model permission for the action (`accounts.view_pamaccount`, ...): everything;
- otherwise, for viewing, what the model's own rule `own(user)` shows a person without
  that permission (their grants, their sessions, ...); for any other action, nothing.

An object outside the result is a 404 wherever it is asked for, never a 403 that
confirms it exists. Per-project roles (separation of duties) are added here, once.
"""

from __future__ import annotations

from typing import Self

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

VIEW = "view"


def may(user: AbstractBaseUser | AnonymousUser, action: str, model: type[models.Model]) -> bool:
    """Whether `user` holds the model permission for `action` on every row of `model`."""
    if not user.is_authenticated or not user.is_active:
        return False
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")


class RestrictedQuerySet(models.QuerySet):
    def restrict(self, user: AbstractBaseUser | AnonymousUser, action: str = VIEW) -> Self:
        """The rows `user` may `action` ("view", "change", "delete")."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if may(user, action, self.model):
            return self
        if action != VIEW:
            return self.none()
        return self.own(user)

    def own(self, user: AbstractBaseUser) -> Self:
        """What a signed-in person without the model permission sees. Nothing, unless
        the model says otherwise."""
        return self.none()
