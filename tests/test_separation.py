"""Separation of duties (SPEC; issue 16): project roles narrow what admins may change,
nobody confers access on themselves by any route, and the red team's findings stay
fixed. (Who sees what on every URL: test_authz_matrix.py.)"""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from rest_framework.test import APIClient

from access_requests import services as requests_services
from access_requests.selectors import approvers_of, may_decide
from accounts.models import AccountGrant, GrantKind, PamAccount
from audit.models import AuditEvent
from resources.models import AwsIamResource, ProjectRole

from .factories import (
    RESOURCE_ROLE_ARN,
    TARGET_ROLE_ARN,
    AccountFactory,
    GrantFactory,
    GroupFactory,
    ProjectRoleFactory,
    UserFactory,
)

SELF_REFUSED = "another admin must do it"


@pytest.fixture
def house(db, bob, charlie):
    """Project A (account a, granted to bob) administered by pat; project B (account b)
    administered by nobody but superusers."""
    pat = UserFactory(username="pat", is_staff=True)
    a = AccountFactory(name="a")
    b = AccountFactory(name="b")
    GrantFactory(account=a, user=bob)
    ProjectRoleFactory(project=a.resource.project, user=pat, role="admin")
    return {"pat": pat, "a": a, "b": b, "A": a.resource.project, "B": b.resource.project}


def api(user):
    client = APIClient()
    client.force_login(user)
    return client


def web(user):
    client = Client()
    client.force_login(user)
    return client


# --- The red team's replay ------------------------------------------------------------


def test_global_model_permissions_no_longer_grant_anything_anywhere(house, charlie):
    """A staff user with the global grant and account permissions and no role: they
    granted themselves an account of an unrelated project, granted another user one,
    and re-pointed an account. Each is refused now, and nothing is written."""
    mallory = UserFactory(username="mallory", is_staff=True)
    for codename in ["add_accountgrant", "change_pamaccount", "view_accountgrant"]:
        mallory.user_permissions.add(Permission.objects.get(codename=codename))
    GrantFactory(account=house["b"], user=mallory)
    client = api(mallory)
    a, b = house["a"], house["b"]

    assert client.post("/api/v1/grants/", {"account": a.pk, "user": mallory.pk}).status_code == 403
    assert client.post("/api/v1/grants/", {"account": b.pk, "user": charlie.pk}).status_code == 403
    # Granted b, so it sees b; changing it is not theirs.
    patch = client.patch(
        f"/api/v1/accounts/{b.pk}/",
        {"target_role_arn": "arn:aws:iam::111122223333:role/stronger"},
        format="json",
    )
    assert patch.status_code == 403
    assert PamAccount.objects.get(pk=b.pk).target_role_arn == TARGET_ROLE_ARN
    assert AccountGrant.objects.count() == 2


def test_a_project_admin_grants_in_their_project_only(house, charlie):
    client = api(house["pat"])
    created = client.post(
        "/api/v1/grants/", {"account": house["a"].pk, "user": charlie.pk}, format="json"
    )
    assert created.status_code == 201, created.content
    event = AuditEvent.objects.get(object_type="accounts.accountgrant", action="create")
    assert (event.actor, event.changes["user"]) == (house["pat"], charlie.pk)

    elsewhere = client.post(
        "/api/v1/grants/", {"account": house["b"].pk, "user": charlie.pk}, format="json"
    )
    assert elsewhere.status_code == 400
    assert "account" in elsewhere.json()  # "not one of the available choices"
    # And B's grants and accounts are not even visible.
    assert client.get(f"/api/v1/accounts/{house['b'].pk}/").status_code == 404


# --- Nobody confers access on themselves ------------------------------------------------


@pytest.mark.parametrize("who", ["pat", "superuser"])
def test_nobody_grants_themselves_an_account_directly_or_through_a_group(house, who, alice):
    actor = house["pat"] if who == "pat" else alice
    group = GroupFactory(name="oncall")
    actor.groups.add(group)
    client = api(actor)
    for body, field in [({"user": actor.pk}, "user"), ({"group": group.pk}, "group")]:
        response = client.post("/api/v1/grants/", {"account": house["a"].pk, **body}, format="json")
        assert response.status_code == 400
        assert SELF_REFUSED in response.json()[field][0]
    assert not AccountGrant.objects.filter(account=house["a"]).exclude(user__username="bob")


