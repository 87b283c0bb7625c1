"""Which entry point a change came through (admin, api, ...), for the audit log."""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar

from django.http import HttpRequest, HttpResponse

current_via: ContextVar[str] = ContextVar("audit_via", default="")


class AuditViaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        path = request.path_info
        via = (
            "admin" if path.startswith("/admin/") else "api" if path.startswith("/api/") else "web"
        )
        token = current_via.set(via)
        try:
            return self.get_response(request)
        finally:
            current_via.reset(token)
