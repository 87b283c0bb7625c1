"""IAM role ARNs: `arn:<partition>:iam::<12-digit account>:role/<optional path/><name>`.

Parsing is strict and every rejection says which part is wrong, because the message is
shown next to the form field an admin just typed into.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .partitions import PARTITIONS

MAX_ARN_LENGTH = 2048
MAX_ROLE_NAME_LENGTH = 64
MAX_PATH_LENGTH = 512
# ASCII only on purpose: Python's \w also matches non-ASCII letters, which IAM rejects.
_NAME_CHARS = re.compile(r"[A-Za-z0-9_+=,.@-]+")
_ACCOUNT_ID = re.compile(r"[0-9]{12}")


class ArnError(ValueError):
    """An ARN that IAM would not accept; str() is a message for the person who typed it."""


@dataclass(frozen=True)
class RoleArn:
    partition: str
    account_id: str
    path: str  # "/" or "/a/b/"
    name: str

    @property
    def arn(self) -> str:
        return f"arn:{self.partition}:iam::{self.account_id}:role{self.path}{self.name}"

    def __str__(self) -> str:
        return self.arn


def parse_role_arn(value: str) -> RoleArn:
    """Parse an IAM role ARN or raise ArnError naming the part that is wrong."""
    if not isinstance(value, str) or not value:
        raise ArnError("Enter a role ARN, like arn:aws:iam::123456789012:role/my-role.")
    if len(value) > MAX_ARN_LENGTH:
        raise ArnError(f"The ARN is {len(value)} characters long; IAM allows at most 2048.")
    if value != value.strip():
        raise ArnError("The ARN has spaces before or after it.")
    parts = value.split(":", 5)
    if len(parts) != 6:
        raise ArnError(
            "The ARN must have six parts separated by colons: "
            "arn:<partition>:iam::<account id>:role/<name>."
        )
    prefix, partition, service, region, account_id, resource = parts
    if prefix != "arn":
        raise ArnError(f'The ARN must start with "arn:", not "{prefix}:".')
    if partition not in PARTITIONS:
        allowed = ", ".join(PARTITIONS)
        raise ArnError(f'Unknown partition "{partition}": use one of {allowed}.')
    if service != "iam":
        raise ArnError(f'The service part must be "iam", not "{service}".')
    if region:
        raise ArnError(f'IAM ARNs have no region: remove "{region}" (it should be "iam::").')
    if not _ACCOUNT_ID.fullmatch(account_id):
        raise ArnError(f'The account ID must be exactly 12 digits, not "{account_id}".')
    if not resource.startswith("role/"):
        kind = resource.split("/", 1)[0]
        raise ArnError(f'The resource must be a role ("role/<name>"), not "{kind}".')
    path_and_name = resource[len("role") :]  # keeps the leading "/"
    path, _, name = path_and_name.rpartition("/")
    path = path + "/"
    if not name:
        raise ArnError("The role name is missing after the last '/'.")
    if len(name) > MAX_ROLE_NAME_LENGTH:
        raise ArnError(f"The role name is {len(name)} characters long; IAM allows 1 to 64.")
    if not _NAME_CHARS.fullmatch(name):
        raise ArnError(
            f'The role name "{name}" may only contain letters A-Z/a-z, digits and _+=,.@-'
        )
    if len(path) > MAX_PATH_LENGTH:
        raise ArnError(f"The role path is {len(path)} characters long; IAM allows at most 512.")
    for segment in path[1:-1].split("/") if path != "/" else []:
        if not segment:
            raise ArnError('The role path has an empty segment ("//").')
        if not _NAME_CHARS.fullmatch(segment):
            raise ArnError(
                f'The role path segment "{segment}" may only contain letters A-Z/a-z, '
                "digits and _+=,.@-"
            )
    return RoleArn(partition=partition, account_id=account_id, path=path, name=name)
