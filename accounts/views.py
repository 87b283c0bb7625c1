from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from itertools import groupby

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from pam_project.http import client_ip, public_url
from sessions_app.models import FailureStep
from sessions_app.presenters import session_rows
from sessions_app.selectors import sessions_for_user

from . import services
from .failures import failure_guidance, failure_status
from .selectors import accounts_for_user


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
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


@require_GET
@login_required
def account_detail(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(accounts_for_user(request.user), pk=account_id)
    sessions = sessions_for_user(request.user).filter(account=account)[:10]
    rows = session_rows(sessions, show_account=False)
    return render(request, "accounts/detail.html", {"account": account, "rows": rows})


def no_referrer(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """The strictest Referrer-Policy on responses that lead to the sign-in URL."""

    @wraps(view)
    def wrapped(request: HttpRequest, *args: object, **kwargs: object) -> HttpResponse:
        response = view(request, *args, **kwargs)
        response["Referrer-Policy"] = "no-referrer"
        return response

    return wrapped


@no_referrer
@never_cache
@require_POST
def account_access(request: HttpRequest, account_id: int) -> HttpResponse:
    """The Access button. POST only (CSRF-protected), answers 302 to the console."""
    detail_path = reverse("account-detail", args=[account_id])
    if not request.user.is_authenticated:
        # After signing in, come back to the account page, not to a POST-only URL.
        return redirect_to_login(detail_path)
    account = get_object_or_404(accounts_for_user(request.user), pk=account_id)
    try:
        granted = services.account_access(
            account=account,
            user=request.user,
            client_ip=client_ip(request),
            user_agent=request.META.get("HTTP_USER_AGENT", ""),
            issuer=public_url(request, detail_path),
            signin_url_override=settings.PAM_SIGNIN_URL,
        )
    except services.AccessFailed as failure:
        response = render(
            request,
            "accounts/access_failed.html",
            {
                "account": account,
                "failure": failure,
                "step_label": FailureStep(failure.step).label,
                "guidance": failure_guidance(account, failure),
            },
            status=failure_status(failure.step),
        )
        if failure.retry_after:
            response["Retry-After"] = str(failure.retry_after)
        return response
    # The login URL goes to the browser in Location and nowhere else; never_cache and
    # no_referrer keep it out of caches and Referer headers.
    return HttpResponseRedirect(granted.login_url)
