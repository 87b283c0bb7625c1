"""The admin forms a newcomer found lacking (issue 17): the "Add PAM account" form shows
the policies to create in AWS before the first save, and a save AWS refuses reads as the
same list as the user's failure page, not one long paragraph."""

from __future__ import annotations

import json
import re
from html import unescape

import pytest
from django.test.html import parse_html
from django.urls import reverse

from accounts.models import PamAccount
from resources.guidance import guidance_for

from .factories import (
    RESOURCE_ROLE_ARN,
    TARGET_ROLE_ARN,
    AccountFactory,
    ProjectFactory,
    ProjectRoleFactory,
    ResourceFactory,
    UserFactory,
)
from .test_admin import account_form

ADD = "admin:accounts_pamaccount_add"


def pre_blocks(response) -> dict[str, str]:
    html = response.content.decode()
    return {
        m.group(1): unescape(m.group(2))
        for m in re.finditer(r'<pre id="([^"]+)"[^>]*>(.*?)</pre>', html, re.S)
    }


@pytest.fixture
def admin_client(client, alice):
    client.force_login(alice)
    return client


# --- 3. The "Add PAM account" form shows the policies -----------------------------


def test_the_add_form_asks_for_the_resource_before_it_can_show_the_policies(admin_client, aws):
    ResourceFactory()
    page = admin_client.get(reverse(ADD))
    assert page.status_code == 200
    html = page.content.decode()
    assert "Target Role trust policy" in html
    assert 'id="pam-account-policies-pending"' in html.replace("'", '"')
    assert pre_blocks(page) == {}
    assert "pam/account-form.js" in html  # what offers the policies once one is chosen


def test_the_add_form_for_a_resource_shows_its_trust_and_permissions_policies(admin_client, aws):
    resource = ResourceFactory(allow_revocation=True)
    AccountFactory(resource=resource, target_role_arn=TARGET_ROLE_ARN)
    page = admin_client.get(reverse(ADD), {"resource": resource.pk})
    assert page.status_code == 200
    blocks = pre_blocks(page)
    trust = json.loads(blocks["pam-target-trust-policy"])
    [statement] = trust["Statement"]
    assert statement["Principal"] == {"AWS": RESOURCE_ROLE_ARN}
    assert statement["Action"] == "sts:AssumeRole"
    assert statement["Condition"] == {
        "StringEquals": {"sts:ExternalId": resource.project.external_id}
    }
    permissions = json.loads(blocks["pam-permissions-policy"])
    assume, revoke, _never_its_own = permissions["Statement"]
    assert assume["Action"] == "sts:AssumeRole"
    assert assume["Resource"] == "arn:aws:iam::111122223333:role/*"
    assert revoke["Resource"] == TARGET_ROLE_ARN  # the resource's accounts' roles
    # The resource is preselected in the form as well.
    assert f'<option value="{resource.pk}" selected>' in page.content.decode()


def test_a_failed_first_save_shows_the_policies_with_the_typed_target_role(admin_client, aws):
    resource = ResourceFactory(allow_revocation=True)
    other = "arn:aws:iam::111122223333:role/pam-other"
    aws.fail(other)
    page = admin_client.post(reverse(ADD), account_form(resource, target_role_arn=other))
    assert page.status_code == 200 and not PamAccount.objects.exists()
    blocks = pre_blocks(page)
    trust = json.loads(blocks["pam-target-trust-policy"])
    assert trust["Statement"][0]["Condition"]["StringEquals"]["sts:ExternalId"] == (
        resource.project.external_id
    )
    revoke = json.loads(blocks["pam-permissions-policy"])["Statement"][1]
    assert revoke["Sid"] == "PamRevokeSessions" and revoke["Resource"] == other


def test_a_project_admin_never_sees_another_projects_policies_by_its_resource_id(client, db, aws):
    mine, theirs = ResourceFactory(), ResourceFactory()
    admin = UserFactory(is_staff=True)
    ProjectRoleFactory(project=mine.project, user=admin, role="admin")
    client.force_login(admin)
    page = client.get(reverse(ADD), {"resource": theirs.pk})
    assert page.status_code == 200
    html = page.content.decode()
    assert theirs.project.external_id not in html
    assert pre_blocks(page) == {}
    # Their own resource's, yes.
    page = client.get(reverse(ADD), {"resource": mine.pk})
    assert mine.project.external_id in pre_blocks(page)["pam-target-trust-policy"]


