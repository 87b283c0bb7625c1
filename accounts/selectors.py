"""Reads of PAM accounts that views, the API and the admin share."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from .models import PamAccount


def accounts_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[PamAccount]:
    """The accounts `user` is granted (and so may Access), with their resource and project."""
    return PamAccount.objects.granted_to(user).select_related("resource__project")
