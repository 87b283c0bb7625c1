"""The pages of Access: the user's accounts, one account with its Access button and
recent sessions, the Access POST itself, and the user's own session history."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from itertools import groupby

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from access_requests.presenters import attach_window_states
from accounts.models import PamAccount
from accounts.selectors import accounts_for_user, granted_account
from mfa import stepup
from mfa.views import step_up_redirect
from resources.aws import ConsoleChoiceError

from .access import AccessFailed, StepUpRequired, access_from_request
from .failures import AWS_STEPS, failure_guidance, failure_status, retry_when, shows_setup
from .models import FailureStep
from .presenters import session_rows
from .selectors import sessions_for_user

PAGE_SIZE = 50


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's accounts, by project and resource, each with its Access button (or,
    for an eligible grant outside a window, Request access)."""
    accounts = list(
        accounts_for_user(request.user).order_by(
            "resource__project__name", "resource__name", "name"
        )
    )
    # Eligible grants: Request access, the pending ask, or the open window's end, from
    # one read of the user's open requests for the whole page.
    attach_window_states(request.user, accounts)
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
        {
            "projects": projects,
            "any_eligible": any(a.window_state for a in accounts),
            "admin_contact": settings.PAM_ADMIN_CONTACT,
            # The empty page's pointer to the admin, only for who may add a grant there
            # (the accounts admin's own rule: changing some account, as a project admin or
            # a superuser); other staff would meet a 403 behind the link.
            "grants_in_admin": not accounts
            and request.user.is_staff
            and PamAccount.objects.reaches_any(request.user, "change"),
        },
    )


@require_GET
@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(sessions_for_user(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    rows = session_rows(page.object_list, show_account=True)
    return render(request, "sessions_app/list.html", {"page": page, "rows": rows})


@require_GET
@login_required
def account_detail(request: HttpRequest, account_id: int) -> HttpResponse:
    account = get_object_or_404(accounts_for_user(request.user), pk=account_id)
    if account.require_mfa and not stepup.is_fresh(request):
        # The page holds the Access button: pass the second factor first, then come back.
        return step_up_redirect(
            request, request.get_full_path(), f"{account.name} requires MFA (require_mfa)."
        )
    sessions = sessions_for_user(request.user).filter(account=account)[:10]
    rows = session_rows(sessions, show_account=False)
    attach_window_states(request.user, [account])
    return render(
        request,
        "sessions_app/account_detail.html",
        {
            "account": account,
            "rows": rows,
            "step_up_seconds_left": stepup.seconds_left(request) if account.require_mfa else None,
        },
    )


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
    if not request.user.is_authenticated:
        # After signing in, come back to the account page, not to a POST-only URL.
        return redirect_to_login(reverse("account-detail", args=[account_id]))
    account = granted_account(request.user, account_id)
    if account is None:
        raise Http404("No such account.")
    try:
        granted = access_from_request(
            request,
            account,
            region=request.POST.get("region", ""),
            service=request.POST.get("service", ""),
        )
    except ConsoleChoiceError as refused:
        # Checked before anything is written: nothing was attempted, no row records it.
        return render(
            request,
            "sessions_app/access_choice_refused.html",
            {"account": account, "field": refused.field, "message": refused.message},
            status=400,
        )
    except StepUpRequired:
        # Verify, then back to the account page and its Access button (which opens the
        # console in a new tab, as always: nothing is posted on the user's behalf).
        return step_up_redirect(
            request,
            reverse("account-detail", args=[account.pk]),
            f"{account.name} requires MFA (require_mfa).",
        )
    except AccessFailed as failure:
        response = render(
            request,
            "sessions_app/access_failed.html",
            {
                "account": account,
                "failure": failure,
                "step_label": FailureStep(failure.step).label,
                "guidance": failure_guidance(account, failure, request.user),
                "shows_setup": shows_setup(request.user, account, failure.step),
                # Only the chain's steps quote AWS; the rate limit and windows are ours.
                "from_aws": failure.step in AWS_STEPS,
                "retry_when": retry_when(failure.retry_after) if failure.retry_after else "",
            },
            status=failure_status(failure.step),
        )
        if failure.retry_after:
            response["Retry-After"] = str(failure.retry_after)
        return response
    # The sign-in URL goes to the browser in Location and nowhere else; never_cache and
    # no_referrer keep it out of caches and Referer headers.
    return HttpResponseRedirect(granted.signin_url)
