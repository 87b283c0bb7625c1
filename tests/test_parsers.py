"""ARNs, durations and session names: what an admin types and what AWS accepts."""

from __future__ import annotations

import re

import pytest
from django.core.exceptions import ValidationError
from hypothesis import given
from hypothesis import strategies as st

from pam_project.durations import format_duration, parse_duration
from resources.aws import ArnError, parse_role_arn, session_name_for

AWS_NAME = re.compile(r"[A-Za-z0-9_+=,.@-]{2,64}")


# --- ARNs -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("arn", "partition", "path", "name"),
    [
        ("arn:aws:iam::123456789012:role/readonly", "aws", "/", "readonly"),
        ("arn:aws-us-gov:iam::123456789012:role/ops/readonly", "aws-us-gov", "/ops/", "readonly"),
        ("arn:aws-cn:iam::123456789012:role/a/b/c/x+=,.@_-y", "aws-cn", "/a/b/c/", "x+=,.@_-y"),
        ("arn:aws:iam::000000000000:role/" + "r" * 64, "aws", "/", "r" * 64),
    ],
)
def test_valid_role_arns_parse_into_their_parts(arn, partition, path, name):
    role = parse_role_arn(arn)
    assert (role.partition, role.account_id, role.path, role.name) == (
        partition,
        arn.split(":")[4],
        path,
        name,
    )
    assert role.arn == arn


@pytest.mark.parametrize(
    ("arn", "says"),
    [
        ("", "Enter a role ARN"),
        ("arn:aws:iam::123456789012", "six parts"),
        ("urn:aws:iam::123456789012:role/x", 'start with "arn:"'),
        ("arn:aws-eu:iam::123456789012:role/x", 'Unknown partition "aws-eu"'),
        ("arn:aws:s3::123456789012:role/x", 'service part must be "iam"'),
        ("arn:aws:iam:us-east-1:123456789012:role/x", "IAM ARNs have no region"),
        ("arn:aws:iam::12345678901:role/x", "exactly 12 digits"),
        ("arn:aws:iam::1234567890123:role/x", "exactly 12 digits"),
        ("arn:aws:iam::12345678901a:role/x", "exactly 12 digits"),
        ("arn:aws:iam::123456789012:user/x", 'must be a role ("role/<name>"), not "user"'),
        ("arn:aws:iam::123456789012:role/", "role name is missing"),
        ("arn:aws:iam::123456789012:role/" + "r" * 65, "1 to 64"),
        ("arn:aws:iam::123456789012:role/read only", 'role name "read only" may only contain'),
        ("arn:aws:iam::123456789012:role/lecture-seule-é", "may only contain"),
        ("arn:aws:iam::123456789012:role/a//x", "empty segment"),
        ("arn:aws:iam::123456789012:role/te$t/x", 'path segment "te$t"'),
        (" arn:aws:iam::123456789012:role/x", "spaces before or after"),
        ("arn:aws:iam::123456789012:role/" + "p/" * 300 + "x", "path is"),
        ("arn:aws:iam::123456789012:role/" + "p" * 2100, "at most 2048"),
    ],
)
def test_malformed_role_arns_are_rejected_naming_the_wrong_part(arn, says):
    with pytest.raises(ArnError, match=re.escape(says)):
        parse_role_arn(arn)


@given(st.text(max_size=300))
def test_any_text_either_parses_to_itself_or_is_rejected_with_a_message(text):
    try:
        role = parse_role_arn(text)
    except ArnError as exc:
        assert str(exc)
    else:
        assert role.arn == text
        assert AWS_NAME.fullmatch(role.name + "x")  # name chars are AWS's own set


# --- Durations ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "seconds"),
    [
        ("15m", 900),
        ("30m", 1800),
        ("45m", 2700),
        ("1h", 3600),
        ("900s", 900),
        ("1h0m", 3600),
        ("20m30s", 1230),
        (" 30M ", 1800),
        ("1h0m0s", 3600),
    ],
)
def test_durations_parse_to_seconds(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("14m", "out of range"),
        ("899s", "out of range"),
        ("2h", "AWS caps role-chained sessions at 1 hour"),
        ("1h1s", "out of range"),
        ("abc", "is not a duration"),
        ("", "Enter a duration"),
        ("   ", "Enter a duration"),
        ("900", "has no unit"),
        ("30 m", "is not a duration"),
        ("m", "is not a duration"),
        ("-15m", "is not a duration"),
        ("1.5h", "is not a duration"),
    ],
)
def test_bad_durations_are_rejected_with_a_message(text, says):
    with pytest.raises(ValidationError, match=re.escape(says)):
        parse_duration(text)


@given(st.integers(min_value=900, max_value=3600))
def test_formatted_durations_parse_back(seconds):
    assert parse_duration(format_duration(seconds)) == seconds


@given(st.text(max_size=20))
def test_any_text_is_a_duration_in_range_or_a_validation_error(text):
    try:
        seconds = parse_duration(text)
    except ValidationError as exc:
        assert exc.messages[0]
    else:
        assert 900 <= seconds <= 3600


# --- Session names ------------------------------------------------------------------


def test_a_plain_email_is_its_own_session_name():
    assert session_name_for("alice.smith+ops@example.com") == "alice.smith+ops@example.com"


@pytest.mark.parametrize("email", ["jörg@example.com", "a b@example.com", "a/b@x.io", "x"])
def test_characters_aws_rejects_are_replaced_and_the_name_stays_unique(email):
    name = session_name_for(email)
    assert AWS_NAME.fullmatch(name)
    assert name.startswith(re.sub(r"[^A-Za-z0-9_+=,.@-]", "-", email))


def test_two_long_emails_sharing_a_64_char_prefix_get_different_names():
    prefix = "a" * 70
    one, two = session_name_for(prefix + "@one.example"), session_name_for(prefix + "@two.example")
    assert one != two
    assert len(one) == len(two) == 64
    assert one.startswith("a" * 50)


def test_emails_that_sanitize_alike_get_different_names():
    assert session_name_for("ä@example.com") != session_name_for("ö@example.com")


@given(st.text(max_size=200))
def test_any_email_gives_a_valid_session_name(email):
    assert AWS_NAME.fullmatch(session_name_for(email))


@given(st.text(max_size=120), st.text(max_size=120))
def test_different_emails_give_different_session_names(one, two):
    if one != two:
        assert session_name_for(one) != session_name_for(two)
