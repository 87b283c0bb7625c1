"""The Django admin as an admin uses it: forms, AWS validation on save, policies, grants."""

from __future__ import annotations

import json
import re

import pytest
from django.urls import reverse

from accounts.models import AccountGrant, PamAccount
from resources.models import AwsIamResource, Project

from .factories import (
    RESOURCE_ROLE_ARN,
    TARGET_ROLE_ARN,
    AccountFactory,
    GroupFactory,
    ProjectFactory,
    ResourceFactory,
)


@pytest.fixture
def admin_client(client, alice):
    client.force_login(alice)
    return client


def field_errors(response, field):
    """The error list rendered next to `field` in the admin form."""
    html = response.content.decode()
    match = re.search(
        rf'<ul class="errorlist"[^>]*id="id_{field}_error"[^>]*>(.*?)</ul>', html, re.S
    )
    return re.sub(r"<[^>]+>", " ", match.group(1)) if match else ""


def pre_blocks(response):
    html = response.content.decode()
    return {
        m.group(1): m.group(2)
        for m in re.finditer(r'<pre id="([^"]+)"[^>]*>(.*?)</pre>', html, re.S)
    }


def unescape(text):
    import html

    return html.unescape(text)


def test_creating_a_project_generates_an_external_id_and_shows_the_policies(admin_client, aws):
    response = admin_client.post(
        reverse("admin:resources_project_add"), {"name": "payments", "description": ""}
    )
    project = Project.objects.get(name="payments")
    assert response["Location"] == reverse("admin:resources_project_change", args=[project.pk])
    assert len(project.external_id) >= 32

    page = admin_client.get(response["Location"])
    html = page.content.decode()
    assert project.external_id in html
    assert 'data-copy-target="pam-external-id"' in html
    # The deployment's own account, from sts:GetCallerIdentity (moto's default account).
    assert "123456789012" in html
    trust = json.loads(unescape(pre_blocks(page)["pam-trust-policy"]))
    statement = trust["Statement"][0]
    assert statement["Principal"] == {"AWS": "arn:aws:iam::123456789012:root"}
    assert statement["Condition"] == {"StringEquals": {"sts:ExternalId": project.external_id}}
    permissions = json.loads(unescape(pre_blocks(page)["pam-permissions-policy"]))
    assert permissions["Statement"][0]["Action"] == "sts:AssumeRole"


def test_the_external_id_cannot_be_typed_or_changed(admin_client, aws):
    project = ProjectFactory()
    original = project.external_id
    admin_client.post(
        reverse("admin:resources_project_change", args=[project.pk]),
        {"name": project.name, "description": "x", "external_id": "attacker-chosen"},
    )
    project.refresh_from_db()
    assert project.external_id == original
    assert project.description == "x"


def test_external_ids_are_unique_and_unguessable(db):
    ids = {ProjectFactory().external_id for _ in range(50)}
    assert len(ids) == 50


def resource_form(project, **overrides):
    data = {
        "project": project.pk,
        "name": "production",
        "resource_role_arn": RESOURCE_ROLE_ARN,
        "set_source_identity": "",
        "tag_session": "",
    }
    data.update(overrides)
    return data


def test_a_malformed_resource_role_arn_is_shown_next_to_the_field(admin_client, aws):
    project = ProjectFactory()
    response = admin_client.post(
        reverse("admin:resources_awsiamresource_add"),
        resource_form(project, resource_role_arn="arn:aws:iam::12345:role/pam"),
    )
    assert response.status_code == 200
    assert "exactly 12 digits" in field_errors(response, "resource_role_arn")
    assert not AwsIamResource.objects.exists()
    assert aws.assume_role_calls() == []  # rejected before any role is assumed


def test_saving_a_resource_assumes_its_role_with_the_external_id(admin_client, aws):
    project = ProjectFactory()
    response = admin_client.post(
        reverse("admin:resources_awsiamresource_add"), resource_form(project)
    )

    assert response.status_code == 302
    resource = AwsIamResource.objects.get()
    assert resource.validated_at is not None
    (call,) = aws.assume_role_calls()  # once per save, not once per layer
    assert call.params["RoleArn"] == RESOURCE_ROLE_ARN
    assert call.params["ExternalId"] == project.external_id
    assert call.params["RoleSessionName"] == "alice@example.com"  # who validated


def test_a_resource_role_aws_refuses_keeps_the_form_open_with_the_code_and_checklist(
    admin_client, aws
):
    project = ProjectFactory()
    aws.fail(
        RESOURCE_ROLE_ARN, message="User: arn:aws:iam::123456789012:user/pam is not authorized"
    )

    response = admin_client.post(
        reverse("admin:resources_awsiamresource_add"), resource_form(project)
    )

    assert response.status_code == 200
    errors = unescape(field_errors(response, "resource_role_arn"))
    assert "AccessDenied" in errors
    assert "is not authorized" in errors
    assert "arn:aws:iam::123456789012:root" in errors  # the principal to trust
    assert project.external_id in errors
    assert "the Resource Role ARN is right" in errors
    assert not AwsIamResource.objects.exists()


