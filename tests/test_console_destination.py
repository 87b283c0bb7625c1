"""Where the console opens (issue 17, "Region and service"): a region and a service of
fixed lists, per partition, chosen per account and, where it offers several, per Access."""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlsplit

import pytest
from django.core.exceptions import ValidationError
from django.urls import reverse
from rest_framework.test import APIClient

from accounts.models import PamAccount
from resources.aws import PARTITIONS, SERVICES, ConsoleChoiceError, console_url
from resources.aws.console import signin_host
from resources.aws.partitions import partition_of_region
from sessions_app.access import account_access
from sessions_app.models import ConsoleSession

from .factories import AccountFactory, GrantFactory, ResourceFactory

CN_ROLE = "arn:aws-cn:iam::123456789012:role/pam-readonly"
GOV_ROLE = "arn:aws-us-gov:iam::123456789012:role/pam-readonly"


def query_of(url: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}


def picker_account(bob, **fields) -> PamAccount:
    fields = {
        "default_region": "eu-west-1",
        "allowed_regions": ["eu-west-1", "us-west-2"],
        "default_service": "s3",
        "allowed_services": ["s3", "ec2"],
        **fields,
    }
    account = AccountFactory(name="picker", **fields)
    GrantFactory(account=account, user=bob)
    return account


# --- Building the Destination and the endpoint, per partition ----------------------


@pytest.mark.parametrize(
    ("partition", "region", "service", "expected"),
    [
        ("aws", "", "", "https://console.aws.amazon.com/"),
        (
            "aws",
            "eu-west-1",
            "ec2",
            "https://eu-west-1.console.aws.amazon.com/ec2/home?region=eu-west-1",
        ),
        (
            "aws",
            "eu-west-1",
            "",
            "https://eu-west-1.console.aws.amazon.com/console/home?region=eu-west-1",
        ),
        ("aws", "", "ec2", "https://console.aws.amazon.com/ec2/home"),
        (
            "aws",
            "us-east-2",
            "dynamodb",
            "https://us-east-2.console.aws.amazon.com/dynamodbv2/home?region=us-east-2",
        ),
        ("aws-cn", "", "", "https://console.amazonaws.cn/"),
        (
            "aws-cn",
            "cn-northwest-1",
            "s3",
            "https://console.amazonaws.cn/s3/home?region=cn-northwest-1",
        ),
        (
            "aws-us-gov",
            "us-gov-east-1",
            "iam",
            "https://console.amazonaws-us-gov.com/iam/home?region=us-gov-east-1",
        ),
    ],
)
def test_the_destination_is_built_per_partition(partition, region, service, expected):
    assert console_url(partition, region, service) == expected


@pytest.mark.parametrize(
    ("partition", "region", "host"),
    [
        ("aws", "", "signin.aws.amazon.com"),
        ("aws", "eu-west-1", "eu-west-1.signin.aws.amazon.com"),
        # us-east-1's sign-in endpoint is the global host itself (General Reference).
        ("aws", "us-east-1", "signin.aws.amazon.com"),
        ("aws-cn", "cn-north-1", "signin.amazonaws.cn"),
        ("aws-us-gov", "us-gov-west-1", "signin.amazonaws-us-gov.com"),
    ],
)
def test_the_regional_signin_endpoint_is_used_where_aws_has_one(partition, region, host):
    assert signin_host(partition, region) == host


@pytest.mark.parametrize(
    ("partition", "region", "service", "field"),
    [
        ("aws", "cn-north-1", "", "region"),  # another partition's
        ("aws-cn", "eu-west-1", "", "region"),
        ("aws", "eu-west-1.evil.example", "", "region"),  # free text never gets in
        ("aws", "eu-west-1/../x", "", "region"),
        ("aws", "", "ec2/home?x=", "service"),
        ("aws", "", "not-a-service", "service"),
    ],
)
def test_values_off_the_lists_are_refused_naming_the_field(partition, region, service, field):
    with pytest.raises(ConsoleChoiceError) as refused:
        console_url(partition, region, service)
    assert refused.value.field == field


def test_the_region_lists_are_each_partitions_own():
    for partition in PARTITIONS.values():
        assert partition.default_region in partition.regions
        assert {partition_of_region(r) for r in partition.regions} == {partition.name}
    assert len(SERVICES) >= 25
    for slug, service in SERVICES.items():
        assert re.fullmatch(r"[a-z0-9-]+", slug)
        assert re.fullmatch(r"[a-z0-9-]+(/[a-z0-9-]+)*", service.path)


