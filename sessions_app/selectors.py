"""Reads of Console Sessions shared by views, the API and the admin."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from .models import ConsoleSession


def sessions_for_user(user: AbstractBaseUser | AnonymousUser) -> QuerySet[ConsoleSession]:
    """A user's own sessions, newest first. Everyone sees their own history."""
    if not user.is_authenticated:
        return ConsoleSession.objects.none()
    return ConsoleSession.objects.filter(user=user).select_related("account__resource__project")
