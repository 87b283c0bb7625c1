"""Every way the chain can fail: a `failed` row with the step and code, and a page that
names the step and what to check. Never a 500, never a lost attempt."""

from __future__ import annotations

import html

import pytest
import requests
from django.urls import reverse
from rest_framework.test import APIClient

from resources.models import ProjectRole
from sessions_app.models import ConsoleSession, FailureStep, Status

from .factories import TARGET_ROLE_ARN


@pytest.fixture
def member(client, bob):
    client.force_login(bob)
    return client


def post_access(client, account):
    return client.post(reverse("account-access", args=[account.pk]))


def only_row():
    (row,) = ConsoleSession.objects.all()
    return row


def administer(user, account):
    return ProjectRole.objects.create(project=account.resource.project, user=user, role="admin")


def test_hop_1_denied(member, bob, aws, federation, account):
    # Bob administers the project too: the page shows him its setup (External ID, ...).
    administer(bob, account)
    aws.fail(account.resource.resource_role_arn, message="User: deployment is not authorized")

    response = post_access(member, account)

    assert response.status_code == 502
    page = response.content.decode()
    assert "Resource Role (hop 1)" in page
    assert "AccessDenied" in page
    assert "User: deployment is not authorized" in page
    # What to check: the principal (this deployment's account, from GetCallerIdentity)
    # and the External ID.
    assert "arn:aws:iam::123456789012:root" in page
    assert account.resource.project.external_id in page
    row = only_row()
    assert (row.status, row.failure_step, row.error_code) == (
        Status.FAILED,
        FailureStep.RESOURCE_ROLE,
        "AccessDenied",
    )
    assert row.error_message == "User: deployment is not authorized"
    assert row.ended_at is not None
    assert len(aws.assume_role_calls()) == 1  # hop 2 never attempted
    assert federation.calls == []


def test_hop_2_denied(member, bob, aws, federation, account):
    administer(bob, account)
    aws.fail(TARGET_ROLE_ARN, code="AccessDenied", message="not authorized to assume target")

    response = post_access(member, account)

    assert response.status_code == 502
    page = response.content.decode()
    assert "Target Role (hop 2)" in page
    assert f"trust policy allows the principal {account.resource.resource_role_arn}" in page
    row = only_row()
    assert (row.failure_step, row.error_code) == (FailureStep.TARGET_ROLE, "AccessDenied")
    assert federation.calls == []


@pytest.mark.parametrize("role", [None, "auditor", "approver"])
@pytest.mark.parametrize("failing", ["resource", "target"])
def test_a_failure_page_shows_the_setup_only_to_the_projects_admins(
    member, bob, aws, federation, account, role, failing
):
    """Others see what they can act on (whom to tell, the session number), never the
    External ID, the deployment's account ID, the role ARNs or AWS's own message."""
    if role:
        ProjectRole.objects.create(project=account.resource.project, user=bob, role=role)
    arn = account.resource.resource_role_arn if failing == "resource" else TARGET_ROLE_ARN
    aws.fail(arn, message=f"User: arn:aws:sts::123456789012:assumed-role/x is denied on {arn}")

    response = post_access(member, account)

    assert response.status_code == 502
    page = response.content.decode()
    row = only_row()
    for secret in [
        account.resource.project.external_id,
        "123456789012",
        account.resource.resource_role_arn,
        TARGET_ROLE_ARN,
        "is denied",
    ]:
        assert secret not in page
    assert f"console session number {row.pk}" in page
    assert html.escape(f'admins of the project "{account.resource.project.name}"') in page
    assert "AccessDenied" in page  # the code is no secret and names what happened
    api = APIClient()
    api.force_login(bob)
    body = api.post(f"/api/v1/accounts/{account.pk}/access/").json()
    assert body["message"] == ""
    assert account.resource.project.external_id not in str(body)
    assert "123456789012" not in str(body)


def test_sts_timeouts_are_retried_then_reported_as_the_step_that_timed_out(
    member, aws, federation, account
):
    aws.fail(account.resource.resource_role_arn, kind="timeout")

    response = post_access(member, account)

    assert response.status_code == 502
    assert "did not answer in time" in response.content.decode()
    assert (only_row().failure_step, only_row().error_code) == (
        FailureStep.RESOURCE_ROLE,
        "Timeout",
    )
    assert len(aws.assume_role_calls()) == 3  # botocore standard mode: 3 attempts


