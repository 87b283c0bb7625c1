"""The pages of Access: the user's accounts, one account with its Access button and
recent sessions, the Access POST itself, favourites, and the user's own session history."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.contrib.auth.views import redirect_to_login
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_POST

from access_requests.presenters import attach_window_states
from accounts.favourites import favourite_set
from accounts.models import PamAccount
from accounts.selectors import accounts_for_user, granted_account
from mfa import stepup
from mfa.views import step_up_redirect
from resources.aws import ConsoleChoiceError, logout_url

from .access import AccessFailed, StepUpRequired, access_from_request
from .failures import AWS_STEPS, failure_guidance, failure_status, retry_when, shows_setup
from .home import home_page
from .models import FailureStep
from .presenters import granted_for_renew, session_rows
from .selectors import sessions_for_user

PAGE_SIZE = 50


@require_GET
@login_required
def home(request: HttpRequest) -> HttpResponse:
    """The user's accounts: favourites, then recently used, then the rest by project and
    resource, each with its Access button (or, for an eligible grant outside a window,
    Request access) and its live session. `?q=` filters (as the page's script does as
    one types, so the filter also works without it)."""
    page = home_page(request.user, request.GET.get("q", "")[:200])
    return render(
        request,
        "accounts/home.html",
        {
            "page": page,
            "admin_contact": settings.PAM_ADMIN_CONTACT,
            # The empty page's pointer to the admin, only for who may add a grant there
            # (the accounts admin's own rule: changing some account, as a project admin or
            # a superuser); other staff would meet a 403 behind the link.
            "grants_in_admin": not page.total
            and request.user.is_staff
            and PamAccount.objects.reaches_any(request.user, "change"),
        },
    )


@require_GET
@login_required
def session_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(sessions_for_user(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    sessions = list(page.object_list)
    rows = session_rows(
        sessions, show_account=True, granted=granted_for_renew(request.user, sessions)
    )
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
    attach_window_states(request.user, [account])
    sessions = sessions_for_user(request.user).filter(account=account)[:10]
    rows = session_rows(sessions, show_account=False, granted={account.pk: account})
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
    if account.logout_first:  # the person's preference, read with the grant
        return signing_out_first(request, account, granted.signin_url)
    # The sign-in URL goes to the browser in Location and nowhere else; never_cache and
    # no_referrer keep it out of caches and Referer headers.
    return HttpResponseRedirect(granted.signin_url)


def signing_out_first(request: HttpRequest, account: PamAccount, signin_url: str) -> HttpResponse:
    """The person's "sign out of the previous console first": a page of ours, the
    answer to their Access POST, that goes on at once (a meta refresh: no script needed,
    none inline) to AWS's console sign-out, which sends the browser on to the sign-in
    URL (resources.aws.logout_url). A navigation rather than a request from this page
    (an image, a frame): the sign-out must reach AWS with AWS's own cookies, which a
    browser withholds from a third-party request, and AWS's pages refuse to be framed.

    The sign-in URL is in this answer only: never_cache and no_referrer (on
    account_access) keep it out of caches and of the Referer AWS receives, and it goes
    nowhere but to AWS's sign-in service, which issued it."""
    return render(
        request,
        "sessions_app/signing_out_first.html",
        {"account": account, "next_url": logout_url(signin_url)},
    )


def _back_to(request: HttpRequest, fallback: str) -> str:
    """The page a form came from (`next`), if it is one of ours; else `fallback`."""
    target = request.POST.get("next", "")
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return fallback


@require_POST
def account_favourite(request: HttpRequest, account_id: int) -> HttpResponse:
    """The star on an account: pins it to the top of the accounts page, or unpins it
    (`state` "on" or "off"; absent, it toggles). Only on an account granted to the
    person, else 404, as for every other URL of an account."""
    if not request.user.is_authenticated:
        return redirect_to_login(reverse("home"))
    account = get_object_or_404(accounts_for_user(request.user), pk=account_id)
    state = request.POST.get("state", "")
    if state not in ("", "on", "off"):
        return render(
            request,
            "accounts/favourite_refused.html",
            {"account": account, "state": state[:20]},
            status=400,
        )
    now = favourite_set(user=request.user, account=account, on=None if not state else state == "on")
    if request.headers.get("Accept") == "application/json":  # static/pam/accounts.js
        return JsonResponse({"favourite": now})
    return HttpResponseRedirect(_back_to(request, reverse("home")))
