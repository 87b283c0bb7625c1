"""Every change to projects, resources, accounts, grants and tokens, from the admin or the
API, leaves an audit event: who, when, through what, and what changed."""

from __future__ import annotations

import pytest
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import AccountGrant, ApiToken
from audit.models import AuditEvent

from .factories import RESOURCE_ROLE_ARN, AccountFactory, ProjectFactory


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_login(alice)
    return client


def events():
    """The configuration's events; the users the fixtures create are audited too, but are
    the identity tests' business (tests/test_audit_identity.py)."""
    return list(
        AuditEvent.objects.exclude(object_type__startswith="auth.")
        .order_by("id")
        .values("actor_name", "action", "object_type", "changes", "via")
    )


def test_admin_changes_are_recorded_with_actor_and_what_changed(client, alice, aws):
    client.force_login(alice)
    client.post(reverse("admin:resources_project_add"), {"name": "payments", "description": ""})
    client.post(
        reverse("admin:resources_awsiamresource_add"),
        {
            "project": AuditEvent.objects.get(object_type="resources.project").object_id,
            "name": "prod",
            "resource_role_arn": RESOURCE_ROLE_ARN,
        },
    )
    project_event, resource_event = events()
    assert project_event["actor_name"] == "alice@example.com"
    assert (project_event["action"], project_event["object_type"], project_event["via"]) == (
        "create",
        "resources.project",
        "admin",
    )
    assert project_event["changes"]["name"] == "payments"
    assert len(project_event["changes"]["external_id"]) >= 32
    assert resource_event["changes"]["resource_role_arn"] == RESOURCE_ROLE_ARN


def test_api_updates_record_before_and_after_and_only_real_changes(api, aws):
    account = AccountFactory(description="old")
    api.patch(f"/api/v1/accounts/{account.pk}/", {"description": "new"}, format="json")
    api.patch(f"/api/v1/accounts/{account.pk}/", {"description": "new"}, format="json")
    (event,) = events()
    assert (event["action"], event["via"]) == ("update", "api")
    assert event["changes"] == {"description": ["old", "new"]}


def test_grants_and_deletions_are_recorded(api, bob, aws):
    account = AccountFactory()
    response = api.post("/api/v1/grants/", {"account": account.pk, "user": bob.pk}, format="json")
    api.delete(f"/api/v1/grants/{response.json()['id']}/")
    api.delete(f"/api/v1/accounts/{account.pk}/")
    created, revoked, deleted = events()
    assert (created["action"], created["object_type"]) == ("create", "accounts.accountgrant")
    assert created["changes"] == {
        "account": account.pk,
        "user": bob.pk,
        "group": None,
        "kind": "standing",
    }
    assert (revoked["action"], revoked["object_type"]) == ("delete", "accounts.accountgrant")
    assert (deleted["action"], deleted["object_type"]) == ("delete", "accounts.pamaccount")
    assert deleted["changes"]["name"] == account.name
    assert not AccountGrant.objects.exists()


def test_tokens_are_recorded_without_their_secret(bob):
    client = APIClient()
    client.force_login(bob)
    body = client.post("/api/v1/tokens/", {"name": "ci"}, format="json").json()
    client.delete(f"/api/v1/tokens/{body['id']}/")
    created, revoked = events()
    assert created["changes"]["name"] == "ci"
    assert body["token"] not in str(created)
    assert "digest" not in created["changes"]
    # The time it was revoked, as the row has it (not the word "now").
    stored = ApiToken.objects.get(pk=body["id"]).revoked_at
    assert revoked["changes"] == {"revoked_at": [None, stored.isoformat()]}


def test_the_audit_log_is_read_only_in_the_admin(client, alice):
    ProjectFactory()
    client.force_login(alice)
    from audit.services import audit_record

    event = audit_record(actor=alice, action="create", instance=ProjectFactory(), changes={})
    assert client.get(reverse("admin:audit_auditevent_changelist")).status_code == 200
    assert (
        client.post(
            reverse("admin:audit_auditevent_delete", args=[event.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    assert client.get(reverse("admin:audit_auditevent_add")).status_code == 403
    assert AuditEvent.objects.filter(pk=event.pk).exists()
