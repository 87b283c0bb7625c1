"""Recording configuration changes. Called by the other apps' services, never by views."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.contrib.auth.models import AbstractBaseUser
from django.db import router, transaction
from django.db.models import Model
from django.utils.functional import LazyObject, empty

from pam_project.querysets import project_id_of
from pam_project.users import user_label

from .context import current_via, last_event
from .models import AuditEvent

# audit_record(project_id=...) left out: the project of `instance`, by its queryset.
FROM_INSTANCE: Any = object()


def _unwrapped(instance: Any) -> Any:
    """`request.user` is a SimpleLazyObject: the user inside it, whose type says its model."""
    if isinstance(instance, LazyObject):
        if instance._wrapped is empty:
            instance._setup()
        return instance._wrapped
    return instance


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
    project_id: int | None = FROM_INSTANCE,
) -> AuditEvent:
    """Write one event. `via` defaults to the channel of the context (audit/context.py);
    `project_id` to the project `instance` belongs to (None for users, groups, tokens),
    which decides which project admins and auditors read the event."""
    if project_id is FROM_INSTANCE:
        project_id = project_id_of(_unwrapped(instance))
    event = AuditEvent.objects.create(
        actor=actor if actor is not None and actor.pk else None,
        actor_name=user_label(actor) if actor else "system",
        action=action,
        object_type=instance._meta.label_lower,
        object_id=str(instance.pk),
        object_repr=str(instance)[:255],
        changes={k: _plain(v) for k, v in changes.items()},
        via=via if via is not None else current_via.get(),
        project_id=project_id,
    )
    _remember(event)
    return event


# --- Folding a change into the event just written (identity/audit.py) ----------------


@dataclass
class Written:
    """The event this context wrote last, while its transaction is still open."""

    pk: int
    object_type: str
    object_id: str
    action: str
    actor_id: int | None
    via: str
    changes: dict[str, Any]


def _remember(event: AuditEvent) -> None:
    using = router.db_for_write(AuditEvent)
    if not transaction.get_connection(using).in_atomic_block:
        last_event.set(None)  # committed already: nothing may change it now
        return
    written = Written(
        pk=event.pk,
        object_type=event.object_type,
        object_id=event.object_id,
        action=event.action,
        actor_id=event.actor_id,
        via=event.via,
        changes=event.changes,
    )
    last_event.set(written)
    transaction.on_commit(functools.partial(_forget, written), using=using)


def _forget(written: Written) -> None:
    if last_event.get() is written:
        last_event.set(None)


def last_written(instance: Model) -> Written | None:
    """The event this context wrote last, if it is about `instance` and its transaction
    has not committed (no other event was written since)."""
    written = last_event.get()
    if written is None:
        return None
    if not transaction.get_connection(router.db_for_write(AuditEvent)).in_atomic_block:
        return None
    if (written.object_type, written.object_id) != (instance._meta.label_lower, str(instance.pk)):
        return None
    return written


def amend_written(written: Written, changes: dict[str, Any]) -> bool:
    """Replace the changes of `written` (still uncommitted: no one else has seen it).
    False if its row is gone (rolled back to a savepoint): write a new event then."""
    plain = {k: _plain(v) for k, v in changes.items()}
    if not AuditEvent.objects.filter(pk=written.pk).update(changes=plain):
        last_event.set(None)
        return False
    written.changes = plain
    return True


def unwrite(written: Written) -> bool:
    """Take back `written` (uncommitted) when what it recorded was undone in the same
    transaction, so the log shows no change where there was none."""
    last_event.set(None)
    return bool(AuditEvent.objects.filter(pk=written.pk).delete()[0])


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
