"""Reads of PAM accounts that views, the API and the admin share."""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, QuerySet

from resources.models import AwsIamResource

from .models import Favourite, PamAccount


def accounts_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[PamAccount]:
    """The accounts `user` is granted (and so may Access), with their resource and project."""
    return PamAccount.objects.granted_to(user).select_related("resource__project")


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
