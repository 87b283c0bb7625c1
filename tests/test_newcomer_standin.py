"""The demo's AWS stand-in enforces the caller's identity policy on role chaining, as AWS
does (issue 17): a Resource Role with no permissions policy assumed any Target Role that
trusted it. First the policy evaluator on its own, then the gate over real HTTP."""

from __future__ import annotations

import json

import boto3
import pytest
import requests

from pam_demo.iam_policy import ALLOW, DENY, IMPLICIT_DENY, arn_matches, evaluate
from resources.aws import AwsStepError, sts
from resources.policies import (
    resource_role_permissions_policy,
    resource_role_trust_policy,
    target_role_trust_policy,
)

from .test_browser import aws_standins  # noqa: F401  (the fixture, by name)

ACCOUNT = "123456789012"
TARGET = f"arn:aws:iam::{ACCOUNT}:role/pam-readonly"


def allow(action="sts:AssumeRole", resource=TARGET, **extra) -> dict:
    return {"Effect": "Allow", "Action": action, "Resource": resource, **extra}


def deny(action="sts:AssumeRole", resource=TARGET, **extra) -> dict:
    return {"Effect": "Deny", "Action": action, "Resource": resource, **extra}


def decide(*statements: dict, action: str = "sts:AssumeRole", resource: str = TARGET, **ctx):
    document = {"Version": "2012-10-17", "Statement": list(statements)}
    return evaluate([("p", json.dumps(document))], action=action, resource=resource, context=ctx)


# --- The evaluator -----------------------------------------------------------------


def test_nothing_allowed_is_an_implicit_deny():
    assert decide().outcome == IMPLICIT_DENY
    assert decide(allow(action="sts:GetCallerIdentity")).outcome == IMPLICIT_DENY


def test_an_explicit_deny_wins_over_any_allow_in_any_policy():
    allowing = ("allow-all", {"Statement": [allow(action="*", resource="*")]})
    denying = ("no-admin", {"Statement": deny(resource=f"arn:aws:iam::{ACCOUNT}:role/pam-*")})
    decision = evaluate([allowing, denying], action="sts:AssumeRole", resource=TARGET)
    assert (decision.outcome, decision.policy) == (DENY, "no-admin")
    other = evaluate([allowing, denying], action="sts:AssumeRole", resource="arn:aws:iam::1:role/x")
    assert (other.outcome, other.policy) == (ALLOW, "allow-all")


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        ("sts:AssumeRole", True),
        ("STS:assumerole", True),  # actions are case-insensitive
        ("sts:Assume*", True),
        ("sts:*", True),
        ("*", True),
        ("sts:AssumeRol?", True),
        ("sts:AssumeRoleWithSAML", False),
        ("iam:*", False),
        (["iam:GetRole", "sts:AssumeRole"], True),
    ],
)
def test_actions_match_with_wildcards_and_any_case(pattern, allowed):
    assert decide(allow(action=pattern)).allowed is allowed


@pytest.mark.parametrize(
    ("pattern", "allowed"),
    [
        (TARGET, True),
        ("*", True),
        (f"arn:aws:iam::{ACCOUNT}:role/*", True),
        (f"arn:aws:iam::{ACCOUNT}:role/pam-*", True),
        (f"arn:aws:iam::{ACCOUNT}:role/pam-readonl?", True),
        ("arn:aws:iam::*:role/pam-readonly", True),
        (f"arn:aws:iam::{ACCOUNT}:role/PAM-readonly", False),  # ARNs are case-sensitive
        (f"arn:aws:iam::{ACCOUNT}:role/other-*", False),
        ("arn:aws:iam::111122223333:role/*", False),
        (f"arn:aws:iam::{ACCOUNT}:role/pam-readonly-2", False),
    ],
)
def test_resources_match_within_arn_segments(pattern, allowed):
    assert decide(allow(resource=pattern)).allowed is allowed


def test_a_star_spans_colons_only_where_it_ends_a_segment():
    # IAM: a * that is a segment's last character may match across the colons after it;
    # anywhere else it stays within its segment.
    assert arn_matches("arn:aws:iam::*", TARGET)
    assert arn_matches("arn:aws:i*:role/pam-readonly", TARGET)
    assert arn_matches("arn:aws:iam::1234*9012:role/pam-readonly", TARGET)
    # A plain glob would match this one ("am::12345678901" for the *): IAM does not.
    assert not arn_matches("arn:aws:i*2:role/pam-readonly", TARGET)


