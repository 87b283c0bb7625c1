"""The API's documentation pages, Swagger UI and Redoc, made to work under the app's strict
Content-Security-Policy (`script-src 'self'`): no inline script, no foreign origin."""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import extend_schema
from drf_spectacular.views import SpectacularRedocView, SpectacularSwaggerSplitView
from rest_framework.request import Request
from rest_framework.response import Response

# Redoc renders through styled-components, which writes its CSS into <style> elements at
# run time, and runs its search index in a Web Worker it starts from a blob: URL. Neither
# can be served as a file, so this one page (a read-only view of the public schema, with
# no form and no data of the user's) allows inline styles and blob: workers. Scripts stay
# 'self' only, here as everywhere.
REDOC_CSP = {"style-src": ["'unsafe-inline'"], "worker-src": ["blob:"]}


class SwaggerView(SpectacularSwaggerSplitView):
    """Swagger UI with its init script served as a script of its own (`?script`, the same
    URL) rather than inline, and without the inline <style> of drf-spectacular's page."""

    template_name = "api/swagger_ui.html"


class RedocView(SpectacularRedocView):
    """Redoc from the `<redoc spec-url>` element (no inline init script), without the
    Google Fonts links and inline <style> of drf-spectacular's page."""

    template_name = "api/redoc.html"

    @extend_schema(exclude=True)
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        response = super().get(request, *args, **kwargs)
        response._csp_update = REDOC_CSP
        return response
