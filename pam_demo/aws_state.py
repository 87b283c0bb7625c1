"""The demo's AWS stand-in keeps its IAM roles across restarts, in one JSON file.

moto holds everything in memory: without this, every `./dev run --demo` started with an
empty AWS, and a role someone created by hand (an `aws iam create-role` against the
stand-in) was gone at the next start. What is kept, per account: roles (path, trust
policy, description, maximum session duration, inline policies, attached policies) and
customer-managed policies (their default version). Not kept: STS sessions (their
credentials would outlive nothing: a console session of a previous run is over), IAM
users, groups, access keys, tags, and anything of other services.

Saved after each IAM write the stand-in answers with success (the gate calls `save`),
and on a clean stop; restored before the stand-in serves (`restore`). Tests and the load
stack pass no file: their AWS starts empty, as before.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any

VERSION = 1
_lock = threading.Lock()


def _backends() -> list[tuple[str, str, Any]]:
    from moto.iam.models import iam_backends

    return [
        (account, partition, iam_backends[account][partition])
        for account in list(iam_backends.keys())
        for partition in list(iam_backends[account].keys())
    ]


def _text(document: Any) -> str:
    return document if isinstance(document, str) else json.dumps(document)


def snapshot() -> dict[str, Any]:
    """The roles and customer-managed policies moto holds now."""
    accounts: dict[str, Any] = {}
    for account, partition, backend in _backends():
        policies = [
            {
                "name": policy.name,
                "path": policy.path,
                "description": policy.description,
                "document": _text(next(v.document for v in policy.versions if v.is_default)),
            }
            for policy in backend.managed_policies.values()
            if f":{account}:policy/" in policy.arn  # customer-managed: AWS's load by themselves
        ]
        roles = [
            {
                "name": role.name,
                "path": role.path,
                "trust": _text(role.assume_role_policy_document),
                "description": role.description or "",
                "max_session_duration": role.max_session_duration,
                "inline": {name: _text(doc) for name, doc in role.policies.items()},
                "attached": sorted(role.managed_policies),
            }
            for role in backend.roles.values()
        ]
        if roles or policies:
            accounts.setdefault(account, {})[partition] = {"roles": roles, "policies": policies}
    return {"version": VERSION, "accounts": accounts}


def save(path: Path) -> None:
    """Write the snapshot atomically, owner-only (0600): a half-written file would lose
    every role at the next start."""
    with _lock:
        data = json.dumps(snapshot(), indent=1, sort_keys=True)
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=".demo-aws-")
        try:
            with os.fdopen(handle, "w") as out:
                out.write(data)
            os.chmod(temporary, 0o600)
            os.replace(temporary, path)
        except BaseException:
            Path(temporary).unlink(missing_ok=True)
            raise


def restore(path: Path) -> int:
    """Recreate what `path` holds in moto (before it serves); returns the roles restored.
    A missing file is an empty AWS; an unreadable one is reported, never half-applied."""
    if not path.exists():
        return 0
    data = json.loads(path.read_text())
    if data.get("version") != VERSION:
        raise ValueError(f"{path}: not a demo AWS state file this version can read")
    from moto.iam.models import iam_backends

    restored = 0
    for account, partitions in data["accounts"].items():
        for partition, state in partitions.items():
            backend = iam_backends[account][partition]
            for policy in state["policies"]:
                backend.create_policy(
                    description=policy["description"],
                    path=policy["path"],
                    policy_document=policy["document"],
                    policy_name=policy["name"],
                    tags=[],
                )
            for role in state["roles"]:
                backend.create_role(
                    role_name=role["name"],
                    assume_role_policy_document=role["trust"],
                    path=role["path"],
                    permissions_boundary=None,
                    description=role["description"],
                    tags=[],
                    max_session_duration=role["max_session_duration"],
                )
                for name, document in role["inline"].items():
                    backend.put_role_policy(role["name"], name, document)
                for arn in role["attached"]:
                    backend.attach_role_policy(arn, role["name"])
                restored += 1
    return restored


def changes_iam(action: str) -> bool:
    """Whether a successful call of `action` (a Query API action name) may change what
    snapshot() holds: anything but reads and STS's own calls."""
    reads = ("Get", "List", "Simulate", "Generate", "Decode", "Assume")
    return bool(action) and not action.startswith(reads)