def test_a_resource_role_in_another_partition_than_the_deployment_is_refused(admin_client, aws):
    project = ProjectFactory()
    response = admin_client.post(
        reverse("admin:resources_awsiamresource_add"),
        resource_form(project, resource_role_arn="arn:aws-cn:iam::123456789012:role/pam"),
    )
    assert "runs in the aws partition" in unescape(field_errors(response, "resource_role_arn"))
    assert aws.assume_role_calls() == []


def test_resource_names_are_unique_within_a_project(admin_client, aws):
    existing = ResourceFactory(name="production")
    response = admin_client.post(
        reverse("admin:resources_awsiamresource_add"), resource_form(existing.project)
    )
    assert response.status_code == 200
    assert "already exists in the project" in response.content.decode()
    other = ProjectFactory()
    assert (
        admin_client.post(
            reverse("admin:resources_awsiamresource_add"), resource_form(other)
        ).status_code
        == 302
    )


def test_changing_only_the_name_does_not_assume_the_role_again(admin_client, aws):
    resource = ResourceFactory()
    response = admin_client.post(
        reverse("admin:resources_awsiamresource_change", args=[resource.pk]),
        {"name": "renamed", "resource_role_arn": resource.resource_role_arn},
    )
    assert response.status_code == 302
    assert aws.calls == []
    resource.refresh_from_db()
    assert resource.name == "renamed"


def test_changing_the_arn_validates_again(admin_client, aws):
    resource = ResourceFactory()
    new_arn = "arn:aws:iam::111122223333:role/other-bridge"
    aws.fail(new_arn)
    response = admin_client.post(
        reverse("admin:resources_awsiamresource_change", args=[resource.pk]),
        {"name": resource.name, "resource_role_arn": new_arn},
    )
    assert response.status_code == 200
    assert "AccessDenied" in field_errors(response, "resource_role_arn")
    resource.refresh_from_db()
    assert resource.resource_role_arn == RESOURCE_ROLE_ARN


def test_the_resource_page_shows_its_filled_in_policies(admin_client, aws):
    resource = ResourceFactory(set_source_identity=True)
    page = admin_client.get(reverse("admin:resources_awsiamresource_change", args=[resource.pk]))
    blocks = pre_blocks(page)
    trust = json.loads(unescape(blocks["pam-trust-policy"]))
    permissions = json.loads(unescape(blocks["pam-permissions-policy"]))
    assert trust["Statement"][0]["Action"] == ["sts:AssumeRole", "sts:SetSourceIdentity"]
    assert permissions["Statement"][0]["Resource"] == "arn:aws:iam::111122223333:role/*"


def account_form(resource, **overrides):
    data = {
        "resource": resource.pk,
        "name": "readonly",
        "description": "Read-only access",
        "target_role_arn": TARGET_ROLE_ARN,
        "session_duration": "30m",
        "grants-TOTAL_FORMS": "0",
        "grants-INITIAL_FORMS": "0",
        "grants-MIN_NUM_FORMS": "0",
        "grants-MAX_NUM_FORMS": "1000",
    }
    data.update(overrides)
    return data


@pytest.mark.parametrize(
    ("duration", "says"),
    [
        ("2h", "AWS caps role-chained sessions at 1 hour"),
        ("14m", "out of range"),
        ("abc", "is not a duration"),
        ("", "Enter a duration"),
    ],
)
def test_a_bad_duration_is_shown_next_to_the_field(admin_client, aws, duration, says):
    resource = ResourceFactory()
    response = admin_client.post(
        reverse("admin:accounts_pamaccount_add"), account_form(resource, session_duration=duration)
    )
    assert response.status_code == 200
    assert says in unescape(field_errors(response, "session_duration"))
    assert not PamAccount.objects.exists()
    assert aws.calls == []


def test_saving_an_account_validates_both_hops_and_stores_seconds(admin_client, aws, bob):
    resource = ResourceFactory()
    response = admin_client.post(
        reverse("admin:accounts_pamaccount_add"),
        account_form(
            resource,
            **{
                "grants-TOTAL_FORMS": "1",
                "grants-0-user": bob.pk,
                "grants-0-group": "",
            },
        ),
    )
    assert response.status_code == 302, field_errors(response, "target_role_arn")
    account = PamAccount.objects.get()
    assert account.session_duration == 1800
    assert account.validated_at is not None
    hop1, hop2 = aws.assume_role_calls()
    assert hop1.params["RoleArn"] == RESOURCE_ROLE_ARN
    assert hop2.params["RoleArn"] == TARGET_ROLE_ARN
    assert hop1.params["DurationSeconds"] == hop2.params["DurationSeconds"] == "1800"
    assert hop2.access_key_id == aws.answers[0]["Credentials"]["AccessKeyId"]
    grant = AccountGrant.objects.get()
    assert (grant.account, grant.user, grant.created_by.username) == (account, bob, "alice")


