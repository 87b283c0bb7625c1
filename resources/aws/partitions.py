"""Per-partition hosts for the federation endpoint and the console, and the regions.

Source: IAM User Guide, "Enable custom identity broker access to the AWS console"; the
sign-in and console hosts differ per partition and a token from one partition is useless
in another. Regions: AWS General Reference, "AWS service endpoints"
(https://docs.aws.amazon.com/general/latest/gr/rande.html) and "AWS Sign-In endpoints"
(https://docs.aws.amazon.com/general/latest/gr/signin-service.html). The lists are static
on purpose: a region an account may open the console in is validated against them, so
no text a person typed ever reaches a URL. A region AWS adds later is one line here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Partition:
    name: str
    signin_host: str
    console_url: str
    default_region: str
    # Whether AWS also serves `<region>.<signin_host>` (only the commercial partition).
    regional_signin: bool = False
    # Every region of the partition (console region pickers, default regions).
    regions: tuple[str, ...] = ()
    # The console's regional hosts, `https://<region>.<console host>/` (only `aws`);
    # elsewhere the console host is one and the region goes in `?region=`.
    regional_console: bool = False

    @property
    def console_host(self) -> str:
        return self.console_url.removeprefix("https://").rstrip("/")


# The commercial partition's regions, opt-in ones included (General Reference, rande.html).
_AWS_REGIONS = (
    "us-east-1",
    "us-east-2",
    "us-west-1",
    "us-west-2",
    "af-south-1",
    "ap-east-1",
    "ap-south-1",
    "ap-south-2",
    "ap-southeast-1",
    "ap-southeast-2",
    "ap-southeast-3",
    "ap-southeast-4",
    "ap-southeast-5",
    "ap-southeast-7",
    "ap-northeast-1",
    "ap-northeast-2",
    "ap-northeast-3",
    "ca-central-1",
    "ca-west-1",
    "eu-central-1",
    "eu-central-2",
    "eu-west-1",
    "eu-west-2",
    "eu-west-3",
    "eu-south-1",
    "eu-south-2",
    "eu-north-1",
    "il-central-1",
    "me-central-1",
    "me-south-1",
    "mx-central-1",
    "sa-east-1",
)


PARTITIONS: dict[str, Partition] = {
    "aws": Partition(
        name="aws",
        signin_host="signin.aws.amazon.com",
        console_url="https://console.aws.amazon.com/",
        default_region="us-east-1",
        regional_signin=True,
        regions=_AWS_REGIONS,
        regional_console=True,
    ),
    "aws-us-gov": Partition(
        name="aws-us-gov",
        signin_host="signin.amazonaws-us-gov.com",
        console_url="https://console.amazonaws-us-gov.com/",
        default_region="us-gov-west-1",
        regions=("us-gov-west-1", "us-gov-east-1"),
    ),
    "aws-cn": Partition(
        name="aws-cn",
        signin_host="signin.amazonaws.cn",
        console_url="https://console.amazonaws.cn/",
        default_region="cn-north-1",
        regions=("cn-north-1", "cn-northwest-1"),
    ),
}


def partition_of_region(region: str) -> str:
    """The partition a region belongs to (the STS endpoint of a region only serves it)."""
    if region.startswith("cn-"):
        return "aws-cn"
    if region.startswith("us-gov-"):
        return "aws-us-gov"
    return "aws"


def is_signin_host(host: str) -> bool:
    """Whether `host` is one of AWS's sign-in services (or a regional one of them)."""
    return any(
        host == p.signin_host or (p.regional_signin and host.endswith("." + p.signin_host))
        for p in PARTITIONS.values()
    )


def signin_origins() -> list[str]:
    """Every origin the federation endpoint can be on, as CSP sources."""
    origins = []
    for p in PARTITIONS.values():
        origins.append(f"https://{p.signin_host}")
        if p.regional_signin:
            origins.append(f"https://*.{p.signin_host}")
    return origins
