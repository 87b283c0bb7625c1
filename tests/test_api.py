"""The REST API's behaviour: filters, writes that validate like the admin, Access for
scripts, tokens, pagination, and the OpenAPI document."""

from __future__ import annotations

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.urls import reverse
from django.utils import timezone
from openapi_spec_validator import validate
from rest_framework.test import APIClient

from accounts.models import ApiToken, PamAccount
from resources.models import AwsIamResource, ProjectRole
from sessions_app.models import ConsoleSession, Status

from .factories import (
    RESOURCE_ROLE_ARN,
    TARGET_ROLE_ARN,
    AccountFactory,
    ConsoleSessionFactory,
    ProjectFactory,
    ResourceFactory,
)


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_login(alice)
    return client


def results(response):
    assert response.status_code == 200, response.content
    return response.json()["results"]


# --- Filters -----------------------------------------------------------------------


@pytest.fixture
def timeline(db, bob, charlie):
    """Sessions around T = 12:00: one covering it, one ending exactly at T, one starting
    exactly at T, one failed, one pending."""
    t = timezone.now().replace(microsecond=0) - timedelta(days=1)
    account = AccountFactory()

    def session(user, start, minutes, status=Status.EXPIRED, **kw):
        return ConsoleSessionFactory(
            user=user,
            account=account,
            status=status,
            created_at=start,
            activated_at=start,
            expires_at=start + timedelta(minutes=minutes),
            **kw,
        )

    return {
        "t": t,
        "account": account,
        "covering": session(bob, t - timedelta(minutes=10), 30),
        "ended_at_t": session(charlie, t - timedelta(minutes=30), 30),
        "starts_at_t": session(bob, t, 15),
        "failed": ConsoleSessionFactory(
            user=bob, account=account, status=Status.FAILED, created_at=t - timedelta(minutes=5)
        ),
        "pending": ConsoleSessionFactory(
            user=bob, account=account, status=Status.PENDING, created_at=t - timedelta(minutes=1)
        ),
    }


def session_ids(api, **params):
    return {row["id"] for row in results(api.get("/api/v1/sessions/", params))}


def test_active_at_edges(api, timeline):
    t = timeline["t"]
    covering, ended, starts = timeline["covering"], timeline["ended_at_t"], timeline["starts_at_t"]
    # Exactly at start counts, exactly at expiry does not; failed/pending never gave access.
    assert session_ids(api, active_at=t.isoformat()) == {covering.pk, starts.pk}
    assert session_ids(api, active_at=(t - timedelta(microseconds=1)).isoformat()) == {
        covering.pk,
        ended.pk,
    }
    assert session_ids(api, active_at=(t + timedelta(minutes=15)).isoformat()) == {covering.pk}
    assert session_ids(api, active_at=(t + timedelta(hours=2)).isoformat()) == set()


def test_who_held_access_to_an_account_at_a_moment(api, timeline):
    other = ConsoleSessionFactory(
        status=Status.ACTIVE,
        activated_at=timeline["t"] - timedelta(minutes=1),
        expires_at=timeline["t"] + timedelta(minutes=10),
    )
    rows = results(
        api.get(
            "/api/v1/sessions/",
            {
                "account": timeline["account"].pk,
                "active_at": timeline["t"].isoformat(),
            },
        )
    )
    assert {r["user_email"] for r in rows} == {"bob@example.com"}
    assert other.pk not in {r["id"] for r in rows}


