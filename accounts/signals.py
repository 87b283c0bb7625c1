"""The one write this app must see that it does not make: a user deactivated (in the user
admin, or anywhere else) loses their API tokens for good."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model

from .tokens import tokens_revoke_for_user


def revoke_tokens_on_deactivation(sender: type, instance: Any, **kwargs: Any) -> None:
    if instance.pk is None or instance.is_active:
        return
    was_active = (
        get_user_model().objects.filter(pk=instance.pk).values_list("is_active", flat=True).first()
    )
    if was_active:
        tokens_revoke_for_user(user=instance, actor=None, reason="user deactivated")