def test_sts_throttling_once_is_retried_and_access_succeeds(member, aws, federation, account):
    aws.fail(
        account.resource.resource_role_arn,
        status=400,
        code="Throttling",
        message="Rate exceeded",
        times=1,
    )

    response = post_access(member, account)

    assert response.status_code == 302
    assert only_row().status == Status.ACTIVE
    assert len(aws.assume_role_calls()) == 3  # hop 1 twice, hop 2 once


def json_answer(status, body, content_type="application/json"):
    return lambda call: (status, {"Content-Type": content_type}, body)


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (json_answer(400, "Invalid credentials parameter", "text/plain"), "HTTP400"),
        (json_answer(403, "<html>Forbidden</html>", "text/html"), "HTTP403"),
        (json_answer(500, "Internal error", "text/plain"), "HTTP500"),
        (json_answer(503, "", "text/plain"), "HTTP503"),
        (json_answer(200, "{not json"), "MalformedResponse"),
        (json_answer(200, '{"SigninTokn": "x"}'), "MalformedResponse"),
        (json_answer(200, '{"SigninToken": ""}'), "MalformedResponse"),
        (json_answer(200, '["SigninToken"]'), "MalformedResponse"),
    ],
)
def test_federation_failures(member, aws, federation, account, answer, code):
    federation.answer = answer

    response = post_access(member, account)

    assert response.status_code == 502
    page = response.content.decode()
    assert "Federation sign-in token" in page
    assert "can reach the sign-in endpoint" in page
    row = only_row()
    assert (row.status, row.failure_step, row.error_code) == (Status.FAILED, "federation", code)
    assert len(aws.assume_role_calls()) == 2


@pytest.mark.parametrize(
    ("exception", "code"),
    [(requests.ReadTimeout, "Timeout"), (requests.ConnectionError, "ConnectionError")],
)
def test_federation_network_failures(member, aws, federation, account, exception, code):
    def raise_(call):
        raise exception("boom")

    federation.answer = raise_

    response = post_access(member, account)

    assert response.status_code == 502
    assert (only_row().failure_step, only_row().error_code) == ("federation", code)


def test_an_unexpected_error_still_closes_the_row_and_shows_the_step(
    member, aws, federation, account, monkeypatch
):
    from resources import aws as aws_module

    def broken(*args, **kwargs):
        raise KeyError("SigninToken")

    monkeypatch.setattr(aws_module, "get_signin_token", broken)

    response = post_access(member, account)

    assert response.status_code == 502
    assert "Federation sign-in token" in response.content.decode()
    row = only_row()
    assert (row.status, row.failure_step, row.error_code) == (
        Status.FAILED,
        "federation",
        "InternalError",
    )


def test_missing_deployment_credentials_say_so(member, aws, federation, account, monkeypatch):
    from botocore.exceptions import NoCredentialsError

    def no_credentials(request, **kwargs):
        raise NoCredentialsError()

    from resources.aws import sts

    sts._boto_session().events.register_first("before-sign.sts.AssumeRole", no_credentials)

    response = post_access(member, account)

    assert response.status_code == 502
    assert "This deployment has no AWS credentials" in response.content.decode()
    assert only_row().error_code == "NoCredentials"


def test_a_session_the_sweep_gave_up_on_is_not_handed_out(member, aws, federation, account):
    """If the pending row was failed by the sweep while AWS was slow, fail closed."""
    from resources.aws import sts

    def sweep_meanwhile(**kwargs):
        ConsoleSession.objects.filter(status=Status.PENDING).update(
            status=Status.FAILED, failure_step=FailureStep.ABANDONED, error_code="Abandoned"
        )

    sts._boto_session().events.register("after-call.sts.AssumeRole", sweep_meanwhile)

    response = post_access(member, account)

    assert response.status_code == 503
    assert "took too long" in response.content.decode()
    assert only_row().status == Status.FAILED
    assert federation.calls  # the chain ran, but its URL was dropped
    assert "Location" not in response
