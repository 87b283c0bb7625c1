"""Favourite accounts: the ones a person pins to the top of their accounts page.

A favourite confers nothing (the page lists only accounts granted to the person, and
Access checks the grant), so it is not audited. The caller has checked the grant:
nobody may pin, or learn of, an account they are not granted.
"""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction

from .models import Favourite, PamAccount


def favourite_set(*, user: AbstractBaseUser, account: PamAccount, on: bool | None = None) -> bool:
    """Pin (`on`), unpin (not `on`) or, with `on` None, toggle `account` for `user`;
    returns whether it is a favourite now. Setting is idempotent: a double-submitted
    form leaves the star as the person asked, where a toggle would flip it back."""
    mine = Favourite.objects.filter(user=user, account=account)
    if on is None:
        on = not mine.exists()
    if not on:
        mine.delete()
        return False
    try:
        with transaction.atomic():
            Favourite.objects.get_or_create(user=user, account=account)
    except IntegrityError:
        pass  # a concurrent request pinned it first (favourite_unique)
    return True
