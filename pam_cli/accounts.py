"""PAM accounts as the person sees them, and ACCOUNT on the command line: an id, or a
name (`account`, `resource/account` or `project/resource/account`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from .client import Api
from .errors import UsageError

# How many candidates an error lists before "and N more".
SHOWN_CANDIDATES = 15


@dataclass(frozen=True)
class Account:
    id: int
    name: str
    resource: str
    project: str
    granted: bool
    grant_kind: str | None
    duration: str
    require_mfa: bool
    allow_cli_credentials: bool
    description: str

    @property
    def path(self) -> str:
        return f"{self.project}/{self.resource}/{self.name}"

    @classmethod
    def from_api(
        cls, row: dict[str, Any], resources: dict[int, dict], projects: dict[int, dict]
    ) -> Account:
        resource = resources.get(row["resource"], {})
        project = projects.get(resource.get("project"), {})
        return cls(
            id=int(row["id"]),
            name=str(row["name"]),
            resource=str(resource.get("name", f"resource-{row['resource']}")),
            project=str(project.get("name", f"project-{resource.get('project', '?')}")),
            granted=bool(row.get("granted")),
            grant_kind=row.get("grant_kind"),
            duration=str(row.get("session_duration", "")),
            require_mfa=bool(row.get("require_mfa")),
            allow_cli_credentials=bool(row.get("allow_cli_credentials")),
            description=str(row.get("description") or ""),
        )


def list_accounts(api: Api) -> list[Account]:
    """Every account the person sees (granted, or visible through a project role), by
    project, resource and name."""
    resources = {r["id"]: r for r in api.pages("resources/")}
    projects = {p["id"]: p for p in api.pages("projects/")}
    accounts = [Account.from_api(row, resources, projects) for row in api.pages("accounts/")]
    return sorted(accounts, key=lambda a: (a.project, a.resource, a.name, a.id))


def _candidates(accounts: list[Account]) -> str:
    shown = [f"{a.path} (id {a.id})" for a in accounts[:SHOWN_CANDIDATES]]
    more = len(accounts) - len(shown)
    return ", ".join(shown) + (f" and {more} more" if more > 0 else "")


def matches(accounts: list[Account], text: str) -> list[Account]:
    parts = text.split("/")
    if len(parts) > 3 or not all(parts):
        raise UsageError(
            f"ACCOUNT {text!r}: give an id, or account, resource/account or "
            "project/resource/account"
        )
    fields = ("project", "resource", "name")[-len(parts) :]
    return [
        a for a in accounts if all(getattr(a, f) == p for f, p in zip(fields, parts, strict=True))
    ]


def resolve(api: Api, text: str) -> int:
    """The id ACCOUNT names. A number is an id as it is (no lookup: the server says 404
    if it is not one you see); a name must match exactly one account you see, else a
    UsageError listing the candidates."""
    text = text.strip()
    # ASCII digits only: str.isdigit() also takes "²", which int() refuses.
    if text.isascii() and text.isdigit():
        return int(text)
    accounts = list_accounts(api)
    found = matches(accounts, text)
    if len(found) == 1:
        return found[0].id
    if found:
        raise UsageError(
            f"ACCOUNT {text!r} is ambiguous: it names {_candidates(found)}; give the "
            "project/resource/account or the id"
        )
    yours = [a for a in accounts if a.granted]
    listed = f"yours: {_candidates(yours)}" if yours else "you are granted none"
    raise UsageError(f"no account {text!r} that you can see; {listed}")
