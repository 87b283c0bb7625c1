"""A closed window takes its console sessions back: revoked early by an approver,
cancelled by the requester, or ended at its time by a real Celery worker on Redis."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from celery.contrib.testing.worker import start_worker
from django.utils import timezone

from access_requests import services as requests
from access_requests.models import AccessRequest, RequestStatus
from accounts.models import GrantKind
from pam_project import celery_app
from pam_project.publishing import publish
from sessions_app import scheduling, tasks
from sessions_app.models import ConsoleSession, Status

from .celery_helpers import broker, published, require_redis
from .factories import CUSTOMER_ACCOUNT, AccountFactory, GrantFactory, UserFactory
from .test_revocation import TRUST, access, policy
from .test_revocation import target as target  # the fixture


@pytest.fixture
def window(federation, target, db):
    """Una inside an approved window on `prod` (eligible grant), with a live session."""
    account = AccountFactory(name="prod")
    una, dana = UserFactory(username="una"), UserFactory(username="dana")
    GrantFactory(account=account, user=una, kind=GrantKind.ELIGIBLE)
    account.approver_users.add(dana)
    request = requests.request_create(
        requester=una, account=account, reason="deploy", duration_seconds=3600
    )
    request = requests.request_decide(request=request, approver=dana, approve=True)
    session = access(account, una)
    assert session.status == Status.ACTIVE and session.access_request == request
    return request, session, dana


def test_revoking_a_window_early_revokes_its_live_session(
    window, target, django_capture_on_commit_callbacks
):
    request, session, dana = window
    with published() as messages, django_capture_on_commit_callbacks(execute=True):
        requests.request_revoke(request=request, actor=dana, comment="incident over")
    assert scheduling.LOST_ACCESS_TASK in [m["headers"]["task"] for m in messages]

    assert tasks.revoke_lost_access.apply().get() == 1
    session.refresh_from_db()
    assert session.status == Status.REVOKED
    assert f"request #{request.pk} was revoked" in session.revoke_reason
    [statement] = policy(target)["Statement"]
    assert statement["Condition"]["StringEquals"] == {"aws:userid": session.assumed_role_id}


def test_cancelling_a_running_window_ends_it_and_the_sweep_revokes(window):
    request, session, _ = window
    requests.request_cancel(request=request, actor=request.requester)
    request.refresh_from_db()
    assert request.status == RequestStatus.ENDED
    # The sweep does it even if the message was lost.
    tasks.sweep_sessions.apply().get()
    session.refresh_from_db()
    assert session.status == Status.REVOKED


def test_a_standing_session_on_another_role_is_left_alone(window, target):
    # (On the same Target Role it could not be: AWS denies by aws:userid, the role and
    # the session name, which both sessions share.)
    request, _, dana = window
    target.create_role(RoleName="pam-other", AssumeRolePolicyDocument=TRUST)
    standing_account = AccountFactory(
        name="readonly", target_role_arn=f"arn:aws:iam::{CUSTOMER_ACCOUNT}:role/pam-other"
    )
    GrantFactory(account=standing_account, user=request.requester)
    standing = access(standing_account, request.requester)
    requests.request_revoke(request=request, actor=dana)
    tasks.revoke_lost_access.apply().get()
    standing.refresh_from_db()
    assert standing.status == Status.ACTIVE


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_a_real_worker_ends_the_window_at_its_eta_and_revokes_the_session(window):
    url = require_redis()
    request, session, _ = window
    # Two seconds from now instead of an hour: the same task, the same ETA mechanism.
    soon = timezone.now() + timedelta(seconds=2)
    AccessRequest.objects.filter(pk=request.pk).update(ends_at=soon)
    ConsoleSession.objects.filter(pk=session.pk).update(expires_at=soon + timedelta(minutes=5))
    with broker(url):
        assert publish(requests.END_TASK, [request.pk], soon, "test") is True
        with start_worker(
            celery_app,
            pool="solo",
            perform_ping_check=False,
            shutdown_timeout=10,
            loglevel="WARNING",
        ):
            deadline = time.monotonic() + 25
            while time.monotonic() < deadline:
                session.refresh_from_db()
                if session.status == Status.REVOKED:
                    break
                time.sleep(0.2)
    request.refresh_from_db()
    assert request.status == RequestStatus.ENDED
    assert request.ended_at >= soon
    assert session.status == Status.REVOKED
