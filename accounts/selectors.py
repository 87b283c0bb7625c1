"""Reads of PAM accounts that views, the API and the admin share."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import connection
from django.db.models import Exists, OuterRef, QuerySet

from identity.models import Preferences
from pam_project.db import Columns
from resources.models import AwsIamResource, Project

from .models import AccountGrant, Favourite, GrantKind, PamAccount


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
        f"{_PROJECT.select(connection)}, pref.logout_first, g.standing "
        f"FROM {PamAccount._meta.db_table} a "
        f"JOIN {AwsIamResource._meta.db_table} r ON r.id = a.resource_id "
        f"JOIN {Project._meta.db_table} p ON p.id = r.project_id "
        # The person's own "sign out of the previous console first" (no row: off), which
        # the answer to their Access depends on: read here rather than by a query more.
        f"LEFT JOIN {Preferences._meta.db_table} pref ON pref.user_id = %s "
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
    annotation, resource and project, in one plain statement; and, as `logout_first`,
    the person's preference (identity.preferences.logout_first) that Access answers by.

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
        cursor.execute(
            sql, [user.pk, GrantKind.STANDING.value, account_id, user.pk, user.pk, account_id]
        )
        row = cursor.fetchone()
    if row is None:
        return None
    account = _ACCOUNT.instance(row, 0, connection)
    resource = _RESOURCE.instance(row, len(_ACCOUNT.fields), connection)
    project = _PROJECT.instance(row, len(_ACCOUNT.fields) + len(_RESOURCE.fields), connection)
    resource.project = project
    account.resource = resource
    account.standing = bool(row[-1])
    account.logout_first = bool(row[-2])
    return account


@dataclass(frozen=True, slots=True)
class ProjectListing:
    pk: int
    name: str


@dataclass(frozen=True, slots=True)
class ResourceListing:
    pk: int
    name: str
    resource_role_arn: str
    project: ProjectListing
    role = property(AwsIamResource.role.fget)


@dataclass(slots=True, eq=False)
class AccountListing:
    """A granted account as a list of them shows it: the PamAccount fields it needs as
    plain values, with the model's own properties for what they mean (the role, the
    console's region and service options, console_choice). No model instance: building
    500 of them (and their resources and projects) cost the accounts page more than
    everything else it does (bench/accounts.py). `standing` as accounts_for_user
    annotates it; `window_state` is attach_window_states'."""

    pk: int
    name: str
    description: str
    target_role_arn: str
    session_duration: int
    require_mfa: bool
    break_glass: bool
    default_region: str
    default_service: str
    allowed_regions: list[str]
    allowed_services: list[str]
    standing: bool
    favourite: bool  # pinned by the person it is listed for
    resource: ResourceListing
    window_state: object = None

    role = property(PamAccount.role.fget)
    region_options = property(PamAccount.region_options.fget)
    service_options = property(PamAccount.service_options.fget)
    console_region = property(PamAccount.console_region.fget)
    console_service = property(PamAccount.console_service.fget)
    duration_text = property(PamAccount.duration_text.fget)
    console_choice = PamAccount.console_choice


_LISTED = (
    "pk",
    "name",
    "description",
    "target_role_arn",
    "session_duration",
    "require_mfa",
    "break_glass",
    "default_region",
    "default_service",
    "allowed_regions",
    "allowed_services",
    "standing",
    "favourite",
    "resource_id",
    "resource__name",
    "resource__resource_role_arn",
    "resource__project_id",
    "resource__project__name",
)


def granted_listing(user: AbstractBaseUser | AnonymousUser) -> list[AccountListing]:
    """accounts_for_user's accounts, by project, resource and name, as AccountListings
    with whether `user` pinned each (one query); one ResourceListing per resource and
    one ProjectListing per project, shared by their accounts."""
    pinned = Favourite.objects.filter(user_id=getattr(user, "pk", None), account=OuterRef("pk"))
    rows = (
        accounts_for_user(user)
        .annotate(favourite=Exists(pinned))
        .order_by("resource__project__name", "resource__name", "name")
        .values_list(*_LISTED)
    )
    projects: dict[int, ProjectListing] = {}
    resources: dict[int, ResourceListing] = {}
    listed = []
    for *fields, resource_id, resource_name, resource_arn, project_id, project_name in rows:
        resource = resources.get(resource_id)
        if resource is None:
            project = projects.get(project_id)
            if project is None:
                project = projects[project_id] = ProjectListing(project_id, project_name)
            resource = resources[resource_id] = ResourceListing(
                resource_id, resource_name, resource_arn, project
            )
        listed.append(AccountListing(*fields, resource=resource))
    return listed