def test_the_admin_grant_inline_refuses_a_grant_to_oneself(house):
    pat, a = house["pat"], house["a"]
    url = reverse("admin:accounts_pamaccount_change", args=[a.pk])
    page = web(pat).get(url)
    assert page.status_code == 200
    form = page.context["adminform"].form
    data = {
        name: form[name].value() or ""
        for name in form.fields
        if name not in {"approver_users", "approver_groups", "resource"}
    }
    data.update(
        {
            "session_duration": "30m",
            "max_window": "4h",
            "grants-TOTAL_FORMS": "2",
            "grants-INITIAL_FORMS": "1",
            "grants-0-id": str(a.grants.get().pk),
            "grants-0-account": str(a.pk),
            "grants-0-user": str(a.grants.get().user_id),
            "grants-0-kind": "standing",
            "grants-1-account": str(a.pk),
            "grants-1-user": str(pat.pk),
            "grants-1-kind": "standing",
        }
    )
    response = web(pat).post(url, data)
    assert response.status_code == 200  # the form again, with the error on the row
    assert SELF_REFUSED in response.content.decode()
    assert not a.grants.filter(user=pat).exists()


def test_nobody_makes_themselves_an_approver(house, alice):
    pat, a = house["pat"], house["a"]
    group = GroupFactory(name="approvers")
    pat.groups.add(group)
    client = api(pat)
    for field, value in [("approver_users", [pat.pk]), ("approver_groups", [group.pk])]:
        response = client.patch(f"/api/v1/accounts/{a.pk}/", {field: value}, format="json")
        assert response.status_code == 400
        assert SELF_REFUSED in response.json()[field][0]
    assert not a.approver_users.exists() and not a.approver_groups.exists()
    # Someone else may be named; and keeping oneself, named by another admin, is no new
    # conferral (an unrelated save is not refused).
    a.approver_users.add(pat)
    ok = client.patch(f"/api/v1/accounts/{a.pk}/", {"description": "ro"}, format="json")
    assert ok.status_code == 200, ok.content


def test_nobody_gives_themselves_a_project_role(house, charlie):
    pat, project = house["pat"], house["A"]
    group = GroupFactory(name="auditors")
    pat.groups.add(group)
    client = api(pat)
    for body, field in [({"user": pat.pk}, "user"), ({"group": group.pk}, "group")]:
        response = client.post(
            "/api/v1/project-roles/",
            {"project": project.pk, "role": "auditor", **body},
            format="json",
        )
        assert response.status_code == 400
        assert SELF_REFUSED in response.json()[field][0]
    given = client.post(
        "/api/v1/project-roles/",
        {"project": project.pk, "role": "auditor", "user": charlie.pk},
        format="json",
    )
    assert given.status_code == 201, given.content
    event = AuditEvent.objects.get(object_type="resources.projectrole", action="create")
    assert event.changes["role"] == "auditor"
    # Not in a project one does not administer.
    other = client.post(
        "/api/v1/project-roles/",
        {"project": house["B"].pk, "role": "auditor", "user": charlie.pk},
        format="json",
    )
    assert other.status_code == 400 and "project" in other.json()


def test_nobody_repoints_an_account_or_resource_granted_to_them(house, aws):
    pat, a = house["pat"], house["a"]
    GrantFactory(account=a, user=pat, kind=GrantKind.ELIGIBLE)
    client = api(pat)
    stronger = "arn:aws:iam::111122223333:role/admin"
    account = client.patch(f"/api/v1/accounts/{a.pk}/", {"target_role_arn": stronger})
    assert account.status_code == 400
    assert SELF_REFUSED in account.json()["target_role_arn"][0]
    resource = client.patch(
        f"/api/v1/resources/{a.resource_id}/",
        {"resource_role_arn": "arn:aws:iam::111122223333:role/bridge"},
    )
    assert resource.status_code == 400
    assert SELF_REFUSED in resource.json()["resource_role_arn"][0]
    assert aws.assume_role_calls() == []  # refused before any AWS call
    # Another admin, not granted, may.
    quinn = UserFactory(username="quinn")
    ProjectRoleFactory(project=house["A"], user=quinn, role="admin")
    moved = api(quinn).patch(f"/api/v1/accounts/{a.pk}/", {"target_role_arn": stronger})
    assert moved.status_code == 200, moved.content


