"""RoleSessionName / SourceIdentity from a user's email.

AWS allows 2..64 characters of [A-Za-z0-9_+=,.@-] for both (STS API reference,
AssumeRole). CloudTrail then shows `assumed-role/<target role>/<session name>`, which is
how an auditor reads who acted, so the name stays as close to the email as AWS allows and
two different emails never map to the same name.
"""

from __future__ import annotations

import hashlib
import re

MIN_LENGTH = 2
MAX_LENGTH = 64
_HASH_LENGTH = 10
_DISALLOWED = re.compile(r"[^A-Za-z0-9_+=,.@-]")


def session_name_for(email: str) -> str:
    """Sanitize `email` into a valid, collision-resistant RoleSessionName."""
    name = _DISALLOWED.sub("-", email)
    if name != email or not MIN_LENGTH <= len(name) <= MAX_LENGTH:
        # Two long emails may share their first 64 characters, and sanitizing is lossy
        # ("ä@x.com" and "ö@x.com" both become "-@x.com"): a short hash of the original
        # email keeps such users apart in CloudTrail. Plain ASCII emails of 2 to 64
        # characters pass through unchanged.
        digest = hashlib.sha256(email.encode("utf-8")).hexdigest()[:_HASH_LENGTH]
        name = f"{name[: MAX_LENGTH - _HASH_LENGTH - 1]}-{digest}"
    return name
