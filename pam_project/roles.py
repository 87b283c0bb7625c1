"""Project roles (SPEC "Separation of duties"): what a person may do in one project.

The rows are resources.ProjectRole; this bottom layer reaches them through the user
model's reverse relation (`project_roles`), never an import, so every app's queryset can
narrow by project in one place (querysets.py).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.core.exceptions import PermissionDenied, ValidationError
from django.db import models
from django.db.models import Q, QuerySet


class Role(models.TextChoices):
    # Resources, accounts, grants, approvers and roles of the project.
    ADMIN = "admin", "Admin"
    # Decides requests on the project's accounts (unless an account names its own).
    APPROVER = "approver", "Approver"
    # Reads the project's history: sessions, requests, audit events.
    AUDITOR = "auditor", "Auditor"


ALL_ROLES = frozenset(Role.values)


def _role_model() -> type[models.Model]:
    return get_user_model()._meta.get_field("project_roles").related_model


def role_project_ids(
    user: AbstractBaseUser | AnonymousUser, roles: Iterable[str] = ALL_ROLES
) -> QuerySet:
    """Ids of the projects where `user` holds one of `roles`, directly or through one of
    their groups: a subquery (`project_id__in=...`), never a list in memory."""
    rows = _role_model().objects
    if not user.is_authenticated or not user.is_active:
        return rows.none().values("project_id")
    return rows.filter(Q(user=user) | Q(group__user=user), role__in=list(roles)).values(
        "project_id"
    )


def holds_role(
    user: AbstractBaseUser | AnonymousUser,
    roles: Iterable[str] = ALL_ROLES,
    project_id: int | None = None,
) -> bool:
    """Whether `user` holds one of `roles` in that project (in any project: None)."""
    if not user.is_authenticated or not user.is_active:
        return False
    rows = _role_model().objects.filter(Q(user=user) | Q(group__user=user), role__in=list(roles))
    if project_id is not None:
        rows = rows.filter(project_id=project_id)
    return rows.exists()


def administers(user: AbstractBaseUser | AnonymousUser, project_id: int | None = None) -> bool:
    """A superuser, or an admin of that project (of any project: None)."""
    if not user.is_authenticated or not user.is_active:
        return False
    return user.is_superuser or holds_role(user, [Role.ADMIN], project_id)


def names_self(actor: Any, *, user: Any = None, group: Any = None) -> bool:
    """Whether a grant, approver or role for `user` / `group` would benefit `actor`
    themself: it names them, or a group they are in."""
    if actor is None or not getattr(actor, "pk", None):
        return False  # a command or the demo seed, acting as nobody in particular
    if user is not None and getattr(user, "pk", user) == actor.pk:
        return True
    if group is not None:
        group_id = getattr(group, "pk", group)
        return actor.groups.filter(pk=group_id).exists()
    return False


# Who may do what on the rows of their projects (querysets' `role_actions`).
ADMINS = frozenset({Role.ADMIN})
# Configuration (projects, resources, accounts, grants, roles) is read by its admins and
# auditors; approvers see the accounts they decide on.
CONFIG_READERS = frozenset({Role.ADMIN, Role.AUDITOR})
# History (sessions, requests) is read by everyone with a role in the project: auditors
# to audit, approvers to decide and revoke, admins to run it.
HISTORY_READERS = ALL_ROLES
CONFIG_ROLE_ACTIONS = {"view": CONFIG_READERS, "change": ADMINS, "delete": ADMINS}


def require_admin(actor: Any, project_id: int | None, *, what: str) -> None:
    """Refuse (PermissionDenied: a 403 in the admin and the API) unless `actor` administers
    the project. The forms offer only such projects; this holds for every other path.
    `actor=None` is a command or the demo seed, which act for the operator."""
    if actor is None:
        return
    if not administers(actor, project_id):
        raise PermissionDenied(f"Only an admin of this project may {what}.")


def require_superuser(actor: Any, *, what: str) -> None:
    if actor is None:
        return
    if not (actor.is_active and actor.is_superuser):
        raise PermissionDenied(f"Only a superuser may {what}.")


def refuse_self(actor: Any, *, what: str, field: str, user: Any = None, group: Any = None) -> None:
    """Nobody confers access on themselves (SPEC): a grant, approver or role naming the
    actor, or a group they are in, is refused on that field, superusers included."""
    if names_self(actor, user=user, group=group):
        holder = (
            "yourself"
            if user is not None and names_self(actor, user=user)
            else ("a group you are in")
        )
        raise ValidationError(
            {field: f"You cannot {what} {holder}: another admin must do it."},
            code="self_conferred",
        )