# --- The account's rules ------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "field", "words"),
    [
        ({"default_region": "cn-north-1"}, "default_region", "partition aws"),
        ({"allowed_regions": ["eu-west-1", "mars-1"]}, "allowed_regions", '"mars-1"'),
        ({"default_service": "shell"}, "default_service", "not a console service"),
        ({"allowed_services": ["ec2", "x"]}, "allowed_services", '"x"'),
        (
            {"default_region": "us-west-2", "allowed_regions": ["eu-west-1", "eu-central-1"]},
            "default_region",
            "must be one of the allowed regions",
        ),
        (
            {"default_service": "iam", "allowed_services": ["ec2", "s3"]},
            "default_service",
            "must be one of the allowed services",
        ),
        ({"allowed_regions": "eu-west-1"}, "allowed_regions", "A list of region names"),
        (
            {"target_role_arn": CN_ROLE, "allowed_regions": ["cn-north-1", "eu-west-1"]},
            "allowed_regions",
            "partition aws-cn",
        ),
    ],
)
def test_an_account_refuses_choices_off_its_lists(db, fields, field, words):
    account = AccountFactory.build(resource=ResourceFactory(), **fields)
    with pytest.raises(ValidationError) as refused:
        account.full_clean()
    assert words in " ".join(refused.value.message_dict[field])


def test_an_account_accepts_its_partitions_regions_and_listed_services(db):
    for arn, region in ((CN_ROLE, "cn-northwest-1"), (GOV_ROLE, "us-gov-east-1")):
        account = AccountFactory.build(
            resource=ResourceFactory(),
            target_role_arn=arn,
            default_region=region,
            allowed_services=["s3", "ec2", "s3"],
        )
        account.full_clean()
        assert account.allowed_services == ["s3", "ec2"]  # once each, in order


def test_console_choice_applies_defaults_and_refuses_what_the_account_does_not_offer(db):
    account = AccountFactory.build(allowed_regions=["eu-west-1", "us-west-2"])
    assert account.console_choice() == ("eu-west-1", "")  # no default: the first
    assert account.console_choice("us-west-2") == ("us-west-2", "")
    with pytest.raises(ConsoleChoiceError) as refused:
        account.console_choice("eu-central-1")  # a real region, but not offered
    assert refused.value.field == "region"
    assert "eu-west-1, us-west-2" in refused.value.message
    with pytest.raises(ConsoleChoiceError) as refused:
        account.console_choice(service="ec2")
    assert refused.value.field == "service"
    assert "offers no service choice" in refused.value.message
    assert AccountFactory.build().console_choice() == ("", "")


# --- The chain -----------------------------------------------------------------------


def test_a_chosen_region_signs_in_at_its_endpoint_and_lands_there(aws, federation, bob):
    account = picker_account(bob)
    granted = account_access(
        account=account,
        user=bob,
        client_ip="203.0.113.7",
        user_agent="pytest",
        issuer="https://pam.example.test/accounts/1/",
        region="us-west-2",
        service="ec2",
    )
    # The token and the login URL: the same regional endpoint.
    (call,) = federation.calls
    assert urlsplit(call.url).hostname == "us-west-2.signin.aws.amazon.com"
    url = urlsplit(granted.signin_url)
    assert (url.hostname, url.path) == ("us-west-2.signin.aws.amazon.com", "/federation")
    assert query_of(granted.signin_url)["Destination"] == (
        "https://us-west-2.console.aws.amazon.com/ec2/home?region=us-west-2"
    )
    row = ConsoleSession.objects.get()
    assert (row.region, row.service) == ("us-west-2", "ec2")


# --- The Access button ---------------------------------------------------------------


def test_the_picker_shows_the_accounts_choices_with_its_defaults_selected(client, bob, account):
    picker = picker_account(bob)
    client.force_login(bob)
    page = client.get("/").content.decode()

    form = page[page.index(f'action="{reverse("account-access", args=[picker.pk])}"') :]
    form = form[: form.index("</form>")]
    assert re.findall(r'<option value="([^"]+)"', form) == ["eu-west-1", "us-west-2", "s3", "ec2"]
    assert '<option value="eu-west-1" selected>' in form
    assert '<option value="s3" selected>S3</option>' in form
    assert 'name="region"' in form and 'name="service"' in form
    # An account with nothing to choose shows the plain button, as before.
    plain = page[page.index(f'action="{reverse("account-access", args=[account.pk])}"') :]
    assert "<select" not in plain[: plain.index("</form>")]


def test_posting_a_region_and_service_lands_the_console_there(client, federation, bob):
    account = picker_account(bob)
    client.force_login(bob)
    response = client.post(
        reverse("account-access", args=[account.pk]), {"region": "us-west-2", "service": "ec2"}
    )

    assert response.status_code == 302
    location = response["Location"]  # the sign-in URL: only ever here
    assert urlsplit(location).hostname == "us-west-2.signin.aws.amazon.com"
    assert query_of(location)["Destination"] == (
        "https://us-west-2.console.aws.amazon.com/ec2/home?region=us-west-2"
    )
    row = ConsoleSession.objects.get()
    assert (row.region, row.service) == ("us-west-2", "ec2")
    history = client.get(reverse("session-list")).content.decode()
    assert "console: us-west-2 · ec2" in history