def test_filters_by_user_status_dates_key_and_hierarchy(api, timeline):
    t = timeline["t"]
    failed = timeline["failed"]
    assert session_ids(api, user_email="BOB@example.com", status="failed") == {failed.pk}
    assert session_ids(api, created_after=t.isoformat()) == {timeline["starts_at_t"].pk}
    assert session_ids(api, created_before=(t - timedelta(minutes=20)).isoformat()) == {
        timeline["ended_at_t"].pk,
    }
    keyed = ConsoleSessionFactory(access_key_id="ASIAEXAMPLEKEY123456")
    assert session_ids(api, access_key_id="asiaexamplekey123456") == {keyed.pk}
    account = timeline["account"]
    assert len(session_ids(api, project=account.resource.project_id)) == 5
    assert len(session_ids(api, resource=account.resource_id)) == 5
    assert session_ids(api, account=account.pk + 999) == set()


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"active_at": "yesterday"}, "active_at"),
        ({"status": "asleep"}, "status"),
        ({"account": "abc"}, "account"),
        ({"created_after": "2026-13-01"}, "created_after"),
    ],
)
def test_bad_filters_get_400_naming_the_filter(api, db, params, field):
    response = api.get("/api/v1/sessions/", params)
    assert response.status_code == 400
    assert field in response.json()


def test_sessions_page_with_a_cursor_newest_first(api, db):
    account = AccountFactory()
    now = timezone.now()
    made = [
        ConsoleSessionFactory(account=account, created_at=now - timedelta(minutes=i))
        for i in range(5)
    ]
    first = api.get("/api/v1/sessions/", {"limit": 2}).json()
    assert [r["id"] for r in first["results"]] == [made[0].pk, made[1].pk]
    assert "cursor=" in first["next"]
    second = api.get(first["next"]).json()
    assert [r["id"] for r in second["results"]] == [made[2].pk, made[3].pk]
    oldest = api.get("/api/v1/sessions/", {"ordering": "created_at", "limit": 1}).json()
    assert oldest["results"][0]["id"] == made[4].pk


# --- Writes validate like the admin --------------------------------------------------


def admin_form_error(client, url, data, field):
    html = client.post(url, data).content.decode()
    match = re.search(rf'id="id_{field}_error"[^>]*>(.*?)</ul>', html, re.S)
    import html as html_lib

    return [html_lib.unescape(m) for m in re.findall(r"<li>(.*?)</li>", match.group(1))]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("resource_role_arn", "arn:aws:iam::12345:role/x"),
        ("resource_role_arn", "arn:aws:iam::123456789012:user/x"),
        ("resource_role_arn", ""),
        ("name", "bad/name"),
        ("name", ""),
    ],
)
def test_resource_writes_reject_what_the_admin_rejects_with_the_same_message(
    client, api, alice, aws, field, value
):
    project = ProjectFactory()
    data = {
        "project": project.pk,
        "name": "prod",
        "resource_role_arn": RESOURCE_ROLE_ARN,
        field: value,
    }
    client.force_login(alice)
    admin_messages = admin_form_error(
        client, reverse("admin:resources_awsiamresource_add"), data, field
    )
    response = api.post("/api/v1/resources/", data, format="json")
    assert response.status_code == 400
    assert response.json()[field] == admin_messages
    assert not AwsIamResource.objects.exists()


@pytest.mark.parametrize("duration", ["2h", "14m", "abc", "", "900", "1.5h"])
def test_account_durations_are_checked_like_the_admin(client, api, alice, aws, duration):
    resource = ResourceFactory()
    data = {
        "resource": resource.pk,
        "name": "ro",
        "target_role_arn": TARGET_ROLE_ARN,
        "session_duration": duration,
    }
    client.force_login(alice)
    expected = admin_form_error(
        client,
        reverse("admin:accounts_pamaccount_add"),
        {
            **data,
            "grants-TOTAL_FORMS": "0",
            "grants-INITIAL_FORMS": "0",
        },
        "session_duration",
    )
    response = api.post("/api/v1/accounts/", data, format="json")
    assert response.status_code == 400
    assert response.json()["session_duration"] == expected
    assert aws.assume_role_calls() == []


@pytest.mark.parametrize(("seconds", "status"), [(840, 400), (7200, 400), (900, 201)])
def test_account_durations_may_also_be_given_in_seconds(api, aws, seconds, status):
    resource = ResourceFactory()
    response = api.post(
        "/api/v1/accounts/",
        {
            "resource": resource.pk,
            "name": "ro",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": seconds,
        },
        format="json",
    )
    assert response.status_code == status
    if status == 400:
        assert "out of range" in response.json()["session_duration"][0]


