"""The header's Approvals link, on every page (a context processor: settings TEMPLATES)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.http import HttpRequest

from accounts.models import PamAccount
from pam_project.querysets import may

from .models import AccessRequest, approver_q


def approves_something(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Named approver of some account (directly or through a group), or holder of the
    global decide permission: one EXISTS query at most, no selector's full read."""
    if not user.is_authenticated or not user.is_active:
        return False
    if may(user, "decide", AccessRequest):
        return True
    return PamAccount.objects.filter(approver_q(user)).exists()


def nav(request: HttpRequest) -> dict[str, Any]:
    """Template context for the header's Approvals link (the context processor
    `access_requests.context_processors.nav`). Lazy: the query runs only when base.html reads it."""
    return {"show_approvals_nav": lambda: approves_something(request.user)}
