"""The audit of Django's own users and groups (SPEC "Separation of duties": audit every change
that confers or removes access), whatever makes the change: the admin, a command, the
IdP's sign-in sync, a shell.

Django writes these rows itself (its admin, `createsuperuser`, `user.groups.add()`), so
they are audited by signal receivers (connected in identity/apps.py), not by services:

- a user created or deleted: `create` / `delete` with a snapshot (username, email, names,
  the three flags, whether the password is usable, groups, user permissions);
- a user changed: `update` with {field: [before, after]} for username, email, first and
  last name, is_active, is_staff, is_superuser, and {"password": "changed"} (or
  "unusable") for a new password: never a hash. A hash upgrade at sign-in (same
  password, new hasher) is not a change;
- group memberships, from either side (`user.groups.add()`, `group.user_set.remove()`,
  `set()`, `clear()`, the admin's user form, the IdP's sync) and a group deleted with its
  members: `update` on each user concerned, {"groups": [[names before], [names after]]};
- user permissions: {"user_permissions": [[before], [after]]} on the user, as
  "app_label.codename"; group permissions: {"permissions": [...]} on the group;
- a group created, renamed or deleted (its snapshot: name, permissions and, on delete,
  members); an SSO identity (issuer, subject -> user) or an IdP group mark created,
  changed or deleted.

The actor and the channel come from the context (audit/context.py). Consecutive changes
of one user or group inside one transaction, with no other event between, are folded
into one event: the admin's save of a user (fields, then groups, then permissions), or
the IdP's sync (profile, then groups added, then removed), is one `update` with the
first "before" and the last "after"; a `create` absorbs the changes right after it (a
user created, then given a password). Outside a transaction every change is its own
event.

Not seen by any signal, so not audited here: QuerySet.update() on users
(`User.objects.filter(...).update(is_staff=True)`), writes straight to the through
tables (`User.groups.through.objects.create()`), and permissions deleted with their
content type.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from contextvars import ContextVar
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import is_password_usable
from django.contrib.auth.models import Group
from django.db.models import Model
from django.db.models.signals import m2m_changed, post_save, pre_delete, pre_save

from audit.context import acting_user, current_via
from audit.services import Written, amend_written, audit_record, last_written, unwrite
from pam_project.users import user_label

from .models import IdpGroup, SsoIdentity

User = get_user_model()

USER_FIELDS = (
    "username",
    "email",
    "first_name",
    "last_name",
    "is_active",
    "is_staff",
    "is_superuser",
)
# Compared on save, [before, after] in the event: (model field attname, name in the event).
TRACKED: dict[type[Model], tuple[tuple[str, str], ...]] = {
    User: tuple((f, f) for f in USER_FIELDS),
    Group: (("name", "name"),),
    SsoIdentity: (("user_id", "user"), ("issuer", "issuer"), ("subject", "subject")),
    IdpGroup: (("group_id", "group"), ("issuer", "issuer"), ("claim_value", "claim_value")),
}
# Values in an update event that are not [before, after] pairs.
NOT_PAIRS = frozenset({"password"})
_BEFORE = "_audit_before"
_M2M_BEFORE = "_audit_m2m_before"


# --- Writing events -------------------------------------------------------------------


# The last event written here (never fold into a service's event of another shape).
_ours: ContextVar[Written | None] = ContextVar("identity_audit_last", default=None)


def _record(action: str, instance: Model, changes: dict[str, Any]) -> None:
    actor = acting_user()
    via = current_via.get()
    if action == "update":
        written = last_written(instance)
        foldable = (
            written is not None
            and written is _ours.get()
            and (written.actor_id, written.via) == (actor.pk if actor else None, via)
        )
        if foldable and _fold(written, instance, changes):
            return
    audit_record(actor=actor, action=action, instance=instance, changes=changes, via=via)
    _ours.set(last_written(instance))


def _fold(written: Written, instance: Model, changes: dict[str, Any]) -> bool:
    """Fold `changes` into the event this context wrote last about `instance`, if it is a
    create or an update still in its transaction; False if it cannot be."""
    if written.action == "create":
        snapshot = dict(written.changes)
        for key, value in changes.items():
            if key == "password":
                snapshot["usable_password"] = instance.has_usable_password()
            else:
                snapshot[key] = value[1]
        return amend_written(written, snapshot)
    if written.action != "update":
        return False
    merged = dict(written.changes)
    for key, value in changes.items():
        if key in merged and key not in NOT_PAIRS:
            merged[key] = [merged[key][0], value[1]]
        else:
            merged[key] = value
    merged = {
        key: value for key, value in merged.items() if key in NOT_PAIRS or value[0] != value[1]
    }
    if not merged:
        # Undone within its own transaction (a group added, then removed): no change.
        return unwrite(written)
    return amend_written(written, merged)


# --- Snapshots ------------------------------------------------------------------------


def _permission_labels(rows: Iterable[tuple[int, str, str]]) -> dict[int, list[str]]:
    labels: dict[int, list[str]] = defaultdict(list)
    for owner, app_label, codename in rows:
        labels[owner].append(f"{app_label}.{codename}")
    return labels


def _user_groups(user_ids: Iterable[int]) -> dict[int, list[str]]:
    names: dict[int, list[str]] = defaultdict(list)
    rows = User.groups.through.objects.filter(user_id__in=list(user_ids))
    for user_id, name in rows.values_list("user_id", "group__name"):
        names[user_id].append(name)
    return names


def _user_permissions(user_ids: Iterable[int]) -> dict[int, list[str]]:
    rows = User.user_permissions.through.objects.filter(user_id__in=list(user_ids))
    return _permission_labels(
        rows.values_list("user_id", "permission__content_type__app_label", "permission__codename")
    )


def _group_permissions(group_ids: Iterable[int]) -> dict[int, list[str]]:
    rows = Group.permissions.through.objects.filter(group_id__in=list(group_ids))
    return _permission_labels(
        rows.values_list("group_id", "permission__content_type__app_label", "permission__codename")
    )


def _user_snapshot(user: Any, *, relations: bool) -> dict[str, Any]:
    snapshot: dict[str, Any] = {field: getattr(user, field) for field in USER_FIELDS}
    snapshot["usable_password"] = user.has_usable_password()
    if relations:
        snapshot["groups"] = sorted(_user_groups([user.pk])[user.pk])
        snapshot["user_permissions"] = sorted(_user_permissions([user.pk])[user.pk])
    else:  # a user just created belongs to nothing yet
        snapshot["groups"] = []
        snapshot["user_permissions"] = []
    return snapshot


def _snapshot(instance: Model, *, relations: bool) -> dict[str, Any]:
    if isinstance(instance, User):
        return _user_snapshot(instance, relations=relations)
    snapshot = {name: getattr(instance, attname) for attname, name in TRACKED[type(instance)]}
    if isinstance(instance, Group):
        snapshot["permissions"] = (
            sorted(_group_permissions([instance.pk])[instance.pk]) if relations else []
        )
    return snapshot


# --- Saves and deletions --------------------------------------------------------------


def _tracked_names(model: type[Model]) -> set[str]:
    names = {attname for attname, _ in TRACKED[model]}
    names |= {attname.removesuffix("_id") for attname in names}
    if model is User:
        names.add("password")
    return names


def before_save(sender: type[Model], instance: Model, update_fields: Any = None, **_: Any) -> None:
    """Read the row as it is before the save (one query; none for a save of untracked
    fields only, such as the last_login of every sign-in)."""
    instance.__dict__.pop(_BEFORE, None)
    if instance.pk is None:
        return
    if update_fields is not None and not set(update_fields) & _tracked_names(sender):
        return
    columns = [attname for attname, _ in TRACKED[sender]]
    if sender is User:
        columns.append("password")
    row = sender._base_manager.filter(pk=instance.pk).values(*columns).first()
    if row is not None:
        instance.__dict__[_BEFORE] = row


def after_save(
    sender: type[Model],
    instance: Model,
    created: bool,
    update_fields: Any = None,
    **_: Any,
) -> None:
    before = instance.__dict__.pop(_BEFORE, None)
    if created:
        _record("create", instance, _snapshot(instance, relations=False))
        return
    if before is None:
        return
    changes: dict[str, Any] = {
        name: [before[attname], getattr(instance, attname)]
        for attname, name in TRACKED[sender]
        if before[attname] != getattr(instance, attname)
    }
    if sender is User and before["password"] != instance.password:
        password = _password_change(instance, before["password"], update_fields)
        if password:
            changes["password"] = password
    if changes:
        _record("update", instance, changes)


def _password_change(user: Any, before: str, update_fields: Any) -> str | None:
    usable = user.has_usable_password()
    # check_password() rehashing the same password with a newer hasher saves only the
    # password and clears `_password` first: "Password hash upgrades shouldn't be
    # considered password changes" (Django's own comment).
    upgrade = (
        update_fields is not None
        and set(update_fields) == {"password"}
        and getattr(user, "_password", None) is None
        and usable == is_password_usable(before)
    )
    if upgrade:
        return None
    return "changed" if usable else "unusable"


def before_delete(sender: type[Model], instance: Model, **_: Any) -> None:
    """Recorded before the row goes: its memberships and permissions go with it without a
    signal of their own."""
    snapshot = _snapshot(instance, relations=True)
    if isinstance(instance, Group):
        members = list(User.objects.filter(groups=instance).order_by("pk"))
        snapshot["members"] = [user_label(user) for user in members]
        _record("delete", instance, snapshot)
        groups = _user_groups(user.pk for user in members)
        for user in members:
            names = sorted(groups[user.pk])
            _record("update", user, {"groups": [names, [n for n in names if n != instance.name]]})
        return
    _record("delete", instance, snapshot)


# --- Memberships and permissions ------------------------------------------------------


class _Relation:
    """One many-to-many of Django's auth models, as the audit names it."""

    def __init__(self, owner: type[Model], field: str) -> None:
        self.owner = owner
        self.field = field
        self.through = getattr(owner, field).through
        self.owner_fk = "user_id" if owner is User else "group_id"
        self.item_fk = "group_id" if field == "groups" else "permission_id"

    def labels(self, owner_ids: Iterable[int]) -> dict[int, list[str]]:
        if self.field == "groups":
            return _user_groups(owner_ids)
        if self.field == "user_permissions":
            return _user_permissions(owner_ids)
        return _group_permissions(owner_ids)