@pytest.mark.parametrize("value", ["abc", "-1", "1.5", "999999", ""])
def test_a_resource_id_that_names_nothing_is_ignored_not_a_500(admin_client, aws, value):
    ResourceFactory()
    page = admin_client.get(reverse(ADD), {"resource": value})
    assert page.status_code == 200
    assert pre_blocks(page) == {}


def test_the_change_form_still_shows_both_policies(admin_client, aws):
    account = AccountFactory()
    page = admin_client.get(reverse("admin:accounts_pamaccount_change", args=[account.pk]))
    blocks = pre_blocks(page)
    assert json.loads(blocks["pam-target-trust-policy"])["Statement"][0]["Principal"] == {
        "AWS": RESOURCE_ROLE_ARN
    }
    assert "sts:AssumeRole" in blocks["pam-permissions-policy"]


@pytest.mark.parametrize(
    ("url", "param", "value"),
    [
        ("admin:accounts_pamaccount_add", "resource", "abc"),
        ("admin:accounts_pamaccount_add", "approver_users", "1,x"),
        ("admin:resources_awsiamresource_add", "project", "abc"),
        ("admin:resources_projectrole_add", "user", "'; drop"),
    ],
)
def test_an_add_forms_preset_that_is_no_id_is_dropped_not_a_500(
    admin_client, aws, url, param, value
):
    """Django passed `?resource=abc` on to the autocomplete widget, whose lookup failed."""
    page = admin_client.get(reverse(url), {param: value})
    assert page.status_code == 200
    assert "errornote" not in page.content.decode()


def test_an_add_forms_preset_id_still_preselects(admin_client, aws):
    resource = ResourceFactory()
    page = admin_client.get(
        reverse("admin:resources_awsiamresource_add"), {"project": resource.project.pk}
    )
    assert f'<option value="{resource.project.pk}" selected>' in page.content.decode()


# --- 4. A save AWS refuses reads as a list, as the failure page does ---------------


def elements(node, name: str, cls: str | None = None) -> list:
    """Every element `name` (with class `cls`) under `node`, in document order."""
    found = []
    for child in getattr(node, "children", []):
        if isinstance(child, str):
            continue
        classes = dict(child.attributes).get("class", "") or ""
        if child.name == name and (cls is None or cls in classes.split()):
            found.append(child)
        found.extend(elements(child, name, cls))
    return found


def text(node) -> str:
    if isinstance(node, str):
        return node
    return " ".join(" ".join(text(child) for child in node.children).split())


def error_box(response, field: str):
    """The admin's error list for `field`, parsed."""
    tree = parse_html(response.content.decode())
    [box] = [
        ul
        for ul in elements(tree, "ul", "errorlist")
        if dict(ul.attributes).get("id") == f"id_{field}_error"
    ]
    return box


def test_an_account_aws_refuses_lists_step_code_and_the_failure_pages_checklist(admin_client, aws):
    resource = ResourceFactory()
    aws.fail(TARGET_ROLE_ARN, code="AccessDenied", message="not authorized")
    page = admin_client.post(reverse(ADD), account_form(resource))
    assert page.status_code == 200 and not PamAccount.objects.exists()
    box = error_box(page, "target_role_arn")
    [item] = [li for li in box.children if not isinstance(li, str)]
    [title] = elements(item, "p", "pam-check-title")
    assert text(title) == "AWS refused to let the Resource Role assume the Target Role."
    [step] = elements(item, "p", "pam-check-step")
    assert text(step) == "Step that failed: Target Role (hop 2) target_role"
    [said] = elements(item, "p", "pam-check-said")
    assert text(said) == "AWS said AccessDenied : not authorized"
    [checks] = elements(item, "ul", "pam-checks")
    # The very checklist the Access failure page shows for this step, item by item.
    expected = guidance_for(
        "target_role",
        "AccessDenied",
        external_id=resource.project.external_id,
        resource_role_arn=resource.resource_role_arn,
        target_role_arn=TARGET_ROLE_ARN,
    ).checks
    assert [text(li) for li in elements(checks, "li")] == [unescape(c) for c in expected]
    assert len(expected) >= 4


