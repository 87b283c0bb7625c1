"""The Access chain against moto, checked on what was actually sent on the wire."""

from __future__ import annotations

import os
import threading
from urllib.parse import parse_qs, urlsplit

import boto3
import pytest

from resources.aws import PARTITIONS, TemporaryCredentials, get_signin_token, signin_url
from sessions_app.access import account_access
from sessions_app.models import ConsoleSession, Status

from .factories import AccountFactory, GrantFactory

ISSUER = "https://pam.example.test/accounts/1/"


def access(account, user):
    return account_access(
        account=account, user=user, client_ip="203.0.113.7", user_agent="pytest", issuer=ISSUER
    )


def test_hop_1_assumes_the_resource_role_with_the_project_external_id(
    aws, federation, account, bob
):
    access(account, bob)

    hop1 = aws.assume_role_calls()[0]
    assert hop1.params == {
        "RoleArn": account.resource.resource_role_arn,
        "ExternalId": account.resource.project.external_id,
        "RoleSessionName": "bob@example.com",
        "DurationSeconds": "1800",
    }
    # Signed with the deployment's credentials from the standard chain (here the
    # environment, which moto sets), not with anything the app stores.
    assert hop1.access_key_id == os.environ["AWS_ACCESS_KEY_ID"]
    assert hop1.session_token is None


def test_hop_2_is_signed_with_hop_1_credentials_and_names_the_user(aws, federation, account, bob):
    access(account, bob)

    hop1_answer = aws.answers[0]["Credentials"]
    hop2 = aws.assume_role_calls()[1]
    assert hop2.params == {
        "RoleArn": account.target_role_arn,
        "ExternalId": account.resource.project.external_id,
        "RoleSessionName": "bob@example.com",
        "DurationSeconds": "1800",
    }
    assert hop2.access_key_id == hop1_answer["AccessKeyId"]
    assert hop2.session_token == hop1_answer["SessionToken"]
    assert len(aws.assume_role_calls()) == 2


def test_the_sts_endpoint_is_the_configured_regions(aws, federation, account, bob):
    access(account, bob)
    assert {urlsplit(c.url).hostname for c in aws.assume_role_calls()} == {
        "sts.us-east-1.amazonaws.com"
    }


def test_source_identity_and_session_tag_are_sent_only_when_the_resource_opts_in(
    aws, federation, account, bob
):
    access(account, bob)
    for call in aws.assume_role_calls():
        assert "SourceIdentity" not in call.params
        assert not any(k.startswith("Tags") for k in call.params)

    resource = account.resource
    resource.set_source_identity = True
    resource.tag_session = True
    resource.save()
    aws.calls.clear()
    session = access(account, bob).session

    hop1, hop2 = aws.assume_role_calls()
    assert hop1.params["SourceIdentity"] == "bob@example.com"
    assert hop2.params["SourceIdentity"] == "bob@example.com"
    assert "Tags.member.1.Key" not in hop1.params
    assert hop2.params["Tags.member.1.Key"] == "pam-console-session"
    assert hop2.params["Tags.member.1.Value"] == str(session.pk)


def test_federation_gets_the_hop_2_credentials_and_no_session_duration(
    aws, federation, account, bob
):
    access(account, bob)

    hop2_answer = aws.answers[1]["Credentials"]
    (call,) = federation.calls
    assert urlsplit(call.url).hostname == "signin.aws.amazon.com"
    assert call.query["Action"] == "getSigninToken"
    # Role-chained credentials: the endpoint rejects SessionDuration with HTTP 400.
    assert "SessionDuration" not in call.query
    assert call.session == {
        "sessionId": hop2_answer["AccessKeyId"],
        "sessionKey": hop2_answer["SecretAccessKey"],
        "sessionToken": hop2_answer["SessionToken"],
    }


