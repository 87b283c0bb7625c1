"""Saving an account warns (never refuses) when the Target Role's trust policy does not
require the External ID, where hop 1 may read it with iam:GetRole (issue 17). With moto
(the `aws` fixture), and with the demo's stand-in."""

from __future__ import annotations

import json

import boto3
import pytest
from django.urls import reverse

from accounts import services
from accounts.models import PamAccount
from resources.aws import sts
from resources.guidance import trust_policy_warning
from resources.policies import resource_role_permissions_policy, target_role_trust_policy

from .aws_fakes import sts_error_response
from .factories import ResourceFactory
from .test_browser import aws_standins  # noqa: F401  (the fixture, by name)

ACCOUNT = "123456789012"  # moto's default account: the roles live where hop 1 reads
RESOURCE_ROLE = f"arn:aws:iam::{ACCOUNT}:role/pam-resource"
TARGET = f"arn:aws:iam::{ACCOUNT}:role/pam-target"
WARNS = "does not require an External ID"


def trust(*, external_id: str | None, **statement) -> dict:
    document = target_role_trust_policy(resource_role_arn=RESOURCE_ROLE, external_id="x")
    [allow] = document["Statement"]
    if external_id is None:
        del allow["Condition"]
    else:
        allow["Condition"]["StringEquals"]["sts:ExternalId"] = external_id
    allow.update(statement)
    return document


@pytest.fixture
def resource(db, aws):
    return ResourceFactory(resource_role_arn=RESOURCE_ROLE)


def target_role(document: dict, name: str = "pam-target") -> str:
    return boto3.client("iam").create_role(
        RoleName=name, AssumeRolePolicyDocument=json.dumps(document)
    )["Role"]["Arn"]


def body(resource, **overrides) -> dict:
    return {
        "resource": resource.pk,
        "name": "readonly",
        "target_role_arn": TARGET,
        "session_duration": "30m",
        **overrides,
    }


# --- Which trust policies warn ---------------------------------------------------------


def test_a_trust_policy_without_the_condition_warns_naming_the_statement():
    warning = trust_policy_warning(trust(external_id=None, Sid="Pam"), target_role_arn=TARGET)
    assert warning.startswith(f"Saved, but the trust policy of the Target Role {TARGET} ")
    assert "statement Pam allows sts:AssumeRole with no sts:ExternalId condition" in warning
    unnamed = trust_policy_warning(trust(external_id=None), target_role_arn=TARGET)
    assert "statement #1 " in unnamed


@pytest.mark.parametrize(
    ("statement", "warns"),
    [
        ({}, False),  # the app's own policy: StringEquals sts:ExternalId
        ({"Condition": {"StringLike": {"sts:externalid": "abc*"}}}, False),
        ({"Condition": {"StringEqualsIfExists": {"sts:ExternalId": "x"}}}, True),
        ({"Condition": {"StringNotEquals": {"sts:ExternalId": "x"}}}, True),
        ({"Condition": {"StringEquals": {"aws:PrincipalAccount": ACCOUNT}}}, True),
        ({"Action": "sts:*", "Condition": {}}, True),
        ({"Action": ["sts:TagSession"], "Condition": {}}, False),  # not AssumeRole
        ({"Effect": "Deny", "Condition": {}}, False),
        ({"Principal": {"Service": "ec2.amazonaws.com"}, "Condition": {}}, False),
        ({"Principal": "*", "Condition": {}}, True),
    ],
)
def test_only_an_allow_of_assume_role_to_an_aws_principal_without_a_pinned_id_warns(
    statement, warns
):
    document = trust(external_id="x", **statement)
    assert bool(trust_policy_warning(document, target_role_arn=TARGET)) is warns


# --- On save: the admin and the API -------------------------------------------------------


def test_the_admin_saves_and_shows_the_warning(client, alice, resource):
    target_role(trust(external_id=None))
    client.force_login(alice)
    from .test_admin import account_form

    page = client.post(
        reverse("admin:accounts_pamaccount_add"),
        account_form(resource, target_role_arn=TARGET),
        follow=True,
    )
    assert PamAccount.objects.filter(target_role_arn=TARGET).exists()  # never refused
    shown = [(m.level_tag, str(m)) for m in page.context["messages"]]
    assert ("warning", trust_policy_warning(trust(external_id=None), target_role_arn=TARGET)) in (
        shown
    )
    assert any("was added successfully" in text for _, text in shown)
    assert 'class="warning"' in page.content.decode()


def test_a_trust_policy_with_the_external_id_saves_without_a_word(client, alice, resource):
    target_role(trust(external_id=resource.project.external_id))
    client.force_login(alice)
    from .test_admin import account_form

    page = client.post(
        reverse("admin:accounts_pamaccount_add"),
        account_form(resource, target_role_arn=TARGET),
        follow=True,
    )
    assert [m.level_tag for m in page.context["messages"]] == ["success"]


