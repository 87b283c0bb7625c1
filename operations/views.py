"""GET /metrics: Prometheus' text format, for a scraper that proves who it is.

Allowed with `Authorization: Bearer <PAM_METRICS_TOKEN>` (compared in constant time) or
from an address in PAM_METRICS_ALLOWED_IPS (the client address as pam_project.http
reads it, trusting PAM_TRUSTED_PROXIES hops). Anything else, and everything when neither
is set, gets the site's 404: the endpoint does not confirm that it exists.
"""

from __future__ import annotations

import hmac
import ipaddress

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_safe
from prometheus_client import CONTENT_TYPE_LATEST

from pam_project.http import client_ip

from .metrics import exposition


def _bearer(request: HttpRequest) -> str:
    scheme, _, value = request.META.get("HTTP_AUTHORIZATION", "").partition(" ")
    return value.strip() if scheme.lower() == "bearer" else ""


def scraper_allowed(request: HttpRequest) -> bool:
    token = settings.PAM_METRICS_TOKEN
    if token and hmac.compare_digest(_bearer(request).encode(), token.encode()):
        return True
    networks = settings.PAM_METRICS_ALLOWED_NETWORKS
    if networks:
        address = client_ip(request)
        if address is not None:
            ip = ipaddress.ip_address(address)
            return any(ip in network for network in networks)
    return False


@never_cache
@require_safe
def metrics(request: HttpRequest) -> HttpResponse:
    if not scraper_allowed(request):
        raise Http404
    return HttpResponse(exposition(), content_type=CONTENT_TYPE_LATEST)
