"""Reads of PAM accounts that views, the API and the admin share."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import QuerySet

from pam_project.db import Columns
from resources.models import AwsIamResource, Project

from .models import AccountGrant, GrantKind, PamAccount


def accounts_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[PamAccount]:
    """The accounts `user` is granted (and so may Access), with their resource and project."""
    return PamAccount.objects.granted_to(user).select_related("resource__project")


_ACCOUNT = Columns(PamAccount, "a")
_RESOURCE = Columns(AwsIamResource, "r")
_PROJECT = Columns(Project, "p")


def _granted_account_sql() -> str:
    memberships = get_user_model().groups.through._meta.db_table
    return (
        f"SELECT {_ACCOUNT.select(connection)}, {_RESOURCE.select(connection)}, "  # noqa: S608 (our own tables and columns)
        f"{_PROJECT.select(connection)}, g.standing "
        f"FROM {PamAccount._meta.db_table} a "
        f"JOIN {AwsIamResource._meta.db_table} r ON r.id = a.resource_id "
        f"JOIN {Project._meta.db_table} p ON p.id = r.project_id "
        # One row for the grants that name the user, directly or through a group:
        # standing if any of them is; no grant, no row.
        "JOIN (SELECT MAX(CASE WHEN kind = %s THEN 1 ELSE 0 END) AS standing "
        f"FROM {AccountGrant._meta.db_table} WHERE account_id = %s AND (user_id = %s OR "
        f"group_id IN (SELECT group_id FROM {memberships} WHERE user_id = %s)) "
        "HAVING COUNT(*) > 0) g ON TRUE "
        "WHERE a.id = %s"
    )


_sql: dict[str, str] = {}


def granted_account(
    user: AbstractBaseUser | AnonymousUser, account_id: int | str
) -> PamAccount | None:
    """`accounts_for_user(user).filter(pk=account_id).first()`, with its `standing`
    annotation, resource and project, in one plain statement.

    The Access chain's grant check runs on every click, and the ORM took 1.6 ms to build
    and compile the queryset's two EXISTS subqueries and joins, and PostgreSQL longer to
    plan them than to run them (bench/access.py). Held to accounts_for_user by
    tests/test_hot_path_sql.py for every way a grant can name a person."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return None
    try:
        account_id = int(account_id)
    except (TypeError, ValueError):
        return None
    if not 0 < account_id < 2**63:  # beyond a bigint: no such row (the ORM says the same)
        return None
    sql = _sql.get(connection.vendor)
    if sql is None:
        sql = _sql[connection.vendor] = _granted_account_sql()
    with connection.cursor() as cursor:
        cursor.execute(sql, [GrantKind.STANDING.value, account_id, user.pk, user.pk, account_id])
        row = cursor.fetchone()
    if row is None:
        return None
    account = _ACCOUNT.instance(row, 0, connection)
    resource = _RESOURCE.instance(row, len(_ACCOUNT.fields), connection)
    project = _PROJECT.instance(row, len(_ACCOUNT.fields) + len(_RESOURCE.fields), connection)
    resource.project = project
    account.resource = resource
    account.standing = bool(row[-1])
    return account
