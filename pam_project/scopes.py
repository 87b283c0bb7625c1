"""What an API token may do (SPEC "Identity"); each scope includes the ones before it.

`read`: history and configuration reads; `access`: also Access (and, later, requests and
revoking one's own sessions); `admin`: also configuration writes, within the user's own
permissions. A signed-in browser session is not limited by a scope.
"""

from typing import Any

from rest_framework import permissions
from rest_framework.request import Request

SCOPES = ("read", "access", "admin")


def scope_allows(scope: str, needed: str) -> bool:
    return SCOPES.index(scope) >= SCOPES.index(needed)


class TokenScope(permissions.BasePermission):
    """Refuses a token whose scope is below what the view needs for the request: a view's
    `required_scope(request)` if it has one, else `read` for reads and `admin` for writes."""

    message = "This token's scope does not allow it."

    def has_permission(self, request: Request, view: Any) -> bool:
        scope = getattr(request.auth, "scope", None)
        if scope is None:  # a browser session, or nobody (authentication answers that)
            return True
        if hasattr(view, "required_scope"):
            needed = view.required_scope(request)
        else:
            needed = "read" if request.method in permissions.SAFE_METHODS else "admin"
        if scope_allows(scope, needed):
            return True
        self.message = f'This token\'s scope is "{scope}"; this needs scope "{needed}".'
        return False
