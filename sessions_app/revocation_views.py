"""The Revoke button on a person's own sessions (the history table)."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from . import revocation
from .selectors import sessions_for_user


@require_POST
@login_required
def session_revoke(request: HttpRequest, session_id: int) -> HttpResponse:
    """Revoke one of your own live sessions; back to the page you were on."""
    session = get_object_or_404(sessions_for_user(request.user), pk=session_id)
    try:
        revocation.session_revoke(
            session=session, actor=request.user, reason=request.POST.get("reason", "")
        )
    except revocation.RevocationRefused as refused:
        messages.error(request, f"Session {session.pk} was not revoked. {refused.message}")
    except revocation.RevocationFailed as failed:
        messages.error(
            request,
            f"Session {session.pk} is not revoked yet: AWS IAM refused the write "
            f"({failed.error.code}). It is retried every minute; this page shows when it is.",
        )
    else:
        messages.success(
            request,
            f"Session {session.pk} revoked: its console stops working within minutes, as IAM "
            "propagates the change.",
        )
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(target, allowed_hosts={request.get_host()}):
        target = reverse("session-list")
    return HttpResponseRedirect(target)
