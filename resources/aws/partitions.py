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


PARTITIONS: dict[str, Partition] = {
    "aws": Partition(
        name="aws",
        signin_host="signin.aws.amazon.com",
        console_url="https://console.aws.amazon.com/",
        default_region="us-east-1",
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