def test_an_account_whose_target_role_refuses_is_not_saved(admin_client, aws):
    resource = ResourceFactory()
    aws.fail(TARGET_ROLE_ARN)
    response = admin_client.post(reverse("admin:accounts_pamaccount_add"), account_form(resource))
    assert response.status_code == 200
    errors = unescape(field_errors(response, "target_role_arn"))
    assert "AWS refused to let the Resource Role assume the Target Role" in errors
    assert f"trust policy allows the principal {RESOURCE_ROLE_ARN}" in errors
    assert not PamAccount.objects.exists()


def test_a_target_role_in_another_partition_than_its_resource_is_refused(admin_client, aws):
    resource = ResourceFactory()
    response = admin_client.post(
        reverse("admin:accounts_pamaccount_add"),
        account_form(resource, target_role_arn="arn:aws-us-gov:iam::111122223333:role/x"),
    )
    assert "both must be in the same" in field_errors(response, "target_role_arn")


def test_the_account_page_shows_the_target_role_trust_policy_and_duration_text(admin_client, aws):
    account = AccountFactory(session_duration=2700)
    page = admin_client.get(reverse("admin:accounts_pamaccount_change", args=[account.pk]))
    html = page.content.decode()
    assert 'value="45m"' in html
    trust = json.loads(unescape(pre_blocks(page)["pam-target-trust-policy"]))
    statement = trust["Statement"][0]
    assert statement["Principal"] == {"AWS": RESOURCE_ROLE_ARN}
    assert statement["Condition"]["StringEquals"]["sts:ExternalId"] == (
        account.resource.project.external_id
    )


def test_grants_to_groups_and_revoking_them(admin_client, aws):
    account = AccountFactory()
    group = GroupFactory()
    url = reverse("admin:accounts_pamaccount_change", args=[account.pk])
    data = account_form(
        account.resource,
        name=account.name,
        **{
            "grants-TOTAL_FORMS": "1",
            "grants-0-user": "",
            "grants-0-group": group.pk,
        },
    )
    assert admin_client.post(url, data).status_code == 302
    grant = AccountGrant.objects.get()
    assert grant.group == group
    assert aws.calls == []  # grants change who, not the chain: no AWS call

    data = account_form(
        account.resource,
        name=account.name,
        **{
            "grants-TOTAL_FORMS": "1",
            "grants-INITIAL_FORMS": "1",
            "grants-0-id": grant.pk,
            "grants-0-account": account.pk,
            "grants-0-group": group.pk,
            "grants-0-DELETE": "on",
        },
    )
    assert admin_client.post(url, data).status_code == 302
    assert not AccountGrant.objects.exists()


def test_a_grant_names_a_user_or_a_group(admin_client, aws, bob):
    account = AccountFactory()
    group = GroupFactory()
    url = reverse("admin:accounts_pamaccount_change", args=[account.pk])
    for user, grp in (("", ""), (bob.pk, group.pk)):
        data = account_form(
            account.resource,
            name=account.name,
            **{
                "grants-TOTAL_FORMS": "1",
                "grants-0-user": user,
                "grants-0-group": grp,
            },
        )
        response = admin_client.post(url, data)
        if user == "" and grp == "":
            # An empty extra row is simply ignored.
            assert response.status_code == 302
        else:
            assert response.status_code == 200
            assert "either a user or a group" in response.content.decode()
    assert not AccountGrant.objects.exists()


def test_console_session_history_is_read_only_in_the_admin(admin_client, aws):
    from .factories import ConsoleSessionFactory

    session = ConsoleSessionFactory()
    assert (
        admin_client.get(reverse("admin:sessions_app_consolesession_changelist")).status_code == 200
    )
    change = admin_client.post(
        reverse("admin:sessions_app_consolesession_change", args=[session.pk]),
        {"status": "expired"},
    )
    assert change.status_code == 403
    assert (
        admin_client.post(
            reverse("admin:sessions_app_consolesession_delete", args=[session.pk]), {"post": "yes"}
        ).status_code
        == 403
    )
    session.refresh_from_db()
    assert session.status == "pending"


def test_deleting_in_the_admin_is_refused_while_something_depends_on_it(admin_client, aws):
    from .factories import ConsoleSessionFactory

    used = AccountFactory()
    ConsoleSessionFactory(account=used)
    page = admin_client.get(reverse("admin:accounts_pamaccount_delete", args=[used.pk]))
    assert "Cannot delete PAM account" in page.content.decode()
    admin_client.post(reverse("admin:accounts_pamaccount_delete", args=[used.pk]), {"post": "yes"})
    assert PamAccount.objects.filter(pk=used.pk).exists()

    unused = AccountFactory()
    response = admin_client.post(
        reverse("admin:accounts_pamaccount_delete", args=[unused.pk]), {"post": "yes"}
    )
    assert response.status_code == 302
    assert not PamAccount.objects.filter(pk=unused.pk).exists()