def test_a_target_role_is_never_its_resource_role(house, aws, alice):
    client = api(alice)
    resource = house["a"].resource
    created = client.post(
        "/api/v1/accounts/",
        {
            "resource": resource.pk,
            "name": "bridge",
            "target_role_arn": resource.resource_role_arn,
            "session_duration": "30m",
        },
        format="json",
    )
    assert created.status_code == 400
    assert "Resource Role" in created.json()["target_role_arn"][0]
    updated = client.patch(
        f"/api/v1/accounts/{house['a'].pk}/", {"target_role_arn": RESOURCE_ROLE_ARN}
    )
    assert updated.status_code == 400 and "target_role_arn" in updated.json()
    # Nor the other way: a Resource Role that is one of its accounts' Target Roles.
    repointed = client.patch(
        f"/api/v1/resources/{resource.pk}/", {"resource_role_arn": TARGET_ROLE_ARN}
    )
    assert repointed.status_code == 400
    assert "Target Role" in repointed.json()["resource_role_arn"][0]
    assert AwsIamResource.objects.get(pk=resource.pk).resource_role_arn == RESOURCE_ROLE_ARN


def test_in_the_user_admin_nobody_changes_their_own_groups_permissions_or_flags(alice):
    group = GroupFactory(name="granted")
    url = reverse("admin:auth_user_change", args=[alice.pk])
    client = web(alice)
    form = client.get(url).context["adminform"].form
    data = {name: form[name].value() for name in form.fields if form[name].value() is not None}
    data.update({"groups": [group.pk], "is_active": "on", "is_staff": "on"})
    data.pop("is_superuser", None)
    response = client.post(url, data)
    assert response.status_code == 200
    errors = response.context["adminform"].form.errors
    assert SELF_REFUSED in errors["groups"][0]
    assert SELF_REFUSED in errors["is_superuser"][0]
    alice.refresh_from_db()
    assert alice.is_superuser and not alice.groups.exists()


def test_in_the_group_admin_nobody_changes_the_permissions_of_a_group_they_are_in(alice):
    group = GroupFactory(name="ops")
    alice.groups.add(group)
    permission = Permission.objects.get(codename="revoke_consolesession")
    url = reverse("admin:auth_group_change", args=[group.pk])
    response = web(alice).post(url, {"name": "ops", "permissions": [permission.pk]})
    assert response.status_code == 200
    assert SELF_REFUSED in response.context["adminform"].form.errors["permissions"][0]
    assert not group.permissions.exists()
    other = GroupFactory(name="auditors")
    url = reverse("admin:auth_group_change", args=[other.pk])
    assert (
        web(alice).post(url, {"name": "auditors", "permissions": [permission.pk]}).status_code
        == 302
    )
    assert other.permissions.filter(pk=permission.pk).exists()


# --- Approvers by project role ----------------------------------------------------------


def test_a_project_approver_decides_where_the_account_names_nobody(house, bob, charlie):
    ruth = UserFactory(username="ruth", email="ruth@example.com")
    ProjectRoleFactory(project=house["A"], user=ruth, role="approver")
    eligible = AccountFactory(name="prod", resource=house["a"].resource)
    GrantFactory(account=eligible, user=bob, kind=GrantKind.ELIGIBLE)
    request = requests_services.request_create(
        requester=bob, account=eligible, reason="incident 7", duration_seconds=3600
    )
    assert may_decide(ruth, request)
    assert list(approvers_of(eligible)) == [ruth]
    # Once the account names its own approvers, they (and only they) decide.
    eligible.approver_users.add(charlie)
    assert not may_decide(ruth, request)
    assert list(approvers_of(eligible)) == [charlie]
    # An approver of another project decides nothing here.
    ProjectRole.objects.filter(user=ruth).update(project=house["B"])
    eligible.approver_users.clear()
    assert not may_decide(ruth, request)
