"""Django's own users and groups are audited whoever changes them (identity/audit.py): group
memberships from either side, the staff/superuser/active flags, email and names,
passwords (never their hash), user and group permissions, users and groups created and
deleted; each event with its before and after, its actor and its channel (admin, api,
web, cli, idp)."""

from __future__ import annotations

import json

import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import AnonymousUser, Group, Permission, User
from django.core.management import call_command
from django.db import transaction
from django.http import HttpResponse
from django.test import RequestFactory
from django.urls import reverse

from audit.context import AuditViaMiddleware, audit_context
from audit.models import AuditEvent
from audit.services import audit_record
from identity.sso import sso_sign_in

from .factories import PASSWORD, GroupFactory, UserFactory

REVOKE = "sessions_app.revoke_consolesession"
ISSUER = "https://idp.example.test"


def forget_fixtures():
    """The fixtures' users were created (and audited) before the test: start from none."""
    AuditEvent.objects.all().delete()


def events_on(obj, **filters):
    return list(
        AuditEvent.objects.filter(
            object_type=obj._meta.label_lower, object_id=str(obj.pk), **filters
        ).order_by("pk")
    )


def shape(event):
    return (event.action, event.actor_name, event.via, event.changes)


def no_hash_anywhere(*users):
    logged = json.dumps(list(AuditEvent.objects.values("changes", "object_repr")))
    for user in users:
        user.refresh_from_db()
        assert user.password and user.password not in logged
    assert "md5$" not in logged and "pbkdf2" not in logged


def revoke_permission() -> Permission:
    return Permission.objects.get(codename="revoke_consolesession")


def user_form(client, user, **changes):
    """The admin's change form for `user`, as the page fills it, with `changes`."""
    url = reverse("admin:auth_user_change", args=[user.pk])
    page = client.get(url)
    form = page.context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    for inline in page.context["inline_admin_formsets"]:
        management = inline.formset.management_form
        data.update({management.add_prefix(k): v for k, v in management.initial.items()})
    data.pop("password", None)
    joined = data.pop("date_joined")  # the admin splits it in two
    data.update({"date_joined_0": f"{joined:%Y-%m-%d}", "date_joined_1": f"{joined:%H:%M:%S}"})
    for name in ("is_active", "is_staff", "is_superuser"):
        if not data.get(name):
            data.pop(name, None)
    data.update(changes)
    return url, {k: v for k, v in data.items() if v is not None}


@pytest.fixture
def admin_client(client, alice):
    client.force_login(alice)
    return client


# --- The admin ------------------------------------------------------------------------


def test_one_admin_save_of_a_user_is_one_event_with_each_change(admin_client, bob):
    forget_fixtures()
    ops = GroupFactory(name="ops")
    url, data = user_form(
        admin_client,
        bob,
        email="robert@example.com",
        is_staff="on",
        groups=[ops.pk],
        user_permissions=[revoke_permission().pk],
    )
    assert admin_client.post(url, data).status_code == 302

    (event,) = events_on(bob)
    assert shape(event) == (
        "update",
        "alice@example.com",
        "admin",
        {
            "email": ["bob@example.com", "robert@example.com"],
            "is_staff": [False, True],
            "groups": [[], ["ops"]],
            "user_permissions": [[], [REVOKE]],
        },
    )
    assert event.project_id is None
    no_hash_anywhere(bob)


def test_taking_groups_away_and_deactivating_in_the_admin(admin_client, bob):
    forget_fixtures()
    ops, dev = GroupFactory(name="ops"), GroupFactory(name="dev")
    bob.groups.add(ops, dev)
    forget_fixtures()
    url, data = user_form(admin_client, bob, groups=[dev.pk])
    data.pop("is_active")
    assert admin_client.post(url, data).status_code == 302

    (event,) = events_on(bob)
    assert event.changes == {"is_active": [True, False], "groups": [["dev", "ops"], ["dev"]]}
    assert (event.actor_name, event.via) == ("alice@example.com", "admin")


def test_two_requests_are_two_events(admin_client, bob):
    forget_fixtures()
    url, data = user_form(admin_client, bob, is_superuser="on")
    admin_client.post(url, data)
    url, data = user_form(admin_client, bob, first_name="Robert")
    admin_client.post(url, data)
    assert [e.changes for e in events_on(bob)] == [
        {"is_superuser": [False, True]},
        {"first_name": ["", "Robert"]},
    ]