def test_the_api_answers_the_warning_in_warnings(client, alice, resource):
    target_role(trust(external_id=None))
    client.force_login(alice)
    created = client.post("/api/v1/accounts/", body(resource), content_type="application/json")
    assert created.status_code == 201
    assert created.json()["warnings"] == [
        trust_policy_warning(trust(external_id=None), target_role_arn=TARGET)
    ]
    # Only the write's answer carries it.
    read = client.get(f"/api/v1/accounts/{created.json()['id']}/").json()
    assert "warnings" not in read


def test_an_update_that_re_points_the_role_warns_and_one_that_does_not_reads_nothing(
    client, alice, resource, aws
):
    target_role(trust(external_id=resource.project.external_id))
    loose = target_role(trust(external_id=None), name="pam-loose")
    client.force_login(alice)
    created = client.post("/api/v1/accounts/", body(resource), content_type="application/json")
    assert created.json()["warnings"] == []
    url = f"/api/v1/accounts/{created.json()['id']}/"
    moved = client.patch(url, {"target_role_arn": loose}, content_type="application/json")
    assert moved.status_code == 200
    assert len(moved.json()["warnings"]) == 1 and loose in moved.json()["warnings"][0]
    before = len(aws.calls)
    edited = client.patch(url, {"description": "x"}, content_type="application/json")
    assert edited.json()["warnings"] == []
    assert len(aws.calls) == before  # no AWS check, so no GetRole either


@pytest.mark.parametrize(
    ("status", "code"),
    [
        # The permissions policy the app shows grants no iam:GetRole: the usual answer.
        (403, "AccessDenied"),
        # IAM unwell: botocore would retry this one; a warning is not worth the wait.
        (503, "ServiceUnavailable"),
    ],
)
def test_a_get_role_that_fails_is_silent_and_tried_once(client, alice, resource, status, code):
    target_role(trust(external_id=None))
    tried = []

    def refuse(request, **_):
        tried.append(request.url)
        return sts_error_response(request.url, status, code, "not this time")

    sts._boto_session().events.register_first("before-send.iam.GetRole", refuse)
    client.force_login(alice)
    created = client.post("/api/v1/accounts/", body(resource), content_type="application/json")
    assert created.status_code == 201
    assert created.json()["warnings"] == []
    assert len(tried) == 1  # one short try: a save is never held up by IAM's retries


def test_a_target_role_iam_does_not_know_is_silent(client, alice, resource):
    # moto assumes any ARN; IAM then answers NoSuchEntity to GetRole.
    client.force_login(alice)
    created = client.post("/api/v1/accounts/", body(resource), content_type="application/json")
    assert created.status_code == 201 and created.json()["warnings"] == []


# --- With the demo's stand-in: hop 1's real credentials read the role --------------


def test_the_stand_in_reads_the_trust_policy_with_hop_1s_credentials(
    aws_standins,  # noqa: F811
    alice,
    db,
):
    iam = boto3.client("iam")
    resource = ResourceFactory(resource_role_arn=RESOURCE_ROLE)
    external_id = resource.project.external_id
    iam.create_role(
        RoleName="pam-resource",
        AssumeRolePolicyDocument=json.dumps(
            {
                "Version": "2012-10-17",
                "Statement": [
                    {
                        "Effect": "Allow",
                        "Principal": {"AWS": f"arn:aws:iam::{ACCOUNT}:root"},
                        "Action": "sts:AssumeRole",
                        "Condition": {"StringEquals": {"sts:ExternalId": external_id}},
                    }
                ],
            }
        ),
    )
    iam.put_role_policy(
        RoleName="pam-resource",
        PolicyName="pam",
        PolicyDocument=json.dumps(resource_role_permissions_policy(account_id=ACCOUNT)),
    )
    target_role(trust(external_id=external_id))
    check = services.account_check(
        resource=resource, target_role_arn=TARGET, session_duration=900, actor=alice
    )
    assert check.warnings == []
    iam.update_assume_role_policy(
        RoleName="pam-target", PolicyDocument=json.dumps(trust(external_id=None))
    )
    check = services.account_check(
        resource=resource, target_role_arn=TARGET, session_duration=900, actor=alice
    )
    assert len(check.warnings) == 1 and WARNS in check.warnings[0]


def test_the_trust_policy_read_leaks_no_credential(client, alice, resource, aws, caplog):
    """Hop 1's secret key and session token sign the GetRole; neither reaches a log line,
    the answer or the database, whether the read works or fails."""
    target_role(trust(external_id=None))
    sts._boto_session().events.register_first(
        "before-send.iam.GetRole",
        lambda request, **_: sts_error_response(request.url, 403, "AccessDenied", "no"),
    )
    client.force_login(alice)
    caplog.set_level("DEBUG")
    answer = client.post("/api/v1/accounts/", body(resource), content_type="application/json")
    assert answer.status_code == 201
    secrets = [
        value
        for parsed in aws.answers
        for value in (
            parsed["Credentials"]["SecretAccessKey"],
            parsed["Credentials"]["SessionToken"],
        )
    ]
    assert secrets
    from .test_secrets import every_table_as_text

    written = caplog.text + answer.content.decode() + every_table_as_text()
    assert "Target Role trust policy not read (AccessDenied)" in caplog.text
    for secret in secrets:
        assert secret not in written
