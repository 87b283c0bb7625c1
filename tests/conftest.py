from __future__ import annotations

import re

import pytest
import responses
from botocore.retries import standard
from django.core.cache import cache
from moto import mock_aws

from accounts.models import GrantKind
from resources.aws import PARTITIONS, sts
from sessions_app import scheduling

from .aws_fakes import AwsRecorder, FederationFake
from .factories import AccountFactory, GrantFactory, UserFactory


@pytest.fixture(autouse=True)
def _fresh_process_state():
    """Module-level caches (boto3 Session and clients, deployment identity, broker
    back-off) would otherwise carry one test's AWS stand-in into the next."""
    cache.clear()
    sts.reset()
    scheduling.reset_backoff()
    yield
    sts.reset()
    scheduling.reset_backoff()


@pytest.fixture
def no_retry_delay(monkeypatch):
    """Keep botocore's retries (their count is part of the behaviour) but not their sleep."""
    monkeypatch.setattr(standard.ExponentialBackoff, "delay_amount", lambda self, context: 0)


@pytest.fixture
def aws(no_retry_delay) -> AwsRecorder:
    """moto for STS, plus a recorder of what each call really sent."""
    with mock_aws():
        recorder = AwsRecorder()
        recorder.install(sts._boto_session())
        yield recorder


@pytest.fixture
def federation(aws) -> FederationFake:
    """The federation endpoints of all partitions, answered at the HTTP level."""
    fake = FederationFake()
    with responses.RequestsMock(assert_all_requests_are_fired=False) as mock:
        # Stand-ins that are real servers on loopback (the OpenID provider) stay reachable.
        mock.add_passthru("http://localhost:")
        for partition in PARTITIONS.values():
            mock.add_callback(
                responses.GET, f"https://{partition.signin_host}/federation", callback=fake
            )
            if partition.regional_signin:
                # The regional endpoints (`<region>.signin.aws.amazon.com`) of a chosen
                # console region: the same stand-in.
                regional = rf"https://[a-z0-9-]+\.{re.escape(partition.signin_host)}/federation"
                mock.add_callback(responses.GET, re.compile(regional), callback=fake)
        yield fake


# The three standing users (as in healthchecks' alice/bob/charlie): an admin who is not
# granted anything (superusers get no Access by default), a granted member, an outsider.
@pytest.fixture
def alice(db):
    return UserFactory(username="alice", is_staff=True, is_superuser=True)


@pytest.fixture
def bob(db):
    return UserFactory(username="bob", email="bob@example.com")


@pytest.fixture
def charlie(db):
    return UserFactory(username="charlie")


@pytest.fixture
def account(db, bob):
    account = AccountFactory(name="readonly")
    GrantFactory(account=account, user=bob)
    return account


# Just-in-time access: an account bob may only request (an eligible grant), decided by
# dana and erin.
@pytest.fixture
def approver(db):
    return UserFactory(username="dana", email="dana@example.com")


@pytest.fixture
def second_approver(db):
    return UserFactory(username="erin", email="erin@example.com")


@pytest.fixture
def jit(db, bob, approver, second_approver):
    """An account bob is eligible for (not standing), decided by dana and erin."""
    account = AccountFactory(name="admin")
    GrantFactory(account=account, user=bob, kind=GrantKind.ELIGIBLE)
    account.approver_users.add(approver, second_approver)
    return account