def test_creating_a_resource_and_an_account_validates_against_aws(api, aws):
    project = ProjectFactory()
    response = api.post(
        "/api/v1/resources/",
        {
            "project": project.pk,
            "name": "prod",
            "resource_role_arn": RESOURCE_ROLE_ARN,
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    resource_id = response.json()["id"]
    assert response.json()["validated_at"]
    (hop1,) = aws.assume_role_calls()
    assert hop1.params["ExternalId"] == project.external_id

    aws.calls.clear()
    response = api.post(
        "/api/v1/accounts/",
        {
            "resource": resource_id,
            "name": "readonly",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": "45m",
        },
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert (body["session_duration"], body["session_duration_seconds"]) == ("45m", 2700)
    assert [c.params["RoleArn"] for c in aws.assume_role_calls()] == [
        RESOURCE_ROLE_ARN,
        TARGET_ROLE_ARN,
    ]


def test_an_account_aws_refuses_is_a_400_with_the_code_and_checklist(api, aws):
    resource = ResourceFactory()
    aws.fail(TARGET_ROLE_ARN, code="AccessDenied", message="nope")
    response = api.post(
        "/api/v1/accounts/",
        {
            "resource": resource.pk,
            "name": "ro",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": "30m",
        },
        format="json",
    )
    assert response.status_code == 400
    (message,) = response.json()["target_role_arn"]
    assert "AWS said AccessDenied: nope" in message
    assert resource.project.external_id in message
    assert not PamAccount.objects.exists()


def test_patch_changes_only_what_it_names_and_revalidates_the_arn(api, aws):
    account = AccountFactory(description="old")
    response = api.patch(f"/api/v1/accounts/{account.pk}/", {"description": "new"}, format="json")
    assert response.status_code == 200
    assert aws.assume_role_calls() == []  # nothing AWS cares about changed
    account.refresh_from_db()
    assert (account.description, account.session_duration) == ("new", 1800)

    response = api.patch(
        f"/api/v1/accounts/{account.pk}/", {"session_duration": "1h"}, format="json"
    )
    assert response.status_code == 200
    assert len(aws.assume_role_calls()) == 2
    assert response.json()["session_duration_seconds"] == 3600


def test_a_resource_cannot_move_to_another_project(api, aws):
    resource = ResourceFactory()
    response = api.patch(
        f"/api/v1/resources/{resource.pk}/", {"project": ProjectFactory().pk}, format="json"
    )
    assert response.status_code == 400
    assert response.json() == {"project": ["This field cannot be changed."]}


def test_external_ids_are_generated_not_accepted(api, db):
    response = api.post("/api/v1/projects/", {"name": "p1", "external_id": "mine"}, format="json")
    assert response.status_code == 201
    assert response.json()["external_id"] not in ("mine", None)


def test_grants_need_exactly_one_grantee(api, db, bob):
    account = AccountFactory()
    neither = api.post("/api/v1/grants/", {"account": account.pk}, format="json")
    assert neither.status_code == 400
    assert neither.json() == {
        "non_field_errors": ["Grant the account to either a user or a group."]
    }
    ok = api.post("/api/v1/grants/", {"account": account.pk, "user": bob.pk}, format="json")
    assert ok.status_code == 201
    again = api.post("/api/v1/grants/", {"account": account.pk, "user": bob.pk}, format="json")
    assert again.status_code == 400
    assert "already granted" in str(again.json())


# --- Access for scripts ------------------------------------------------------------


def test_access_over_the_api_returns_the_signin_url_session_and_expiry(federation, account, bob):
    client = APIClient()
    client.force_login(bob)
    response = client.post(f"/api/v1/accounts/{account.pk}/access/")

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    body = response.json()
    session = ConsoleSession.objects.get()
    assert body["session_id"] == session.pk
    assert session.status == Status.ACTIVE
    assert body["expires_at"].replace("Z", "+00:00") == session.expires_at.isoformat()
    query = parse_qs(urlsplit(body["signin_url"]).query)
    assert query["SigninToken"] == [federation.token]


def test_a_failed_access_over_the_api_is_json_naming_the_step(aws, federation, account, bob):
    # Bob administers the project: he gets AWS's message and the setup checklist.
    ProjectRole.objects.create(project=account.resource.project, user=bob, role="admin")
    aws.fail(account.resource.resource_role_arn, code="AccessDenied", message="denied")
    client = APIClient()
    client.force_login(bob)
    response = client.post(f"/api/v1/accounts/{account.pk}/access/")

    assert response.status_code == 502
    body = response.json()
    assert (body["step"], body["code"], body["message"]) == (
        "resource_role",
        "AccessDenied",
        "denied",
    )
    assert any(account.resource.project.external_id in c for c in body["checks"])
    assert ConsoleSession.objects.get(pk=body["session_id"]).status == Status.FAILED


def test_session_authenticated_api_writes_need_the_csrf_token(federation, account, bob):
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(bob)
    assert client.post(f"/api/v1/accounts/{account.pk}/access/").status_code == 403
    assert not ConsoleSession.objects.exists()


# --- Tokens ------------------------------------------------------------------------


def test_a_token_is_shown_once_stored_hashed_and_works_until_revoked(federation, account, bob):
    session_client = APIClient()
    session_client.force_login(bob)
    created = session_client.post(
        "/api/v1/tokens/", {"name": "laptop script", "scope": "access"}, format="json"
    )
    assert created.status_code == 201
    raw = created.json()["token"]
    assert raw.startswith("pam_") and len(raw) > 40
    stored = ApiToken.objects.get()
    assert stored.digest != raw and raw not in (stored.digest, stored.prefix)
    assert raw.startswith(stored.prefix)
    listed = session_client.get("/api/v1/tokens/").json()["results"]
    assert "token" not in listed[0]

    script = APIClient()
    script.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert script.post(f"/api/v1/accounts/{account.pk}/access/").status_code == 200
    stored.refresh_from_db()
    assert stored.last_used_at is not None
    # A token cannot mint tokens: a stolen one must not outlive its revocation.
    assert script.post("/api/v1/tokens/", {"name": "x"}, format="json").status_code == 403

    assert session_client.delete(f"/api/v1/tokens/{stored.pk}/").status_code == 204
    assert script.get("/api/v1/sessions/").status_code == 401


def test_expired_and_unknown_tokens_are_refused(db, bob):
    session_client = APIClient()
    session_client.force_login(bob)
    raw = session_client.post(
        "/api/v1/tokens/", {"name": "t", "expires_in_days": 1}, format="json"
    ).json()["token"]
    ApiToken.objects.update(expires_at=timezone.now() - timedelta(seconds=1))
    for value in (raw, "pam_not-a-real-token", raw + "x"):
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {value}")
        response = client.get("/api/v1/sessions/")
        assert response.status_code == 401
        assert response["WWW-Authenticate"].startswith("Bearer")


def test_token_lifetimes_are_bounded(db, bob):
    client = APIClient()
    client.force_login(bob)
    response = client.post("/api/v1/tokens/", {"name": "t", "expires_in_days": 5000}, format="json")
    assert response.status_code == 400
    assert "expires_in_days" in response.json()


# --- The OpenAPI document ----------------------------------------------------------


def test_the_schema_is_valid_openapi_3_and_documents_filters_and_errors(client, db):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert response.status_code == 200
    schema = response.json()
    validate(schema)
    sessions = schema["paths"]["/api/v1/sessions/"]["get"]
    params = {p["name"] for p in sessions["parameters"]}
    assert {
        "user_email",
        "account",
        "resource",
        "project",
        "status",
        "created_after",
        "created_before",
        "active_at",
        "access_key_id",
        "cursor",
        "limit",
        "ordering",
    } <= params
    access = schema["paths"]["/api/v1/accounts/{id}/access/"]["post"]["responses"]
    assert {"200", "403", "404", "502", "503"} <= set(access)
    assert "apiToken" in schema["components"]["securitySchemes"]


def test_the_api_docs_are_served_without_a_cdn(client, db):
    html = client.get("/api/docs/").content.decode()
    assert "swagger-ui" in html
    assert "cdn" not in html.lower()
    assert "/static/drf_spectacular_sidecar/" in html


@pytest.mark.parametrize(
    "instant",
    [
        "0574-03-25T05:15:39-22:14",
        "2026-11-20T10:00:00+23:59",
        "0001-01-01T00:00:00+05:00",
        "9999-12-31T23:59:59-05:00",
        "0001-01-01T00:30:00Z",
        "9999-12-31T23:59:59Z",
    ],
)
def test_any_valid_iso_instant_is_a_200_or_a_400_never_a_500(api, db, instant):
    """Found by schemathesis: PostgreSQL refuses offsets over 15:59 that Python accepts."""
    for name in ("active_at", "created_after", "created_before"):
        response = api.get("/api/v1/sessions/", {name: instant})
        assert response.status_code in (200, 400), (name, response.content)
        if response.status_code == 400:
            assert name in response.json()


@pytest.mark.parametrize("body", [[], 5, "text", ["a", "b"], None])
def test_a_body_that_is_not_an_object_is_a_400(api, db, body):
    """Found by schemathesis: a JSON list or number used to raise a 500."""
    for url in ("/api/v1/projects/", "/api/v1/accounts/", "/api/v1/grants/"):
        response = api.post(url, body, format="json")
        assert response.status_code == 400, (url, response.content)


def test_the_session_representation_is_exactly_the_model_serializers(db):
    """SessionSerializer writes its rows by hand for speed; it must say what DRF's
    ModelSerializer would, for every field, empty ones included."""
    from rest_framework import serializers

    from sessions_app.api import SessionSerializer

    now = timezone.now()
    sessions = [
        ConsoleSessionFactory(
            status=Status.EXPIRED,
            client_ip="2001:db8::7",
            activated_at=now - timedelta(hours=1),
            expires_at=now - timedelta(minutes=30),
            ended_at=now - timedelta(minutes=29),
            access_key_id="ASIAEXAMPLE000000001",
        ),
        ConsoleSessionFactory(
            status=Status.FAILED,
            user=None,
            user_email="deleted@example.com",
            client_ip=None,
            activated_at=None,
            expires_at=None,
            failure_step="federation",
            error_code="Timeout",
        ),
    ]
    for zone in ("UTC", "Asia/Kolkata"):
        with timezone.override(zone):
            for session in sessions:
                fast = SessionSerializer(session).data
                reference = serializers.ModelSerializer.to_representation(
                    SessionSerializer(), session
                )
                assert fast == reference
                assert list(fast) == SessionSerializer.Meta.fields
    assert SessionSerializer(sessions[0]).data["created_at"].endswith("Z")


def test_a_session_list_page_costs_the_same_queries_for_3_rows_or_30(api, bob):
    """Rows carry their account, resource and project names from one joined query,
    with the joined models' other columns left unloaded; reading one that was not
    loaded would cost a query a row."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    def queries_for_page() -> tuple[int, int]:
        with CaptureQueriesContext(connection) as queries:
            rows = results(api.get("/api/v1/sessions/"))
        assert all(row["project_name"] and row["resource_name"] for row in rows)
        return len(queries), len(rows)

    for _ in range(3):
        ConsoleSessionFactory(user=bob, account=AccountFactory())
    few, listed = queries_for_page()
    assert listed == 3
    for _ in range(27):
        ConsoleSessionFactory(user=bob, account=AccountFactory())
    assert queries_for_page() == (few, 30)


def test_the_api_root_lists_every_collection(db, bob):
    """Access is registered under accounts/ beside the accounts endpoint: the browsable
    root must still link the accounts collection."""
    client = APIClient()
    client.force_login(bob)
    body = client.get("/api/v1/").json()
    assert sorted(body) == [
        "accounts",
        "audit",
        "grants",
        "project-roles",
        "projects",
        "requests",
        "resources",
        "sessions",
        "tokens",
    ]
    assert body["accounts"].endswith("/api/v1/accounts/")
