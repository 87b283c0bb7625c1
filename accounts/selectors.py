"""Who may see and Access which PAM account. Views, the API and the admin share these."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import AccountGrant, ApiToken, PamAccount


def grant_exists_for(user: AbstractBaseUser, account_ref: OuterRef | int) -> Exists:
    """EXISTS(a grant of the account to the user, directly or through a group)."""
    return Exists(
        AccountGrant.objects.filter(account=account_ref).filter(Q(user=user) | Q(group__user=user))
    )


def accounts_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[PamAccount]:
    """The accounts `user` is granted. Nobody is granted by default, superusers included."""
    if not user.is_authenticated or not user.is_active:
        return PamAccount.objects.none()
    return PamAccount.objects.filter(grant_exists_for(user, OuterRef("pk"))).select_related(
        "resource__project"
    )


def accounts_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[PamAccount]:
    """What the API lists: everything for those who may view accounts, else the grants.

    Seeing an account is not being granted it: Access always checks accounts_for_user.
    """
    if user.is_active and user.has_perm("accounts.view_pamaccount"):
        return PamAccount.objects.select_related("resource__project")
    return accounts_for_user(user)


def grants_visible_to(user: AbstractBaseUser | AnonymousUser) -> QuerySet[AccountGrant]:
    """All grants for those who may view them; otherwise the grants that name the user."""
    grants = AccountGrant.objects.select_related("account", "user", "group")
    if not user.is_authenticated or not user.is_active:
        return grants.none()
    if user.has_perm("accounts.view_accountgrant"):
        return grants
    return grants.filter(Q(user=user) | Q(group__user=user)).distinct()


def tokens_of(user: AbstractBaseUser) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user=user)
