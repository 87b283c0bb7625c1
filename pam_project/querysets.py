"""Who sees and changes what, decided in one place (NetBox's `RestrictedQuerySet.restrict()`
idea, with per-project roles: SPEC "Separation of duties").

Every model a person can list has a RestrictedQuerySet as its manager, and every page,
API endpoint and admin list reads through `restrict(user, action)`:

- nobody signed in, or a deactivated user: nothing;
- a superuser: everything;
- a global model permission (`sessions_app.view_consolesession`, ...) for viewing, or
  for one of the model's `global_actions` (revoke, decide): everything. For writing
  configuration a global permission is not enough: only project admins write, so
  nobody reaches beyond their projects by holding Django's change permission;
- the rows of the projects where the user holds a role the model lets do the action
  (`role_actions`; the model says how it reaches its project: `project_path`);
- for viewing, also what the model's own rule `own(user)` shows a person (their grants,
  their sessions, ...).

An object outside the result is a 404 wherever it is asked for, never a 403 that
confirms it exists.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Self

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from .roles import administers, holds_role, role_project_ids

VIEW = "view"


def may(user: AbstractBaseUser | AnonymousUser, action: str, model: type[models.Model]) -> bool:
    """Whether `user` holds the model permission for `action` on every row of `model`."""
    if not user.is_authenticated or not user.is_active:
        return False
    opts = model._meta
    return user.has_perm(f"{opts.app_label}.{action}_{opts.model_name}")


class RestrictedQuerySet(models.QuerySet):
    # The lookup from a row to its project's id ("resource__project_id"); None: the model
    # belongs to no project (tokens, users).
    project_path: str | None = None
    # Which project roles may do an action on the rows of their projects.
    role_actions: Mapping[str, frozenset[str]] = {}
    # Actions a global model permission allows everywhere besides viewing (the revoke
    # permission of an ops team, say). Configuration writes are never among them.
    global_actions: frozenset[str] = frozenset()

    def restrict(self, user: AbstractBaseUser | AnonymousUser, action: str = VIEW) -> Self:
        """The rows `user` may `action` ("view", "change", "delete", or a model's own)."""
        if not user.is_authenticated or not user.is_active:
            return self.none()
        if user.is_superuser:
            return self
        if (action == VIEW or action in self.global_actions) and may(user, action, self.model):
            return self
        rows = self.none()
        roles = self.role_actions.get(action)
        if roles and self.project_path:
            rows = self.in_projects(role_project_ids(user, roles))
        if action == VIEW:
            rows = rows | self.own(user)
        return rows

    def in_projects(self, project_ids: models.QuerySet) -> Self:
        return self.filter(**{f"{self.project_path}__in": project_ids})

    def own(self, user: AbstractBaseUser) -> Self:
        """What a signed-in person sees without any role or permission. Nothing, unless
        the model says otherwise."""
        return self.none()

    def reaches_any(self, user: AbstractBaseUser | AnonymousUser, action: str = VIEW) -> bool:
        """Whether `user` may `action` some row of this model, now or once one exists (the
        admin's "may this person open this list at all"): cheaper than a query of rows."""
        if not user.is_authenticated or not user.is_active:
            return False
        if user.is_superuser:
            return True
        if (action == VIEW or action in self.global_actions) and may(user, action, self.model):
            return True
        roles = self.role_actions.get(action)
        return bool(roles and self.project_path and holds_role(user, roles))


def project_id_of(instance: models.Model) -> int | None:
    """The id of the project a row belongs to, by its queryset's `project_path`
    ("resource__project_id" reads instance.resource.project_id); None for rows of no
    project (users, tokens). The audit log records it, so project auditors see their
    projects' events."""
    manager = type(instance)._default_manager
    path = getattr(getattr(manager, "_queryset_class", None), "project_path", None)
    if not path:
        return None
    value: object = instance
    for part in path.split("__"):
        value = getattr(value, part, None)
        if value is None:
            return None
    return value if isinstance(value, int) else None


__all__ = ["VIEW", "RestrictedQuerySet", "administers", "may", "project_id_of"]
