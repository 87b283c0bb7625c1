"""Whatever is typed or sent, never a 500, never an invalid ARN accepted, and a rejection
names the field. Hypothesis generates the input; moto answers the AWS checks."""

from __future__ import annotations

import pytest
from django.urls import reverse
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from resources.aws import ArnError, parse_role_arn

from .factories import (
    RESOURCE_ROLE_ARN,
    AccountFactory,
    ConsoleSessionFactory,
    ProjectFactory,
    ResourceFactory,
)

EXAMPLES = settings(
    max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck)
)

# Text that is sometimes nearly an ARN, sometimes anything at all.
arn_parts = st.sampled_from(
    [
        "arn",
        "aws",
        "aws-cn",
        "aws-us-gov",
        "iam",
        "",
        "role",
        "123456789012",
        "user",
        "role/a/b",
        "x" * 70,
        "é",
        " ",
        "\x00",
    ]
)
arn_like = st.one_of(
    st.text(max_size=80),
    st.lists(arn_parts, min_size=1, max_size=7).map(":".join),
    st.builds(lambda name: f"arn:aws:iam::123456789012:role/{name}", st.text(max_size=70)),
)
json_value = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.text(max_size=40),
    st.lists(st.integers(), max_size=3),
)


@pytest.fixture
def api(alice):
    client = APIClient()
    client.force_login(alice)
    return client


def assert_field_errors(response, allowed):
    assert response.status_code == 400, response.content
    body = response.json()
    assert body and set(body) <= allowed | {"non_field_errors"}
    for messages in body.values():
        assert all(isinstance(m, str) and m for m in messages)


@EXAMPLES
@given(arn=arn_like, name=st.text(max_size=80), flag=json_value)
def test_resource_writes(api, aws, arn, name, flag):
    project = ProjectFactory()
    response = api.post(
        "/api/v1/resources/",
        {
            "project": project.pk,
            "name": name,
            "resource_role_arn": arn,
            "set_source_identity": flag,
        },
        format="json",
    )
    if response.status_code == 201:
        assert parse_role_arn(response.json()["resource_role_arn"])
        return
    assert_field_errors(response, {"name", "resource_role_arn", "set_source_identity"})
    try:
        parse_role_arn(arn.strip())
    except ArnError:
        assert "resource_role_arn" in response.json()


@EXAMPLES
@given(
    arn=arn_like,
    duration=json_value | st.text(max_size=12),
    name=st.text(max_size=70),
    description=st.text(max_size=1200),
)
def test_account_writes(api, aws, arn, duration, name, description):
    resource = ResourceFactory()
    response = api.post(
        "/api/v1/accounts/",
        {
            "resource": resource.pk,
            "name": name,
            "description": description,
            "target_role_arn": arn,
            "session_duration": duration,
        },
        format="json",
    )
    if response.status_code == 201:
        body = response.json()
        assert parse_role_arn(body["target_role_arn"])
        assert 900 <= body["session_duration_seconds"] <= 3600
        return
    assert_field_errors(
        response, {"resource", "name", "description", "target_role_arn", "session_duration"}
    )


@EXAMPLES
@given(account=json_value, user=json_value, group=json_value)
def test_grant_writes(api, account, user, group):
    response = api.post(
        "/api/v1/grants/", {"account": account, "user": user, "group": group}, format="json"
    )
    assert response.status_code in (201, 400), response.content
    if response.status_code == 400:
        assert_field_errors(response, {"account", "user", "group"})


@EXAMPLES
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "user_email",
                "account",
                "resource",
                "project",
                "status",
                "created_after",
                "created_before",
                "active_at",
                "access_key_id",
                "ordering",
                "limit",
                "cursor",
            ]
        ),
        st.text(max_size=40),
        max_size=4,
    )
)
def test_session_filters(api, params):
    response = api.get("/api/v1/sessions/", params)
    assert response.status_code in (200, 400, 404), response.content


# The session changelist's query parameters: Django's own (search, ordering, page, date
# drill-down, related filters) and ours (the email box). Digits and NULs are common in
# what is drawn, since they are what reaches the date and id handling.
admin_value = st.one_of(
    st.text(max_size=30),
    st.text(alphabet="0123456789-", max_size=6),
    st.sampled_from(["\x00", "0", "-1", "13", "99999", "2026", "abc", ""]),
)


@EXAMPLES
@given(
    params=st.dictionaries(
        st.sampled_from(
            [
                "q",
                "o",
                "p",
                "user_email",
                "status__exact",
                "account__id__exact",
                "account__resource__id__exact",
                "account__resource__project__id__exact",
                "created_at__year",
                "created_at__month",
                "created_at__day",
            ]
        ),
        admin_value,
        max_size=4,
    ),
    with_rows=st.booleans(),
)
def test_the_admin_session_list_and_export(client, alice, params, with_rows):
    client.force_login(alice)
    if with_rows:
        ConsoleSessionFactory()
    for name in ("changelist", "export"):
        url = reverse(f"admin:sessions_app_consolesession_{name}")
        response = client.get(url, params)
        # 302: Django's "?e=1" for parameters it cannot read.
        assert response.status_code in (200, 302), (name, params, response.status_code)
        if response.streaming:
            b"".join(response.streaming_content)


@EXAMPLES
@given(
    ident=st.one_of(
        st.integers(min_value=0, max_value=10**30),
        st.text(alphabet="0123456789", min_size=1, max_size=30),
    )
)
def test_ids_in_urls(api, client, bob, ident):
    client.force_login(bob)
    for url in (
        f"/accounts/{ident}/",
        f"/api/v1/accounts/{ident}/",
        f"/api/v1/sessions/{ident}/",
        f"/api/v1/projects/{ident}/",
    ):
        assert (api if url.startswith("/api") else client).get(url).status_code == 404, url
    assert client.post(f"/accounts/{ident}/access/").status_code == 404


@EXAMPLES
@given(arn=arn_like, name=st.text(max_size=70))
def test_the_admin_resource_form(client, alice, aws, arn, name):
    client.force_login(alice)
    project = ProjectFactory()
    response = client.post(
        reverse("admin:resources_awsiamresource_add"),
        {"project": project.pk, "name": name, "resource_role_arn": arn},
    )
    assert response.status_code in (200, 302)
    if response.status_code == 200:
        assert 'class="errorlist' in response.content.decode()


@EXAMPLES
@given(duration=st.text(max_size=12), description=st.text(max_size=1200))
def test_the_admin_account_form(client, alice, aws, duration, description):
    client.force_login(alice)
    resource = ResourceFactory(resource_role_arn=RESOURCE_ROLE_ARN)
    AccountFactory(resource=resource, name="taken")
    response = client.post(
        reverse("admin:accounts_pamaccount_add"),
        {
            "resource": resource.pk,
            "name": "taken",
            "description": description,
            "target_role_arn": "arn:aws:iam::111122223333:role/x",
            "session_duration": duration,
            "grants-TOTAL_FORMS": "0",
            "grants-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the name is taken: always an error, never a 500
    assert "already exists on the resource" in response.content.decode()