RELATIONS = {
    relation.through: relation
    for relation in (
        _Relation(User, "groups"),
        _Relation(User, "user_permissions"),
        _Relation(Group, "permissions"),
    )
}


def m2m_changed_audit(
    sender: type[Model],
    instance: Model,
    action: str,
    reverse: bool,
    pk_set: set[int] | None,
    **_: Any,
) -> None:
    """Before the change: each owner's (user's or group's) labels; after it: the event
    for each owner whose labels differ. `reverse`: the change came from the other side
    (`group.user_set.add(...)`, `permission.group_set.remove(...)`), so the owners are
    `pk_set`, or, for clear(), the item's owners before it."""
    relation = RELATIONS[sender]
    stage, _, kind = action.partition("_")
    if kind not in ("add", "remove", "clear"):
        return
    if stage == "pre":
        if pk_set is not None and not pk_set:
            return
        if not reverse:
            owner_ids: list[int] = [instance.pk]
        elif kind == "clear":
            owner_ids = list(
                relation.through.objects.filter(**{relation.item_fk: instance.pk}).values_list(
                    relation.owner_fk, flat=True
                )
            )
        else:
            owner_ids = sorted(pk_set or ())
        before = relation.labels(owner_ids)
        pending = instance.__dict__.setdefault(_M2M_BEFORE, {})
        pending[sender] = {pk: sorted(before.get(pk, [])) for pk in owner_ids}
        return
    before_map = instance.__dict__.get(_M2M_BEFORE, {}).pop(sender, None)
    if not before_map:
        return
    after = relation.labels(before_map)
    changed = {
        pk: (names, sorted(after.get(pk, [])))
        for pk, names in before_map.items()
        if names != sorted(after.get(pk, []))
    }
    if not changed:
        return
    if not reverse:
        owners = [instance]
    else:
        owners = list(relation.owner._base_manager.filter(pk__in=changed).order_by("pk"))
    for owner in owners:
        names_before, names_after = changed[owner.pk]
        _record("update", owner, {relation.field: [names_before, names_after]})


def connect() -> None:
    for model in TRACKED:
        uid = f"identity.audit.{model._meta.label_lower}"
        pre_save.connect(before_save, sender=model, dispatch_uid=f"{uid}.pre_save")
        post_save.connect(after_save, sender=model, dispatch_uid=f"{uid}.post_save")
        # Before: the row's memberships and permissions are still there to read.
        pre_delete.connect(before_delete, sender=model, dispatch_uid=f"{uid}.pre_delete")
    for through in RELATIONS:
        m2m_changed.connect(
            m2m_changed_audit,
            sender=through,
            dispatch_uid=f"identity.audit.{through._meta.label_lower}",
        )


__all__ = ["RELATIONS", "TRACKED", "connect"]