def test_a_user_created_and_deleted_in_the_admin(admin_client):
    forget_fixtures()
    response = admin_client.post(
        reverse("admin:auth_user_add"),
        {
            "username": "gus",
            "email": "gus@example.com",
            "password1": "x9!kLm2#qRt7",
            "password2": "x9!kLm2#qRt7",
            "usable_password": "true",
            **{f"sso_identities-{k}": "0" for k in ("TOTAL_FORMS", "INITIAL_FORMS")},
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    gus = User.objects.get(username="gus")
    gus.groups.add(GroupFactory(name="ops"))
    AuditEvent.objects.filter(action="update").delete()
    (created,) = events_on(gus)
    assert shape(created) == (
        "create",
        "alice@example.com",
        "admin",
        {
            "username": "gus",
            "email": "gus@example.com",
            "first_name": "",
            "last_name": "",
            "is_active": True,
            "is_staff": False,
            "is_superuser": False,
            "usable_password": True,
            "groups": [],
            "user_permissions": [],
        },
    )
    no_hash_anywhere(gus)

    pk = gus.pk
    url = reverse("admin:auth_user_delete", args=[pk])
    assert admin_client.post(url, {"post": "yes"}).status_code == 302
    deleted = AuditEvent.objects.get(object_type="auth.user", object_id=str(pk), action="delete")
    assert (deleted.via, deleted.actor_name) == ("admin", "alice@example.com")
    # What went with it: its memberships and permissions.
    assert deleted.changes["groups"] == ["ops"]
    assert deleted.changes["username"] == "gus"


def test_a_password_set_in_the_admin_is_changed_never_its_hash(admin_client, bob):
    forget_fixtures()
    url = reverse("admin:auth_user_password_change", args=[bob.pk])
    response = admin_client.post(
        url,
        {"password1": "N3w!passw0rd-x", "password2": "N3w!passw0rd-x", "usable_password": "true"},
    )
    assert response.status_code == 302
    (event,) = events_on(bob)
    assert shape(event) == ("update", "alice@example.com", "admin", {"password": "changed"})
    no_hash_anywhere(bob)


class FastPBKDF2(PBKDF2PasswordHasher):
    iterations = 1


def test_a_hash_upgrade_at_sign_in_is_not_a_password_change(settings, bob):
    forget_fixtures()
    settings.PASSWORD_HASHERS = [
        f"{__name__}.FastPBKDF2",
        "django.contrib.auth.hashers.MD5PasswordHasher",
    ]
    before = bob.password
    assert bob.check_password(PASSWORD)
    bob.refresh_from_db()
    assert bob.password != before  # rehashed with the new hasher ...
    assert events_on(bob) == []  # ... but the password is the same


def test_group_permissions_and_creation_in_the_group_admin(admin_client):
    forget_fixtures()
    permission = revoke_permission()
    response = admin_client.post(
        reverse("admin:auth_group_add"), {"name": "responders", "permissions": [permission.pk]}
    )
    assert response.status_code == 302
    group = Group.objects.get(name="responders")
    # Created with its permissions in one save: one event, the final snapshot.
    (created,) = events_on(group)
    assert shape(created) == (
        "create",
        "alice@example.com",
        "admin",
        {"name": "responders", "permissions": [REVOKE]},
    )

    url = reverse("admin:auth_group_change", args=[group.pk])
    assert admin_client.post(url, {"name": "incident-responders"}).status_code == 302
    updated = events_on(group, action="update")[-1]
    assert shape(updated) == (
        "update",
        "alice@example.com",
        "admin",
        {"name": ["responders", "incident-responders"], "permissions": [[REVOKE], []]},
    )


def test_a_group_deleted_takes_its_members_memberships_with_it(admin_client, bob, charlie):
    forget_fixtures()
    ops = GroupFactory(name="ops")
    ops.user_set.add(bob, charlie)
    bob.groups.add(GroupFactory(name="dev"))
    AuditEvent.objects.all().delete()
    pk = ops.pk
    response = admin_client.post(reverse("admin:auth_group_delete", args=[pk]), {"post": "yes"})
    assert response.status_code == 302

    deleted = AuditEvent.objects.get(object_type="auth.group", object_id=str(pk))
    assert shape(deleted) == (
        "delete",
        "alice@example.com",
        "admin",
        {
            "name": "ops",
            "permissions": [],
            "members": [bob.email, charlie.email],
        },
    )
    assert events_on(bob)[0].changes == {"groups": [["dev", "ops"], ["dev"]]}
    assert events_on(charlie)[0].changes == {"groups": [["ops"], []]}


# --- Memberships and permissions from code, either side --------------------------------


def test_memberships_from_the_user_side(alice, bob):
    forget_fixtures()
    ops, dev = GroupFactory(name="ops"), GroupFactory(name="dev")
    steps = [
        (lambda: bob.groups.add(ops), [[], ["ops"]]),
        (lambda: bob.groups.add(dev), [["ops"], ["dev", "ops"]]),
        (lambda: bob.groups.remove(ops), [["dev", "ops"], ["dev"]]),
        # set(): a remove and an add, one event
        (lambda: bob.groups.set([ops]), [["dev"], ["ops"]]),
        (lambda: bob.groups.clear(), [["ops"], []]),
    ]
    for step, change in steps:
        with audit_context(via="web", actor=alice):
            step()
        assert events_on(bob)[-1].changes == {"groups": change}
    assert len(events_on(bob)) == len(steps)
    assert {(e.actor_id, e.via) for e in events_on(bob)} == {(alice.pk, "web")}
    # Adding a group one is already in, or removing one one is not in, changes nothing.
    bob.groups.add(dev)
    count = len(events_on(bob))
    with audit_context(via="web", actor=alice):
        bob.groups.add(dev)
        bob.groups.remove(ops)
    assert len(events_on(bob)) == count


def test_memberships_from_the_group_side_record_each_user(alice, bob, charlie):
    forget_fixtures()
    ops = GroupFactory(name="ops")
    bob.groups.add(GroupFactory(name="dev"))
    AuditEvent.objects.all().delete()
    with audit_context(via="api", actor=alice):
        ops.user_set.add(bob, charlie)
    assert [e.changes for e in events_on(bob)] == [{"groups": [["dev"], ["dev", "ops"]]}]
    assert [e.changes for e in events_on(charlie)] == [{"groups": [[], ["ops"]]}]
    with audit_context(via="api", actor=alice):
        ops.user_set.remove(bob)
    assert events_on(bob)[-1].changes == {"groups": [["dev", "ops"], ["dev"]]}
    with audit_context(via="api", actor=alice):
        ops.user_set.clear()
    assert events_on(charlie)[-1].changes == {"groups": [["ops"], []]}
    with audit_context(via="api", actor=alice):
        ops.user_set.set([bob, charlie])
    assert events_on(bob)[-1].changes == {"groups": [["dev"], ["dev", "ops"]]}
    assert events_on(charlie)[-1].changes == {"groups": [[], ["ops"]]}
    assert len(events_on(bob)) == 3 and len(events_on(charlie)) == 3
    assert {e.via for e in AuditEvent.objects.all()} == {"api"}


def test_user_and_group_permissions_from_either_side(alice, bob):
    forget_fixtures()
    permission = revoke_permission()
    group = GroupFactory(name="ops")
    AuditEvent.objects.all().delete()
    with audit_context(via="admin", actor=alice):
        bob.user_permissions.add(permission)
    with audit_context(via="admin", actor=alice):
        permission.user_set.remove(bob)
    with audit_context(via="admin", actor=alice):
        group.permissions.add(permission)
    with audit_context(via="admin", actor=alice):
        permission.group_set.clear()
    assert [e.changes for e in events_on(bob)] == [
        {"user_permissions": [[], [REVOKE]]},
        {"user_permissions": [[REVOKE], []]},
    ]
    assert [e.changes for e in events_on(group)] == [
        {"permissions": [[], [REVOKE]]},
        {"permissions": [[REVOKE], []]},
    ]


def test_changes_undone_in_their_own_transaction_leave_no_event(bob):
    forget_fixtures()
    ops = GroupFactory(name="ops")
    with audit_context(via="web"), transaction.atomic():
        bob.groups.add(ops)
        bob.groups.remove(ops)
    assert events_on(bob) == []


def test_a_services_own_event_on_a_user_is_never_folded_into(bob):
    forget_fixtures()
    ops = GroupFactory(name="ops")
    with audit_context(via="web"), transaction.atomic():
        audit_record(actor=None, action="update", instance=bob, changes={"reason": "offboarded"})
        bob.groups.add(ops)
    assert [e.changes for e in events_on(bob)] == [
        {"reason": "offboarded"},
        {"groups": [[], ["ops"]]},
    ]


def test_the_request_user_is_the_actor_as_it_is_when_the_change_is_made(rf: RequestFactory, bob):
    """DRF authenticates a token in the view, after every middleware: the actor is read
    when the event is written, not when the request comes in."""
    charlie = UserFactory(username="charlie")
    ops = GroupFactory(name="ops")
    forget_fixtures()

    def view(request):
        request.user = bob  # what DRF's Request.user setter does on the Django request
        charlie.groups.add(ops)
        return HttpResponse()

    request = rf.post("/api/v1/anything/")
    request.user = AnonymousUser()
    AuditViaMiddleware(view)(request)
    (event,) = events_on(charlie)
    assert (event.actor, event.actor_name, event.via) == (bob, "bob@example.com", "api")


# --- Commands: the channel cli ----------------------------------------------------------


def test_createsuperuser_is_recorded_as_cli(monkeypatch, db):
    forget_fixtures()
    monkeypatch.setenv("DJANGO_SUPERUSER_PASSWORD", "N3w!passw0rd-x")
    call_command(
        "createsuperuser", "--noinput", username="root", email="root@example.com", verbosity=0
    )
    root = User.objects.get(username="root")
    (event,) = events_on(root)
    assert (event.action, event.actor, event.actor_name, event.via) == (
        "create",
        None,
        "system",
        "cli",
    )
    assert event.changes["is_superuser"] is True and event.changes["usable_password"] is True
    no_hash_anywhere(root)


def test_a_shell_command_such_as_the_demo_seed_is_cli(bob):
    forget_fixtures()
    call_command(
        "shell",
        "--no-imports",
        command=(
            "from django.contrib.auth.models import User\n"
            f"u = User.objects.get(pk={bob.pk})\n"
            "u.is_superuser = True\n"
            "u.set_password('An0ther!pass')\n"
            "u.save()"
        ),
    )
    (event,) = events_on(bob)
    assert shape(event) == (
        "update",
        "system",
        "cli",
        {"is_superuser": [False, True], "password": "changed"},
    )
    no_hash_anywhere(bob)


def test_outside_any_entry_point_there_is_no_channel_and_no_actor(bob):
    forget_fixtures()
    bob.is_staff = True
    bob.save()
    (event,) = events_on(bob)
    assert (event.via, event.actor, event.changes) == ("", None, {"is_staff": [False, True]})


# --- The IdP's sign-in sync: the channel idp --------------------------------------------


def claims(sub: str, email: str, groups: list[str], name: str = "Dana Scully") -> dict:
    return {"sub": sub, "email": email, "email_verified": True, "name": name, "groups": groups}


def test_the_idp_sync_is_recorded_as_idp_by_nobody_whoever_is_signed_in(alice):
    forget_fixtures()
    with audit_context(via="web", actor=alice):
        dana = sso_sign_in(
            issuer=ISSUER,
            claims=claims("dana-1", "dana@example.com", ["ops", "dev"]),
            groups_claim="groups",
        )
    idp_events = list(AuditEvent.objects.order_by("pk"))
    assert {(e.via, e.actor_id, e.actor_name) for e in idp_events} == {("idp", None, "system")}
    assert [(e.action, e.object_type) for e in idp_events] == [
        ("create", "auth.user"),
        ("create", "identity.ssoidentity"),
        ("create", "auth.group"),
        ("create", "identity.idpgroup"),
        ("create", "auth.group"),
        ("create", "identity.idpgroup"),
        ("update", "auth.user"),
    ]
    created, identity = idp_events[0], idp_events[1]
    assert created.changes["email"] == "dana@example.com"
    assert created.changes["usable_password"] is False
    assert identity.changes == {"user": dana.pk, "issuer": ISSUER, "subject": "dana-1"}
    assert idp_events[-1].changes == {"groups": [[], ["dev", "ops"]]}

    # The next sign-in: a new email, one group fewer: one event with both.
    AuditEvent.objects.all().delete()
    with audit_context(via="web", actor=alice):
        sso_sign_in(
            issuer=ISSUER,
            claims=claims("dana-1", "dana.scully@example.com", ["dev"]),
            groups_claim="groups",
        )
    (update,) = AuditEvent.objects.all()
    assert shape(update) == (
        "update",
        "system",
        "idp",
        {
            "email": ["dana@example.com", "dana.scully@example.com"],
            "groups": [["dev", "ops"], ["dev"]],
        },
    )

    # A sign-in that changes nothing records nothing (last_login, last_sign_in_at).
    AuditEvent.objects.all().delete()
    sso_sign_in(
        issuer=ISSUER,
        claims=claims("dana-1", "dana.scully@example.com", ["dev"]),
        groups_claim="groups",
    )
    assert not AuditEvent.objects.exists()