def test_the_signin_url_carries_token_issuer_and_console_destination(aws, federation, account, bob):
    granted = access(account, bob)

    url = urlsplit(granted.signin_url)
    query = {k: v[0] for k, v in parse_qs(url.query).items()}
    assert (url.scheme, url.hostname, url.path) == ("https", "signin.aws.amazon.com", "/federation")
    assert query == {
        "Action": "login",
        "Issuer": ISSUER,
        "Destination": "https://console.aws.amazon.com/",
        "SigninToken": federation.token,
    }


def test_the_session_becomes_active_with_the_expiry_aws_gave(aws, federation, account, bob):
    granted = access(account, bob)

    hop2_answer = aws.answers[1]
    row = ConsoleSession.objects.get(pk=granted.session.pk)
    assert row.status == Status.ACTIVE
    assert row.expires_at == hop2_answer["Credentials"]["Expiration"]
    assert row.access_key_id == hop2_answer["Credentials"]["AccessKeyId"]
    assert row.assumed_role_arn == hop2_answer["AssumedRoleUser"]["Arn"]
    assert row.assumed_role_arn.endswith("assumed-role/pam-readonly/bob@example.com")
    assert (row.user, row.user_email, row.account) == (bob, "bob@example.com", account)
    assert row.target_role_arn == account.target_role_arn
    assert row.resource_role_arn == account.resource.resource_role_arn
    assert (row.client_ip, row.user_agent) == ("203.0.113.7", "pytest")


@pytest.mark.django_db(transaction=True)
def test_the_pending_row_is_committed_before_the_first_aws_call(aws, federation, bob):
    account = AccountFactory()
    GrantFactory(account=account, user=bob)
    seen = []

    def look_from_another_connection(**_):
        # A separate thread has its own database connection: it sees committed rows only.
        def read():
            from django.db import connection

            seen.extend(ConsoleSession.objects.values_list("status", flat=True))
            connection.close()

        thread = threading.Thread(target=read)
        thread.start()
        thread.join()

    from resources.aws import sts

    sts._boto_session().events.register("before-send.sts.AssumeRole", look_from_another_connection)
    access(account, bob)
    assert seen[0] == Status.PENDING


def test_one_boto3_session_serves_every_access(aws, federation, account, bob, monkeypatch):
    created = []
    real = boto3.session.Session.__init__

    def counting_init(self, *args, **kwargs):
        created.append(1)
        real(self, *args, **kwargs)

    monkeypatch.setattr(boto3.session.Session, "__init__", counting_init)
    for _ in range(3):
        access(account, bob)
    assert len(created) == 0  # the fixture's Session, built before, is the only one


@pytest.mark.parametrize("partition", list(PARTITIONS))
def test_federation_and_login_use_the_partitions_own_hosts(federation, partition):
    creds = TemporaryCredentials("ASIAEXAMPLE", "secret", "token", expiration=None)
    token = get_signin_token(creds, partition=partition)
    url = urlsplit(signin_url(token, partition=partition, issuer=ISSUER))

    expected = PARTITIONS[partition]
    assert urlsplit(federation.calls[-1].url).hostname == expected.signin_host
    assert url.hostname == expected.signin_host
    assert parse_qs(url.query)["Destination"] == [expected.console_url]


def test_pam_signin_url_overrides_the_federation_endpoint(federation, settings):
    import responses

    settings.PAM_SIGNIN_URL = "http://127.0.0.1:9999"
    creds = TemporaryCredentials("ASIAEXAMPLE", "secret", "token", expiration=None)
    with responses.RequestsMock() as mock:
        mock.add_callback(responses.GET, "http://127.0.0.1:9999/federation", callback=federation)
        token = get_signin_token(creds, partition="aws")
    url = signin_url(token, partition="aws", issuer=ISSUER)
    assert url.startswith("http://127.0.0.1:9999/federation?Action=login&")


def test_aws_region_selects_the_regional_sts_endpoint(aws, federation, account, bob, monkeypatch):
    monkeypatch.setenv("AWS_REGION", "eu-west-1")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    access(account, bob)
    assert {urlsplit(c.url).hostname for c in aws.assume_role_calls()} == {
        "sts.eu-west-1.amazonaws.com"
    }
