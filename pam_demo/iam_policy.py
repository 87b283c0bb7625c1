"""Identity-policy evaluation for the demo's AWS stand-in, as IAM does it for one request.

moto stores a role's inline and attached policies but enforces none of them. The gate in
aws_standin.py asks `evaluate()` whether the policies of the calling role allow an action
on a resource: an explicit Deny wins, else any Allow, else the implicit deny.

What IAM does and this follows (IAM User Guide):
- Action / NotAction: `*` and `?` wildcards, case-insensitive
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_action.html).
- Resource / NotResource: `*` and `?` within an ARN segment, case-sensitive; a `*` that
  ends a segment may run across the colons after it
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_resource.html).
- Condition: every operator and every key must hold (AND), any value of a key (OR). A key
  missing from the request fails a positive operator and passes a negated one; `...IfExists`
  passes when the key is missing; `Null` tests presence
  (https://docs.aws.amazon.com/IAM/latest/UserGuide/reference_policies_elements_condition_operators.html).
What it does not model (the demo's policies need none of it): policy variables, set
operators (ForAnyValue:/ForAllValues:), numeric, date, IP and binary operators, permission
boundaries, session policies and SCPs. A condition it cannot evaluate fails closed: it
grants nothing in an Allow, and applies in a Deny.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import unquote

ALLOW, DENY, IMPLICIT_DENY = "allow", "explicit_deny", "implicit_deny"


@dataclass(frozen=True)
class Decision:
    outcome: str  # ALLOW, DENY or IMPLICIT_DENY
    policy: str = ""  # the policy whose statement decided (Deny or Allow)

    @property
    def allowed(self) -> bool:
        return self.outcome == ALLOW


def as_list(value: Any) -> list[Any]:
    if value is None:
        return []
    return value if isinstance(value, list) else [value]


def load_document(document: str | Mapping[str, Any]) -> dict[str, Any]:
    """A policy document as IAM returns it: a dict, JSON text, or URL-encoded JSON."""
    if isinstance(document, Mapping):
        return dict(document)
    try:
        return json.loads(document)
    except ValueError:
        return json.loads(unquote(document))


@lru_cache(maxsize=512)
def _glob(pattern: str, ignore_case: bool) -> re.Pattern[str]:
    regex = "".join(
        ".*" if char == "*" else "." if char == "?" else re.escape(char) for char in pattern
    )
    return re.compile(f"^{regex}$", (re.IGNORECASE if ignore_case else 0) | re.DOTALL)


@lru_cache(maxsize=512)
def _arn_pattern(pattern: str) -> re.Pattern[str]:
    if pattern == "*":
        return re.compile(r"^.*$", re.DOTALL)
    parts = []
    for index, char in enumerate(pattern):
        if char == "*":
            # Within its segment, unless it ends one: then it may span the colons after it.
            ends_segment = index + 1 == len(pattern) or pattern[index + 1] == ":"
            parts.append(".*" if ends_segment else "[^:]*")
        elif char == "?":
            parts.append("[^:]")
        else:
            parts.append(re.escape(char))
    return re.compile("^" + "".join(parts) + "$", re.DOTALL)


def action_matches(pattern: str, action: str) -> bool:
    return bool(_glob(pattern, True).match(action))


def arn_matches(pattern: str, arn: str) -> bool:
    return bool(_arn_pattern(pattern).match(arn))


def _string_like(pattern: str, value: str) -> bool:
    return bool(_glob(pattern, False).match(value))


_POSITIVE = {
    "StringEquals": lambda expected, actual: actual == expected,
    "StringEqualsIgnoreCase": lambda expected, actual: actual.lower() == expected.lower(),
    "StringLike": _string_like,
    "ArnEquals": lambda expected, actual: arn_matches(expected, actual),
    "ArnLike": lambda expected, actual: arn_matches(expected, actual),
    "Bool": lambda expected, actual: actual.lower() == str(expected).lower(),
}
_NEGATED = {
    "StringNotEquals": "StringEquals",
    "StringNotEqualsIgnoreCase": "StringEqualsIgnoreCase",
    "StringNotLike": "StringLike",
    "ArnNotEquals": "ArnEquals",
    "ArnNotLike": "ArnLike",
}


class Unsupported(Exception):
    """A condition this evaluator does not model."""


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    values = [str(v) for v in as_list(expected)]
    actual = _context_value(context, key)
    if operator == "Null":
        # "true": the key must be absent; "false": present.
        return all((actual is None) == (value.lower() == "true") for value in values)
    if_exists = operator.endswith("IfExists")
    base = operator.removesuffix("IfExists")
    if ":" in base:
        raise Unsupported(operator)  # ForAnyValue: / ForAllValues:
    if actual is None:
        return if_exists or base in _NEGATED
    if base in _POSITIVE:
        return any(_POSITIVE[base](value, str(actual)) for value in values)
    if base in _NEGATED:
        return not any(_POSITIVE[_NEGATED[base]](value, str(actual)) for value in values)
    raise Unsupported(operator)


def _context_value(context: Mapping[str, Any], key: str) -> Any:
    # Condition keys are case-insensitive (their values are not).
    lowered = key.lower()
    return next((value for name, value in context.items() if name.lower() == lowered), None)


def conditions_hold(condition: Mapping[str, Any], context: Mapping[str, Any]) -> bool:
    return all(
        _condition_holds(operator, key, expected, context)
        for operator, tests in condition.items()
        for key, expected in tests.items()
    )


def _applies(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]
) -> bool:
    """Whether the statement's Action, Resource and Condition cover this request."""
    if "NotAction" in statement:
        if any(action_matches(p, action) for p in as_list(statement["NotAction"])):
            return False
    elif not any(action_matches(p, action) for p in as_list(statement.get("Action"))):
        return False
    if "NotResource" in statement:
        if any(arn_matches(p, resource) for p in as_list(statement["NotResource"])):
            return False
    elif not any(arn_matches(p, resource) for p in as_list(statement.get("Resource"))):
        return False
    try:
        return conditions_hold(statement.get("Condition") or {}, context)
    except Unsupported:
        # Fail closed: an Allow we cannot check grants nothing, a Deny applies.
        return statement.get("Effect") == "Deny"


def evaluate(
    policies: Iterable[tuple[str, str | Mapping[str, Any]]],
    *,
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
) -> Decision:
    """IAM's decision for one request from the identity's (name, document) policies."""
    context = context or {}
    allowed_by = ""
    for name, document in policies:
        for statement in as_list(load_document(document).get("Statement")):
            if not _applies(statement, action, resource, context):
                continue
            if statement.get("Effect") == "Deny":
                return Decision(DENY, name)
            if statement.get("Effect") == "Allow" and not allowed_by:
                allowed_by = name
    return Decision(ALLOW, allowed_by) if allowed_by else Decision(IMPLICIT_DENY)
