"""Request helpers shared by views and the API."""

from __future__ import annotations

import ipaddress

from django.conf import settings
from django.http import HttpRequest


def client_ip(request: HttpRequest) -> str | None:
    """The client's address, trusting exactly PAM_TRUSTED_PROXIES hops of X-Forwarded-For.

    With no proxy configured the header is ignored: anyone can send it, and history must
    not record an address the client chose.
    """
    candidate = request.META.get("REMOTE_ADDR", "")
    hops = settings.PAM_TRUSTED_PROXIES
    if hops:
        forwarded = [p.strip() for p in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",")]
        forwarded = [p for p in forwarded if p]
        if len(forwarded) >= hops:
            candidate = forwarded[-hops]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return None


def public_url(request: HttpRequest, path: str) -> str:
    """Absolute URL of `path` on this app: PAM_PUBLIC_URL if set, else from the request."""
    if settings.PAM_PUBLIC_URL:
        return settings.PAM_PUBLIC_URL + path
    return request.build_absolute_uri(path)