def test_a_resource_that_no_longer_validates_says_so_above_its_hop_1_checklist(admin_client, aws):
    resource = ResourceFactory()
    aws.fail(RESOURCE_ROLE_ARN, code="AccessDenied")
    page = admin_client.post(reverse(ADD), account_form(resource))
    [item] = [li for li in error_box(page, "target_role_arn").children if not isinstance(li, str)]
    [title] = elements(item, "p", "pam-check-title")
    assert text(title).startswith(f'The resource "{resource.name}" no longer validates. AWS')
    assert "Resource Role (hop 1)" in text(elements(item, "p", "pam-check-step")[0])
    checks = [text(li) for li in elements(elements(item, "ul", "pam-checks")[0], "li")]
    assert any(resource.project.external_id in check for check in checks)


def test_a_resource_aws_refuses_lists_its_checklist_too(admin_client, aws):
    from .test_admin import resource_form

    project = ProjectFactory()
    aws.fail(RESOURCE_ROLE_ARN, code="AccessDenied")
    page = admin_client.post(reverse("admin:resources_awsiamresource_add"), resource_form(project))
    assert page.status_code == 200
    box = error_box(page, "resource_role_arn")
    assert "Resource Role (hop 1)" in text(elements(box, "p", "pam-check-step")[0])
    checks = [text(li) for li in elements(elements(box, "ul", "pam-checks")[0], "li")]
    assert f'its sts:ExternalId condition is exactly "{project.external_id}"' in checks
    assert any("arn:aws:iam::123456789012:root" in check for check in checks)


def test_the_api_still_answers_the_same_failure_as_one_text(client, alice, aws):
    """The list is the admin's rendering only: the API's 400 is the paragraph it was."""
    resource = ResourceFactory()
    aws.fail(TARGET_ROLE_ARN, code="AccessDenied", message="nope")
    client.force_login(alice)
    answer = client.post(
        "/api/v1/accounts/",
        {
            "resource": resource.pk,
            "name": "ro",
            "target_role_arn": TARGET_ROLE_ARN,
            "session_duration": "30m",
        },
        content_type="application/json",
    )
    assert answer.status_code == 400
    (message,) = answer.json()["target_role_arn"]
    assert message.startswith(
        "AWS refused to let the Resource Role assume the Target Role. AWS said AccessDenied: "
        "nope. Check: the Target Role's trust policy allows the principal "
    )
    assert "<" not in message


def test_other_errors_keep_djangos_plain_list(admin_client, aws):
    resource = ResourceFactory()
    page = admin_client.post(reverse(ADD), account_form(resource, session_duration="2h"))
    box = error_box(page, "session_duration")
    [item] = [li for li in box.children if not isinstance(li, str)]
    assert "AWS caps role-chained sessions at 1 hour" in text(item)
    assert elements(item, "p") == []


def test_the_resource_page_leads_its_admins_on_to_adding_an_account(client, db, aws):
    resource = ResourceFactory()
    admin, auditor = UserFactory(is_staff=True), UserFactory(is_staff=True)
    ProjectRoleFactory(project=resource.project, user=admin, role="admin")
    ProjectRoleFactory(project=resource.project, user=auditor, role="auditor")
    change = reverse("admin:resources_awsiamresource_change", args=[resource.pk])
    link = f'{reverse(ADD)}?resource={resource.pk}"'

    client.force_login(admin)
    assert link in client.get(change).content.decode()
    page = client.get(f"{reverse(ADD)}?resource={resource.pk}")
    assert resource.project.external_id in pre_blocks(page)["pam-target-trust-policy"]

    client.force_login(auditor)  # reads the resource, may not add to it: no link to a 403
    page = client.get(change)
    assert page.status_code == 200 and link not in page.content.decode()
