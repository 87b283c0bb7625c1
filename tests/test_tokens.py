"""API tokens a PAM can trust: scoped, always expiring, dead after a password change or
deactivation (and not revived), and visible and revocable by admins."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import ApiToken
from audit.models import AuditEvent


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


@pytest.mark.parametrize(
    ("scope", "reads", "access", "writes"),
    [("read", 200, 403, 403), ("access", 200, 200, 403), ("admin", 200, 200, 201)],
)
def test_a_token_does_what_its_scope_allows_and_no_more(
    federation, account, bob, alice, scope, reads, access, writes
):
    # bob may Access the account; alice (superuser, not granted) may write configuration.
    bob_raw = tokens.token_create(user=bob, name="t", scope=scope)[1]
    alice_raw = tokens.token_create(user=alice, name="t", scope=scope)[1]
    assert bearer(bob_raw).get("/api/v1/sessions/").status_code == reads
    answer = bearer(bob_raw).post(f"/api/v1/accounts/{account.pk}/access/")
    assert answer.status_code == (200 if access == 200 else 403)
    if access == 403:
        assert f'scope is "{scope}"' in answer.json()["detail"]
    created = bearer(alice_raw).post("/api/v1/projects/", {"name": f"p-{scope}"}, format="json")
    assert created.status_code == writes


def test_a_token_is_read_only_and_expires_in_30_days_unless_asked(db, bob):
    client = APIClient()
    client.force_login(bob)
    body = client.post("/api/v1/tokens/", {"name": "laptop"}, format="json").json()
    assert body["scope"] == "read"
    token = ApiToken.objects.get(pk=body["id"])
    assert abs(token.expires_at - (timezone.now() + timedelta(days=30))) < timedelta(minutes=1)


def test_a_password_change_ends_every_token_made_before_it(db, bob):
    raw = tokens.token_create(user=bob, name="t")[1]
    assert bearer(raw).get("/api/v1/sessions/").status_code == 200
    bob.set_password("a new password, long enough")
    bob.save()
    assert bearer(raw).get("/api/v1/sessions/").status_code == 401
    fresh = tokens.token_create(user=bob, name="after")[1]
    assert bearer(fresh).get("/api/v1/sessions/").status_code == 200


def test_deactivation_kills_tokens_for_good(db, bob):
    raw = tokens.token_create(user=bob, name="t")[1]
    bob.is_active = False
    bob.save()
    assert ApiToken.objects.get().revoked_at is not None
    event = AuditEvent.objects.filter(object_type="accounts.apitoken").order_by("id").last()
    assert event.changes["reason"] == "user deactivated"
    bob.is_active = True
    bob.save()
    assert bearer(raw).get("/api/v1/sessions/").status_code == 401


def test_admins_list_and_revoke_anyones_tokens_others_cannot(db, alice, bob, charlie):
    token, raw = tokens.token_create(user=bob, name="bob's")
    as_charlie = APIClient()
    as_charlie.force_login(charlie)
    assert as_charlie.get("/api/v1/tokens/").json()["results"] == []
    assert as_charlie.delete(f"/api/v1/tokens/{token.pk}/").status_code == 404
    as_alice = APIClient()
    as_alice.force_login(alice)
    listed = as_alice.get("/api/v1/tokens/").json()["results"]
    assert [(t["id"], t["user"]) for t in listed] == [(token.pk, bob.pk)]
    assert as_alice.delete(f"/api/v1/tokens/{token.pk}/").status_code == 204
    assert bearer(raw).get("/api/v1/sessions/").status_code == 401


def test_an_ops_user_who_may_view_tokens_may_not_revoke_them(db, bob, charlie):
    charlie.user_permissions.add(Permission.objects.get(codename="view_apitoken"))
    token = tokens.token_create(user=bob, name="bob's")[0]
    client = APIClient()
    client.force_login(charlie)
    assert [t["id"] for t in client.get("/api/v1/tokens/").json()["results"]] == [token.pk]
    assert client.delete(f"/api/v1/tokens/{token.pk}/").status_code == 403
    assert ApiToken.objects.get().revoked_at is None


def test_the_admin_lists_tokens_and_revokes_them(client, alice, bob):
    token, raw = tokens.token_create(user=bob, name="ci job")
    client.force_login(alice)
    changelist = reverse("admin:accounts_apitoken_changelist")
    page = client.get(changelist)
    assert "ci job" in page.content.decode()
    assert raw not in page.content.decode() and token.digest not in page.content.decode()
    client.post(changelist, {"action": "revoke", "_selected_action": [token.pk]})
    token.refresh_from_db()
    assert token.revoked_at is not None
    assert bearer(raw).get("/api/v1/sessions/").status_code == 401


def test_a_read_token_of_an_admin_cannot_revoke_other_peoples_tokens(db, alice, bob):
    victim, victim_raw = tokens.token_create(user=bob, name="bob's job")
    own = tokens.token_create(user=alice, name="alice's other")[0]
    read_raw = tokens.token_create(user=alice, name="alice's reader", scope="read")[1]
    refused = bearer(read_raw).delete(f"/api/v1/tokens/{victim.pk}/")
    assert refused.status_code == 403
    assert 'needs scope "admin"' in refused.json()["detail"]
    assert bearer(victim_raw).get("/api/v1/sessions/").status_code == 200
    # Revoking one's own token needs no more than read.
    assert bearer(read_raw).delete(f"/api/v1/tokens/{own.pk}/").status_code == 204
    admin_raw = tokens.token_create(user=alice, name="alice's admin", scope="admin")[1]
    assert bearer(admin_raw).delete(f"/api/v1/tokens/{victim.pk}/").status_code == 204


def test_saving_an_inactive_user_without_touching_is_active_revokes_nothing(db, bob):
    raw = tokens.token_create(user=bob, name="t")[1]
    bob.is_active = False
    bob.save(update_fields=["last_login"])  # is_active not written: still active in the DB
    assert ApiToken.objects.get().revoked_at is None
    bob.refresh_from_db()
    assert bearer(raw).get("/api/v1/sessions/").status_code == 200