def test_not_action_and_not_resource_invert_the_match():
    assert decide({"Effect": "Allow", "NotAction": "iam:*", "Resource": "*"}).allowed
    assert not decide({"Effect": "Allow", "NotAction": "sts:*", "Resource": "*"}).allowed
    assert decide({"Effect": "Allow", "Action": "sts:*", "NotResource": "arn:aws:iam::1:*"}).allowed
    assert not decide({"Effect": "Allow", "Action": "sts:*", "NotResource": TARGET}).allowed


def test_conditions_follow_iams_rules_for_missing_keys():
    external = {"StringEquals": {"sts:ExternalId": "abc"}}
    assert decide(allow(Condition=external), **{"sts:ExternalId": "abc"}).allowed
    assert not decide(allow(Condition=external), **{"sts:ExternalId": "xyz"}).allowed
    assert not decide(allow(Condition=external)).allowed  # missing: a positive test fails
    negated = {"StringNotEquals": {"sts:ExternalId": "abc"}}
    assert decide(allow(Condition=negated)).allowed  # missing: a negated test holds
    if_exists = {"StringEqualsIfExists": {"sts:ExternalId": "abc"}}
    assert decide(allow(Condition=if_exists)).allowed
    assert not decide(allow(Condition=if_exists), **{"sts:ExternalId": "x"}).allowed
    present = {"Null": {"sts:ExternalId": "false"}}
    assert not decide(allow(Condition=present)).allowed
    assert decide(allow(Condition=present), **{"sts:ExternalId": "x"}).allowed
    like = {"StringLike": {"sts:RoleSessionName": "*@example.com"}}
    assert decide(allow(Condition=like), **{"sts:RoleSessionName": "bob@example.com"}).allowed
    assert not decide(allow(Condition=like), **{"sts:RoleSessionName": "bob@EXAMPLE.COM"}).allowed


def test_a_condition_it_cannot_evaluate_fails_closed():
    unknown = {"ForAnyValue:StringEquals": {"aws:TagKeys": "x"}}
    assert not decide(allow(Condition=unknown)).allowed  # grants nothing
    assert decide(allow(), deny(Condition=unknown)).outcome == DENY  # and still denies


# --- The gate, over HTTP: Access's own two hops --------------------------------------

EXTERNAL_ID = "demo-external-id-0123456789abcdef"


@pytest.fixture
def chain(aws_standins):  # noqa: F811
    """A Resource Role (trusted by the deployment) and a Target Role that trusts it,
    both with the app's own trust policies; no permissions policy yet."""
    iam = boto3.client("iam")
    resource = iam.create_role(
        RoleName="pam-resource",
        AssumeRolePolicyDocument=json.dumps(
            resource_role_trust_policy(deployment_account_id=ACCOUNT, external_id=EXTERNAL_ID)
        ),
    )["Role"]["Arn"]
    iam.create_role(
        RoleName="pam-readonly",
        AssumeRolePolicyDocument=json.dumps(
            target_role_trust_policy(resource_role_arn=resource, external_id=EXTERNAL_ID)
        ),
    )
    return iam


def hop2(source_identity: str | None = None) -> sts.AssumedRole:
    hop1 = sts.assume_resource_role(
        role_arn=f"arn:aws:iam::{ACCOUNT}:role/pam-resource",
        external_id=EXTERNAL_ID,
        session_name="tester",
        duration_seconds=900,
        source_identity=source_identity,
    )
    return sts.assume_target_role(
        via=hop1.credentials,
        role_arn=TARGET,
        external_id=EXTERNAL_ID,
        session_name="tester",
        duration_seconds=900,
        source_identity=source_identity,
    )


def test_a_resource_role_with_no_permissions_policy_cannot_chain(chain):
    with pytest.raises(AwsStepError) as refused:
        hop2()
    assert (refused.value.step, refused.value.code) == ("target_role", "AccessDenied")
    assert refused.value.message == (
        f"User: arn:aws:sts::{ACCOUNT}:assumed-role/pam-resource/tester is not authorized to "
        f"perform: sts:AssumeRole on resource: {TARGET} because no identity-based policy "
        "allows the sts:AssumeRole action"
    )


def test_the_permissions_policy_the_app_shows_lets_it_chain(chain):
    chain.put_role_policy(
        RoleName="pam-resource",
        PolicyName="pam",
        PolicyDocument=json.dumps(resource_role_permissions_policy(account_id=ACCOUNT)),
    )
    assert hop2().assumed_role_arn.endswith(":assumed-role/pam-readonly/tester")