def test_nothing_posted_opens_the_accounts_defaults(client, federation, bob):
    account = picker_account(bob)
    client.force_login(bob)
    response = client.post(reverse("account-access", args=[account.pk]))
    assert query_of(response["Location"])["Destination"] == (
        "https://eu-west-1.console.aws.amazon.com/s3/home?region=eu-west-1"
    )


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"region": "eu-central-1"}, "region"),  # a real region the account does not offer
        ({"region": "eu-west-1.evil.example"}, "region"),
        ({"service": "iam"}, "service"),
        ({"service": "s3/home?x=<b>"}, "service"),
    ],
)
def test_a_choice_the_account_does_not_offer_is_a_400_page_and_nothing_is_attempted(
    client, federation, bob, data, field
):
    account = picker_account(bob)
    client.force_login(bob)
    response = client.post(reverse("account-access", args=[account.pk]), data)

    assert response.status_code == 400
    page = response.content.decode()
    assert f"Field refused: <strong><code>{field}</code></strong>" in page
    assert "is not allowed: this account offers only" in page
    assert "no console session was recorded" in page
    assert "<b>" not in page  # the value is shown escaped
    assert not ConsoleSession.objects.exists()
    assert federation.calls == []


# --- The API -------------------------------------------------------------------------


def test_the_api_access_takes_region_and_service(federation, bob):
    account = picker_account(bob)
    client = APIClient()
    client.force_login(bob)
    response = client.post(
        f"/api/v1/accounts/{account.pk}/access/",
        {"region": "us-west-2", "service": "ec2"},
        format="json",
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["region"], body["service"]) == ("us-west-2", "ec2")
    assert query_of(body["signin_url"])["Destination"] == (
        "https://us-west-2.console.aws.amazon.com/ec2/home?region=us-west-2"
    )
    session = client.get(f"/api/v1/sessions/{body['session_id']}/").json()
    assert (session["region"], session["service"]) == ("us-west-2", "ec2")


@pytest.mark.parametrize(
    ("body", "field", "words"),
    [
        ({"region": "ap-south-1"}, "region", "this account offers only eu-west-1, us-west-2"),
        ({"service": "kms"}, "service", "this account offers only s3, ec2"),
        ({"region": ["eu-west-1"]}, "region", "a string"),
        ({"service": 7}, "service", "a string"),
    ],
)
def test_the_api_refuses_a_choice_off_the_list_with_a_400_naming_the_field(
    federation, bob, body, field, words
):
    account = picker_account(bob)
    client = APIClient()
    client.force_login(bob)
    response = client.post(f"/api/v1/accounts/{account.pk}/access/", body, format="json")

    assert response.status_code == 400
    assert list(response.json()) == [field]
    assert words in response.json()[field][0]
    assert not ConsoleSession.objects.exists()
    assert federation.calls == []


def test_the_account_api_shows_and_checks_the_console_fields(aws, alice):
    account = AccountFactory()
    api = APIClient()
    api.force_login(alice)
    url = f"/api/v1/accounts/{account.pk}/"
    response = api.patch(
        url,
        {"allowed_regions": ["eu-west-1", "eu-north-1"], "default_region": "eu-north-1"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["default_region"], body["allowed_regions"]) == (
        "eu-north-1",
        ["eu-west-1", "eu-north-1"],
    )
    assert (body["default_service"], body["allowed_services"]) == ("", [])
    assert aws.assume_role_calls() == []  # where the console opens is no AWS question

    response = api.patch(url, {"default_region": "us-east-1"}, format="json")
    assert response.status_code == 400
    assert "must be one of the allowed regions" in response.json()["default_region"][0]
    response = api.patch(url, {"allowed_services": ["ec2", "telnet"]}, format="json")
    assert response.status_code == 400
    assert list(response.json()) == ["allowed_services"]


def test_the_admin_form_shows_the_console_fields_with_help(client, alice):
    account = AccountFactory()
    client.force_login(alice)
    page = client.get(reverse("admin:accounts_pamaccount_change", args=[account.pk]))
    text = page.content.decode()
    assert "Console: where Access lands" in text
    for name in ("default_region", "allowed_regions", "default_service", "allowed_services"):
        assert f'name="{name}"' in text
    assert "Regions the Access button offers in a picker" in text
    assert '<optgroup label="aws-cn">' in text
