"""The Access chain's hand-written statements (pam_project/db.py says why they exist)
answer exactly what the ORM queries they replace answer.

granted_account (the grant check) against accounts_for_user, for every way a grant can
name a person; the pending INSERT against Model.save(); the rate-limit count against
recent_attempts().count(). Each test fails if the plain statement drifts from the ORM.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.db import connection
from django.forms.models import model_to_dict
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import GrantKind
from accounts.selectors import accounts_for_user, granted_account
from sessions_app import services
from sessions_app.models import ConsoleSession, FailureStep, Status
from sessions_app.selectors import recent_attempt_count, recent_attempts

from .factories import (
    AccountFactory,
    ConsoleSessionFactory,
    GrantFactory,
    GroupFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


def _orm(user, account_id):
    return accounts_for_user(user).filter(pk=account_id).first()


def _same(fast, slow) -> None:
    assert (fast is None) == (slow is None)
    if slow is None:
        return
    assert model_to_dict(fast) == model_to_dict(slow)
    assert fast.standing is slow.standing
    assert model_to_dict(fast.resource) == model_to_dict(slow.resource)
    assert model_to_dict(fast.resource.project) == model_to_dict(slow.resource.project)
    assert fast.resource.project.external_id == slow.resource.project.external_id


@pytest.mark.parametrize(
    "grants",
    [
        [],
        [("user", GrantKind.STANDING)],
        [("user", GrantKind.ELIGIBLE)],
        [("group", GrantKind.STANDING)],
        [("group", GrantKind.ELIGIBLE)],
        [("user", GrantKind.ELIGIBLE), ("group", GrantKind.STANDING)],
        [("user", GrantKind.STANDING), ("group", GrantKind.ELIGIBLE)],
        [("other", GrantKind.STANDING)],
        [("other_group", GrantKind.STANDING)],
    ],
    ids=lambda g: "+".join(f"{who}-{kind}" for who, kind in g) or "none",
)
def test_granted_account_answers_as_accounts_for_user(grants):
    person, other = UserFactory(), UserFactory()
    team, other_team = GroupFactory(), GroupFactory()
    person.groups.add(team)
    other.groups.add(other_team)
    account = AccountFactory(allowed_regions=["us-east-1", "eu-west-1"], default_region="eu-west-1")
    AccountFactory()  # another account of another resource: never returned
    for who, kind in grants:
        target = {
            "user": {"user": person},
            "group": {"group": team},
            "other": {"user": other},
            "other_group": {"group": other_team},
        }[who]
        GrantFactory(account=account, kind=kind, **target)

    fast = granted_account(person, account.pk)
    _same(fast, _orm(person, account.pk))
    expected_granted = any(who in ("user", "group") for who, _ in grants)
    assert (fast is not None) is expected_granted
    if fast is not None:
        assert fast.allowed_regions == ["us-east-1", "eu-west-1"]  # JSON, converted


def test_granted_account_refuses_who_accounts_for_user_refuses(account, bob):
    assert granted_account(bob, account.pk) is not None
    assert granted_account(AnonymousUser(), account.pk) is None
    for bad_id in (0, -1, 2**63, "7x", None, account.pk + 1000):
        assert granted_account(bob, bad_id) is None
    bob.is_active = False
    bob.save()
    assert granted_account(bob, account.pk) is None
    assert _orm(bob, account.pk) is None


def test_granted_account_is_one_statement(account, bob):
    with CaptureQueriesContext(connection) as captured:
        found = granted_account(bob, account.pk)
        found.resource.project.external_id  # noqa: B018 (loaded with it, not fetched)
    assert len(captured) == 1


def test_pending_insert_writes_the_row_the_orm_would(account, bob):
    fast = services.session_start(
        user=bob,
        account=account,
        role_session_name="bob-example.com",
        client_ip="2001:db8::1",
        user_agent="x" * 600,
        duration_seconds=1800,
        region="eu-west-1",
        service="ec2",
    )
    slow = ConsoleSession(
        user=bob,
        user_email=fast.user_email,
        account=account,
        target_role_arn=account.target_role_arn,
        resource_role_arn=account.resource.resource_role_arn,
        role_session_name="bob-example.com",
        duration_seconds=1800,
        region="eu-west-1",
        service="ec2",
        client_ip="2001:db8::1",
        user_agent="x" * 512,
        created_at=fast.created_at,
    )
    slow.save()
    written, saved = (
        ConsoleSession.objects.get(pk=fast.pk),
        ConsoleSession.objects.get(pk=slow.pk),
    )
    assert fast.pk and fast.pk != slow.pk
    assert not fast._state.adding
    ignore = {"id"}
    assert {k: v for k, v in model_to_dict(written).items() if k not in ignore} == {
        k: v for k, v in model_to_dict(saved).items() if k not in ignore
    }
    assert written.status == Status.PENDING
    assert written.created_at == fast.created_at


def test_rate_limit_count_answers_as_recent_attempts(bob, account):
    now = timezone.now()
    rows = [
        ConsoleSessionFactory(user=bob, account=account, created_at=now - timedelta(seconds=30)),
        ConsoleSessionFactory(user=bob, account=account, created_at=now - timedelta(seconds=90)),
        ConsoleSessionFactory(
            user=bob,
            account=account,
            created_at=now - timedelta(seconds=10),
            status=Status.FAILED,
            failure_step=FailureStep.RATE_LIMITED,
        ),
        ConsoleSessionFactory(user=bob, account=account, created_at=now - timedelta(hours=2)),
        ConsoleSessionFactory(account=account, created_at=now - timedelta(seconds=5)),  # another
    ]
    last = ConsoleSessionFactory(user=bob, account=account, created_at=now)
    for up_to in [r.pk for r in rows] + [last.pk]:
        for seconds in (60, 3600, 86400):
            expected = recent_attempts(bob, up_to_id=up_to, seconds=seconds).count()
            assert recent_attempt_count(bob.pk, up_to_id=up_to, seconds=seconds) == expected
    assert recent_attempt_count(bob.pk, up_to_id=last.pk, seconds=3600) == 3


@pytest.mark.parametrize("preference", [None, False, True])
def test_granted_account_reads_the_logout_first_preference(account, bob, preference):
    from identity.models import Preferences
    from identity.preferences import logout_first

    if preference is not None:
        Preferences.objects.create(user=bob, logout_first=preference)
    Preferences.objects.create(user=UserFactory(), logout_first=True)  # someone else's
    assert granted_account(bob, account.pk).logout_first is logout_first(bob) is bool(preference)


def test_the_session_store_reads_what_djangos_reads(bob):
    from datetime import timedelta as td

    from django.contrib.sessions.backends.db import SessionStore as DjangoStore

    from pam_project.sessions import SessionStore

    live = SessionStore()
    live["_auth_user_id"] = str(bob.pk)
    live.save()
    stale = SessionStore()
    stale["x"] = 1
    stale.save()
    stale_row = stale.model.objects.get(session_key=stale.session_key)
    stale_row.expire_date = timezone.now() - td(seconds=1)
    stale_row.save()
    keys = [live.session_key, stale.session_key, "x" * 40, "short", None]
    for key in keys:
        ours, theirs = SessionStore(key), DjangoStore(key)
        assert ours.load() == theirs.load(), key
        assert ours.session_key == theirs.session_key, key  # unknown keys are forgotten
    assert SessionStore(live.session_key).load() == {"_auth_user_id": str(bob.pk)}
    assert SessionStore(stale.session_key).load() == {}


def test_a_signed_in_person_stays_signed_in_until_the_session_expires(client, bob):
    from django.contrib.sessions.models import Session

    client.force_login(bob)
    assert client.get("/").status_code == 200
    Session.objects.update(expire_date=timezone.now() - timedelta(seconds=1))
    assert client.get("/").status_code == 302  # expired: signed out, to the login page
