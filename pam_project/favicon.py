"""/favicon.ico, which browsers ask for on every page without a <link rel="icon"> (the
admin's, Redoc's): a redirect to the static icon, so it is not a 404 in every log."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponsePermanentRedirect
from django.templatetags.static import static
from django.views.decorators.http import require_GET

ICON = "pam/favicon.svg"


@require_GET
def favicon(request: HttpRequest) -> HttpResponsePermanentRedirect:
    # Resolved per request, not at import: the static storage may rename files.
    return HttpResponsePermanentRedirect(static(ICON))
