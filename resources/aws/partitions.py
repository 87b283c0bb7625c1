"""Per-partition hosts for the federation endpoint and the console.

Source: IAM User Guide, "Enable custom identity broker access to the AWS console"; the
sign-in and console hosts differ per partition and a token from one partition is useless
in another.
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


PARTITIONS: dict[str, Partition] = {
    "aws": Partition(
        name="aws",
        signin_host="signin.aws.amazon.com",
        console_url="https://console.aws.amazon.com/",
        default_region="us-east-1",
        regional_signin=True,
    ),
    "aws-us-gov": Partition(
        name="aws-us-gov",
        signin_host="signin.amazonaws-us-gov.com",
        console_url="https://console.amazonaws-us-gov.com/",
        default_region="us-gov-west-1",
    ),
    "aws-cn": Partition(
        name="aws-cn",
        signin_host="signin.amazonaws.cn",
        console_url="https://console.amazonaws.cn/",
        default_region="cn-north-1",
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
