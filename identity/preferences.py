"""A person's own settings for how the console opens (identity.models.Preferences).

They confer nothing (which accounts one may open is the grants' business), so changing
them is not audited, as a favourite account is not.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser

from .models import Preferences


def preferences_of(user: AbstractBaseUser | AnonymousUser) -> Preferences:
    """`user`'s preferences: their row, or the defaults (unsaved) when they have none."""
    if not user.is_authenticated:
        return Preferences()
    return Preferences.objects.filter(user=user).first() or Preferences(user=user)


def logout_first(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Whether Access signs `user`'s browser out of the AWS console before signing in."""
    if not user.is_authenticated:
        return False
    return Preferences.objects.filter(user=user, logout_first=True).exists()


def preferences_update(*, user: AbstractBaseUser, logout_first: bool) -> Preferences:
    """Set `user`'s own preferences (a row is written on the first change)."""
    preferences, _ = Preferences.objects.update_or_create(
        user=user, defaults={"logout_first": logout_first}
    )
    return preferences
