"""Access taken away revokes live console sessions (SPEC "Revocation", triggers).

A grant deleted, a user taken out of a group (by an admin, or by the IdP at sign-in),
a user deactivated, or an approved window closing (its time up, cancelled, revoked)
asks a worker to revoke at once (after commit, bounded like every publish); the sweep
catches up every minute whatever happens to that message.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models.signals import m2m_changed, post_delete, pre_save
from django.dispatch import receiver

from access_requests.events import window_closed
from access_requests.models import AccessRequest
from accounts.models import AccountGrant

from .scheduling import schedule_lost_access_check


@receiver(post_delete, sender=AccountGrant, dispatch_uid="sessions_app.grant_deleted")
def _grant_deleted(sender: type, instance: AccountGrant, **kwargs: Any) -> None:
    transaction.on_commit(schedule_lost_access_check)


@receiver(pre_save, sender=get_user_model(), dispatch_uid="sessions_app.user_deactivated")
def _user_deactivated(sender: type, instance: Any, **kwargs: Any) -> None:
    if instance.pk and not instance.is_active:
        was_active = sender.objects.filter(pk=instance.pk, is_active=True).exists()
        if was_active:
            transaction.on_commit(schedule_lost_access_check)


@receiver(
    m2m_changed, sender=get_user_model().groups.through, dispatch_uid="sessions_app.groups_left"
)
def _groups_left(sender: type, action: str, **kwargs: Any) -> None:
    if action in ("post_remove", "post_clear"):
        transaction.on_commit(schedule_lost_access_check)


@receiver(window_closed, sender=AccessRequest, dispatch_uid="sessions_app.window_closed")
def _window_closed(sender: type, request_ids: list[int], **kwargs: Any) -> None:
    transaction.on_commit(schedule_lost_access_check)