def test_an_attached_managed_policy_counts_too(chain):
    policy = chain.create_policy(
        PolicyName="pam-chain",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow()]}),
    )["Policy"]["Arn"]
    chain.attach_role_policy(RoleName="pam-resource", PolicyArn=policy)
    assert hop2().assumed_role_arn.endswith(":assumed-role/pam-readonly/tester")


def test_an_allow_for_other_roles_or_an_explicit_deny_refuses(chain):
    other = allow(resource=f"arn:aws:iam::{ACCOUNT}:role/other-*")
    chain.put_role_policy(
        RoleName="pam-resource",
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": other}),
    )
    with pytest.raises(AwsStepError, match="because no identity-based policy allows"):
        hop2()
    chain.put_role_policy(
        RoleName="pam-resource",
        PolicyName="p",
        PolicyDocument=json.dumps(
            {"Version": "2012-10-17", "Statement": [allow(resource="*"), deny()]}
        ),
    )
    with pytest.raises(AwsStepError, match="with an explicit deny in an identity-based policy"):
        hop2()


def test_source_identity_needs_its_own_permission(chain):
    chain.update_assume_role_policy(
        RoleName="pam-readonly",
        PolicyDocument=json.dumps(
            target_role_trust_policy(
                resource_role_arn=f"arn:aws:iam::{ACCOUNT}:role/pam-resource",
                external_id=EXTERNAL_ID,
                source_identity=True,
            )
        ),
    )
    chain.update_assume_role_policy(
        RoleName="pam-resource",
        PolicyDocument=json.dumps(
            resource_role_trust_policy(
                deployment_account_id=ACCOUNT, external_id=EXTERNAL_ID, source_identity=True
            )
        ),
    )
    chain.put_role_policy(
        RoleName="pam-resource",
        PolicyName="p",
        PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": allow()}),
    )
    with pytest.raises(AwsStepError, match="sts:SetSourceIdentity"):
        hop2(source_identity="tester")
    chain.put_role_policy(
        RoleName="pam-resource",
        PolicyName="p",
        PolicyDocument=json.dumps(
            resource_role_permissions_policy(account_id=ACCOUNT, source_identity=True)
        ),
    )
    assert hop2(source_identity="tester").assumed_role_arn.endswith("/tester")


# --- The demo's roles across restarts (pam_demo/aws_state.py) -------------------------


def test_the_stand_in_keeps_its_roles_policies_and_attachments_in_its_state_file(tmp_path):
    from moto.moto_api._internal.models import moto_api_backend

    from pam_demo import standins

    state = tmp_path / "var" / "demo-aws.json"

    def iam_at(url: str):
        return boto3.client(
            "iam",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="any",
            aws_secret_access_key="any",
        )

    first = standins.start(state_file=state)
    try:
        iam = iam_at(first.aws.url)
        trust = json.dumps(
            resource_role_trust_policy(deployment_account_id=ACCOUNT, external_id=EXTERNAL_ID)
        )
        iam.create_role(RoleName="kept", Path="/pam/", AssumeRolePolicyDocument=trust)
        permissions = resource_role_permissions_policy(account_id=ACCOUNT)
        iam.put_role_policy(
            RoleName="kept", PolicyName="pam", PolicyDocument=json.dumps(permissions)
        )
        managed = iam.create_policy(
            PolicyName="extra",
            PolicyDocument=json.dumps({"Version": "2012-10-17", "Statement": [allow()]}),
        )["Policy"]["Arn"]
        iam.attach_role_policy(RoleName="kept", PolicyArn=managed)
        # Saved as soon as IAM took each write, owner-only: a crash loses nothing.
        saved = json.loads(state.read_text())
        assert [r["name"] for r in saved["accounts"][ACCOUNT]["aws"]["roles"]] == ["kept"]
        assert oct(state.stat().st_mode & 0o777) == "0o600"
    finally:
        first.stop()  # a clean stop saves too
    moto_api_backend.reset()  # what a new process starts with: nothing in moto's memory

    second = standins.start(state_file=state)
    try:
        iam = iam_at(second.aws.url)
        role = iam.get_role(RoleName="kept")["Role"]
        assert role["Path"] == "/pam/"
        assert role["AssumeRolePolicyDocument"] == json.loads(trust)
        inline = iam.get_role_policy(RoleName="kept", PolicyName="pam")["PolicyDocument"]
        assert inline == permissions
        attached = iam.list_attached_role_policies(RoleName="kept")["AttachedPolicies"]
        assert [p["PolicyArn"] for p in attached] == [managed]
    finally:
        requests.post(f"{second.aws.url}/moto-api/reset", timeout=5)
        second.stop()
        sts.reset()
