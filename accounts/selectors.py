"""Who may see and Access which PAM account. Views, the API and the admin share these."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, Q, QuerySet

from .models import AccountGrant, PamAccount


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
