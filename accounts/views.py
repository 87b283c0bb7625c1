from __future__ import annotations

from itertools import groupby

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from .selectors import accounts_for_user


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's accounts, by project and resource, each with its Access button."""
    accounts = accounts_for_user(request.user).order_by(
        "resource__project__name", "resource__name", "name"
    )
    projects = [
        (
            project,
            [(resource, list(accs)) for resource, accs in groupby(items, lambda a: a.resource)],
        )
        for project, items in groupby(accounts, lambda a: a.resource.project)
    ]
    return render(
        request,
        "accounts/home.html",
        {"projects": projects, "admin_contact": settings.PAM_ADMIN_CONTACT},
    )
