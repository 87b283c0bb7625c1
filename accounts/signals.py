"""The one write this app must see that it does not make: a user deactivated (in the user
admin, or anywhere else) loses their API tokens for good."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from .tokens import tokens_revoke_for_user


def revoke_tokens_on_deactivation(
    sender: type, instance: Any, update_fields: Any = None, **kwargs: Any
) -> None:
    """A bulk `User.objects.update(is_active=False)` sends no signal: such a path must
    call tokens_revoke_for_user itself (token_authenticate also revokes a token the
    moment it is used by an inactive user)."""
    if instance.pk is None or instance.is_active:
        return
    if update_fields is not None and "is_active" not in update_fields:
        return
    was_active = (
        get_user_model().objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    )
    if was_active:
        tokens_revoke_for_user(user=instance, actor=None, reason="user deactivated")
