"""The audit log as each person may read it (SPEC "Separation of duties"): superusers and the
global history permission everything, a project's admins and auditors its events, anyone
else nothing; in the admin and at `GET /api/v1/audit/`, paged by cursor or streamed (JSON
lines, CSV) for a SIEM, with the same filters, and never a secret."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import pytest
from django.apps import apps
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import tokens
from accounts.models import ApiToken
from audit.api import HEADERS
from audit.models import AuditEvent
from audit.services import audit_record
from resources.models import ProjectRole

from .factories import (
    AccountFactory,
    GrantFactory,
    GroupFactory,
    ProjectFactory,
    ResourceFactory,
    UserFactory,
)

URL = "/api/v1/audit/"


def api(user=None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


def ids(response) -> list[int]:
    assert response.status_code == 200, response.content
    return [row["id"] for row in response.json()["results"]]


def stream(response) -> str:
    assert response.status_code == 200, response.content
    return b"".join(response.streaming_content).decode()


def jsonl(response) -> list[dict]:
    assert response["Content-Type"].startswith("application/x-ndjson")
    return [json.loads(line) for line in stream(response).splitlines()]


def csv_rows(response) -> list[dict]:
    assert response["Content-Type"].startswith("text/csv")
    assert response["Content-Disposition"].startswith('attachment; filename="audit-')
    return list(csv.DictReader(io.StringIO(stream(response))))


@pytest.fixture
def world(db, alice):
    """Projects P and Q, each with configuration events; events on users (no project);
    an auditor of P, an admin of Q, an auditor of P through a group, a security officer
    with the global permission, and someone with no role at all."""
    p, q = ProjectFactory(name="p"), ProjectFactory(name="q")
    people = {
        "auditor": UserFactory(username="paula"),
        "q_admin": UserFactory(username="quinn"),
        "via_group": UserFactory(username="gail"),
        "security": UserFactory(username="sec"),
        "nobody": UserFactory(username="nobody"),
    }
    auditors = GroupFactory(name="p-auditors")
    people["via_group"].groups.add(auditors)
    ProjectRole.objects.create(project=p, user=people["auditor"], role="auditor")
    ProjectRole.objects.create(project=p, group=auditors, role="auditor")
    ProjectRole.objects.create(project=q, user=people["q_admin"], role="admin")
    # An approver reads history, not the configuration's audit.
    ProjectRole.objects.create(project=q, user=people["nobody"], role="approver")
    people["security"].user_permissions.add(Permission.objects.get(codename="view_auditevent"))

    AuditEvent.objects.all().delete()
    resources = {"p": ResourceFactory(project=p), "q": ResourceFactory(project=q)}
    accounts = {k: AccountFactory(resource=r) for k, r in resources.items()}
    grants = {k: GrantFactory(account=a, user=people["nobody"]) for k, a in accounts.items()}
    events = {"p": [], "q": []}
    for key, project in (("p", p), ("q", q)):
        for instance in (project, resources[key], accounts[key], grants[key]):
            events[key].append(
                audit_record(actor=alice, action="create", instance=instance, changes={}).pk
            )
    bob = UserFactory(username="bob")  # an event on a user: no project
    user_events = list(
        AuditEvent.objects.filter(object_type="auth.user").values_list("pk", flat=True)
    )
    return {"p": p, "q": q, "events": events, "user_events": user_events, "bob": bob, **people}


# --- Who reads what ---------------------------------------------------------------------


def test_each_event_knows_its_project(world):
    p, q = world["p"], world["q"]
    for key, project in (("p", p), ("q", q)):
        assert set(
            AuditEvent.objects.filter(pk__in=world["events"][key]).values_list(
                "project_id", flat=True
            )
        ) == {project.pk}
    assert set(
        AuditEvent.objects.filter(pk__in=world["user_events"]).values_list("project_id", flat=True)
    ) == {None}
    # A caller that knows better says so.
    explicit = audit_record(
        actor=None, action="update", instance=world["bob"], changes={}, project_id=q.pk
    )
    assert explicit.project_id == q.pk


def test_superusers_and_the_global_permission_read_everything(world, alice):
    every = sorted(AuditEvent.objects.values_list("pk", flat=True), reverse=True)
    assert ids(api(alice).get(URL)) == every
    assert ids(api(world["security"]).get(URL)) == every


@pytest.mark.parametrize("who", ["auditor", "via_group"])
def test_a_project_auditor_reads_that_projects_events_only(world, who):
    mine = sorted(world["events"]["p"], reverse=True)
    assert ids(api(world[who]).get(URL)) == mine
    q_event = world["events"]["q"][0]
    assert api(world[who]).get(f"{URL}{q_event}/").status_code == 404
    assert api(world[who]).get(f"{URL}{mine[0]}/").json()["project"] == world["p"].pk


def test_a_project_admin_reads_their_projects_events(world):
    assert ids(api(world["q_admin"]).get(URL)) == sorted(world["events"]["q"], reverse=True)


def test_no_role_reads_nothing_and_nobody_signed_in_is_a_401(world):
    assert ids(api(world["nobody"]).get(URL)) == []  # an approver of Q: not its audit
    assert ids(api(UserFactory()).get(URL)) == []
    for fmt in ("json", "jsonl", "csv"):
        response = api().get(URL, {"format": fmt})
        assert response.status_code == 401
        assert response["Content-Type"] == "application/json"


def test_a_read_token_suffices(world):
    raw = tokens.token_create(user=world["auditor"], name="siem", scope="read")[1]
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert ids(client.get(URL)) == sorted(world["events"]["p"], reverse=True)
    lines = jsonl(client.get(URL, {"format": "jsonl"}))
    assert {row["project"] for row in lines} == {world["p"].pk}


def test_the_admin_list_reads_through_restrict(world):
    auditor = world["auditor"]
    auditor.is_staff = True
    auditor.save()
    client = Client()
    client.force_login(auditor)
    changelist = reverse("admin:audit_auditevent_changelist")
    page = client.get(changelist)
    assert page.status_code == 200
    shown = {event.pk for event in page.context["cl"].result_list}
    assert shown == set(world["events"]["p"])
    q_event = world["events"]["q"][0]
    assert client.get(reverse("admin:audit_auditevent_change", args=[q_event])).status_code == 404
    p_event = world["events"]["p"][0]
    assert client.get(reverse("admin:audit_auditevent_change", args=[p_event])).status_code == 200

    outsider = world["nobody"]
    outsider.is_staff = True
    outsider.save()
    client.force_login(outsider)
    assert client.get(changelist).status_code == 403


# --- Filters ----------------------------------------------------------------------------


def test_each_filter(world, alice):
    p_events, q_events = world["events"]["p"], world["events"]["q"]
    bob = world["bob"]
    client = api(alice)
    grant_event = AuditEvent.objects.get(pk=p_events[3])
    assert ids(client.get(URL, {"project": world["p"].pk})) == sorted(p_events, reverse=True)
    assert ids(client.get(URL, {"object_type": "accounts.accountgrant"})) == [
        q_events[3],
        p_events[3],
    ]
    assert ids(
        client.get(
            URL, {"object_type": "accounts.accountgrant", "object_id": grant_event.object_id}
        )
    ) == [grant_event.pk]
    assert ids(client.get(URL, {"actor": alice.pk})) == sorted(p_events + q_events, reverse=True)
    assert (
        ids(client.get(URL, {"object_type": "auth.user", "object_id": str(bob.pk)}))
        == (world["user_events"])
    )
    assert ids(client.get(URL, {"action": "update"})) == []
    by_api = audit_record(actor=None, action="update", instance=bob, changes={}, via="api")
    assert ids(client.get(URL, {"via": "api"})) == [by_api.pk]
    assert ids(client.get(URL, {"action": "update"})) == [by_api.pk]
    assert ids(client.get(URL, {"actor": alice.pk, "action": "update"})) == []

    # Times: move P's events an hour back.
    hour_ago = timezone.now() - timedelta(hours=1)
    AuditEvent.objects.filter(pk__in=p_events).update(created_at=hour_ago)
    cut = (hour_ago + timedelta(minutes=1)).isoformat()
    assert set(ids(client.get(URL, {"until": cut}))) == set(p_events)
    assert set(ids(client.get(URL, {"since": cut, "project": world["q"].pk}))) == set(q_events)
    assert ids(client.get(URL, {"since": hour_ago.isoformat(), "until": cut})) == sorted(
        p_events, reverse=True
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("since", "yesterday"),
        ("until", "2026-13-01T00:00:00Z"),
        ("actor", "alice"),
        ("project", "-1"),
        ("project", str(2**40)),
        ("action", "destroy"),
    ],
)
def test_a_bad_filter_is_a_400_naming_it(world, alice, name, value):
    for fmt in ("json", "jsonl", "csv"):
        response = api(alice).get(URL, {name: value, "format": fmt})
        assert response.status_code == 400, (fmt, response.content)
        assert response["Content-Type"] == "application/json"
        assert name in response.json()


# --- Pages ------------------------------------------------------------------------------


def test_cursor_pages_hold_still_while_events_arrive(world, alice):
    for n in range(15):
        audit_record(actor=alice, action="update", instance=world["bob"], changes={"n": n})
    expected = sorted(AuditEvent.objects.values_list("pk", flat=True), reverse=True)
    client = api(alice)
    seen: list[int] = []
    url, params = URL, {"limit": 7}
    while url:
        body = client.get(url, params).json()
        seen += [row["id"] for row in body["results"]]
        # Events written meanwhile (newer) never shift what is still to come.
        audit_record(actor=alice, action="update", instance=world["bob"], changes={"new": 1})
        url, params = body["next"], None
    assert seen == expected
    assert len(expected) > 2 * 7

    oldest_first = client.get(URL, {"ordering": "created_at", "limit": 5}).json()
    assert [row["id"] for row in oldest_first["results"]] == sorted(expected)[:5]


# --- Streams ----------------------------------------------------------------------------


def test_the_json_lines_stream_is_the_list_unpaged_with_its_filters(world, alice):
    for n in range(120):  # more than a page
        audit_record(actor=alice, action="update", instance=world["bob"], changes={"n": n})
    client = api(alice)
    everything = jsonl(client.get(URL, {"format": "jsonl"}))
    assert len(everything) == AuditEvent.objects.count() > 100
    assert [row["id"] for row in everything] == sorted(
        AuditEvent.objects.values_list("pk", flat=True), reverse=True
    )
    assert all(list(row) == HEADERS for row in everything)
    # Each line is the object the JSON list shows.
    first_page = client.get(URL).json()["results"]
    assert everything[: len(first_page)] == first_page

    p_only = jsonl(client.get(URL, {"format": "jsonl", "project": world["p"].pk}))
    assert [row["id"] for row in p_only] == sorted(world["events"]["p"], reverse=True)
    by_accept = client.get(URL, {"project": world["p"].pk}, HTTP_ACCEPT="application/x-ndjson")
    assert jsonl(by_accept) == p_only
    # As each person may see it.
    assert jsonl(api(world["q_admin"]).get(URL, {"format": "jsonl"})) == jsonl(
        client.get(URL, {"format": "jsonl", "project": world["q"].pk})
    )
    assert stream(api(world["nobody"]).get(URL, {"format": "jsonl"})) == ""


def test_the_csv_stream(world, alice):
    formula = audit_record(
        actor=alice,
        action="update",
        instance=world["p"],
        changes={"description": ["", "=HYPERLINK(1)"]},
    )
    AuditEvent.objects.filter(pk=formula.pk).update(object_repr="=cmd|' /C calc'!A0")
    client = api(alice)
    rows = csv_rows(client.get(URL, {"format": "csv", "project": world["p"].pk}))
    assert [int(row["id"]) for row in rows] == sorted(
        [*world["events"]["p"], formula.pk], reverse=True
    )
    assert list(rows[0]) == HEADERS
    top = rows[0]
    assert top["object_repr"] == "'=cmd|' /C calc'!A0"  # never a formula in a spreadsheet
    assert json.loads(top["changes"]) == {"description": ["", "=HYPERLINK(1)"]}
    assert (top["actor"], top["actor_name"], top["project"]) == (
        str(alice.pk),
        "alice@example.com",
        str(world["p"].pk),
    )
    assert top["created_at"].endswith("+00:00")
    assert csv_rows(client.get(URL, {"project": world["q"].pk}, HTTP_ACCEPT="text/csv")) == (
        csv_rows(client.get(f"{URL}", {"format": "csv", "project": world["q"].pk}))
    )
    # An auditor's export is their projects' events.
    assert {
        row["project"] for row in csv_rows(api(world["auditor"]).get(URL, {"format": "csv"}))
    } == {str(world["p"].pk)}


# --- Secrets ----------------------------------------------------------------------------


def test_no_output_holds_a_secret(world, alice, client):
    token, raw = tokens.token_create(user=world["bob"], name="laptop", scope="admin")
    digest = ApiToken.objects.get(pk=token.pk).digest
    # A user created, given a password, and changed in the admin.
    client.force_login(alice)
    user = UserFactory(username="vic")
    user.set_password("S3cret!passphrase")
    user.save()
    hashed = user.password
    siem = api(alice)
    outputs = [
        json.dumps(siem.get(URL, {"limit": 1000}).json()),
        stream(siem.get(URL, {"format": "jsonl"})),
        stream(siem.get(URL, {"format": "csv"})),
    ]
    assert AuditEvent.objects.filter(object_type="accounts.apitoken").exists()
    assert AuditEvent.objects.filter(object_type="auth.user", object_id=str(user.pk)).exists()
    for output in outputs:
        for secret in (raw, digest, hashed, "S3cret!passphrase", token.password_fingerprint):
            assert secret and secret not in output


# --- The migration fills in the project of older events --------------------------------


def test_the_migration_fills_in_the_project_of_older_events(world):
    import importlib

    migration = importlib.import_module("audit.migrations.0004_project_and_channels")
    AuditEvent.objects.update(project_id=None)
    p_resource = ResourceFactory(project=world["p"])
    deleted = AuditEvent.objects.create(
        actor_name="x",
        action="delete",
        object_type="resources.awsiamresource",
        object_id="999999",
        object_repr="gone",
        changes={"project": world["p"].pk},
    )
    on_resource = AuditEvent.objects.create(
        actor_name="x",
        action="update",
        object_type="resources.awsiamresource",
        object_id=str(p_resource.pk),
        object_repr="r",
        changes={},
    )
    migration.backfill_projects(apps, None)
    for key in ("p", "q"):
        assert set(
            AuditEvent.objects.filter(pk__in=world["events"][key]).values_list(
                "project_id", flat=True
            )
        ) == {world[key].pk}
    deleted.refresh_from_db()
    on_resource.refresh_from_db()
    assert deleted.project_id == on_resource.project_id == world["p"].pk
    assert set(
        AuditEvent.objects.filter(pk__in=world["user_events"]).values_list("project_id", flat=True)
    ) == {None}
