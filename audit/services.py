"""Recording configuration changes. Called by the other apps' services, never by views."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Model

from pam_project.users import user_label

from .context import current_via
from .models import AuditEvent


def _plain(value: Any) -> Any:
    if isinstance(value, Model):
        return value.pk
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def snapshot(instance: Model, fields: list[str]) -> dict[str, Any]:
    return {field: _plain(getattr(instance, field)) for field in fields}


def audit_record(
    *,
    actor: AbstractBaseUser | None,
    action: str,
    instance: Model,
    changes: dict[str, Any],
    via: str | None = None,
) -> AuditEvent:
    return AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_name=user_label(actor) if actor else "system",
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:255],
        changes={k: _plain(v) for k, v in changes.items()},
        via=via if via is not None else current_via.get(),
    )


def diff(before: dict[str, Any], after: dict[str, Any]) -> dict[str, list[Any]]:
    return {k: [before.get(k), after[k]] for k in after if before.get(k) != after[k]}


def record_create(instance: Model, fields: list[str], actor: AbstractBaseUser | None) -> None:
    audit_record(
        actor=actor, action="create", instance=instance, changes=snapshot(instance, fields)
    )


def record_update(
    instance: Model, before: dict[str, Any], fields: list[str], actor: AbstractBaseUser | None
) -> None:
    """Record what changed since `before` (a snapshot); nothing if nothing did."""
    changes = diff(before, snapshot(instance, fields))
    if changes:
        audit_record(actor=actor, action="update", instance=instance, changes=changes)


def delete_recorded(instance: Model, fields: list[str], actor: AbstractBaseUser | None) -> None:
    """Delete `instance` and record it, in one transaction (the record keeps its id)."""
    with transaction.atomic():
        audit_record(
            actor=actor, action="delete", instance=instance, changes=snapshot(instance, fields)
        )
        instance.delete()
