"""How a person is named wherever the app writes one down."""

from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser


def user_label(user: AbstractBaseUser) -> str:
    """A user's email, else their username: what history, the audit log and the AWS
    session name (and so CloudTrail) show for them."""
    return getattr(user, "email", "") or user.get_username()
