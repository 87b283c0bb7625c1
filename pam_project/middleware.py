"""Request-level behaviour: a 503 for database outages, and the CSP with its per-request part."""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from csp.middleware import CSPMiddleware as BaseCSPMiddleware
from csp.middleware import PolicyParts
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.template.loader import render_to_string

log = logging.getLogger(__name__)
RETRY_AFTER = "30"
MESSAGE = "The database is unavailable, so nothing was done. Try again in a minute."


class DatabaseUnavailableMiddleware:
    """When the database cannot be reached, no Access runs: the grant check and the
    pending Console Session both need it, and both come before any AWS call."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not isinstance(exception, OperationalError | InterfaceError):
            return None
        log.error(
            "Database unavailable during %s %s: %s",
            request.method,
            request.path,
            type(exception).__name__,
        )
        if request.path.startswith("/api/"):
            response: HttpResponse = JsonResponse({"detail": MESSAGE}, status=503)
        else:
            # A page that needs nothing from the database (not even request.user).
            response = HttpResponse(render_to_string("503.html", {"message": MESSAGE}), status=503)
        response["Retry-After"] = RETRY_AFTER
        response["Cache-Control"] = "no-store"
        return response


class CSPMiddleware(BaseCSPMiddleware):
    """django-csp, plus the configured federation endpoint in form-action, read per
    response: browsers apply form-action to the redirect after the Access POST."""

    def get_policy_parts(
        self, request: HttpRequest, response: HttpResponse, report_only: bool = False
    ) -> PolicyParts:
        override = settings.PAM_SIGNIN_URL
        if override and not report_only:
            parts = urlsplit(override)
            update = dict(getattr(response, "_csp_update", None) or {})
            update["form-action"] = [
                *update.get("form-action", []),
                f"{parts.scheme}://{parts.netloc}",
            ]
            response._csp_update = update
        return super().get_policy_parts(request, response, report_only)
