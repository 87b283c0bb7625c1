"""The pages of just-in-time access: my requests, the request form (and break-glass),
one request's page, the approvals to decide, and the POSTs that cancel, approve, deny
and revoke. Every write goes through access_requests.services; a refusal of the rules
(one's own request, not an approver, already decided, expired) is a message on the page
the person came from, never a 500; a request they cannot see is a 404.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from accounts.models import PamAccount
from mfa.views import step_up_redirect
from pam_project.durations import BREAK_GLASS_MAX_SECONDS, format_duration
from pam_project.querysets import may

from . import selectors, services
from .context_processors import approves_something
from .forms import RequestForm, second_factor_fresh
from .models import AccessRequest, RequestStatus, approver_q
from .presenters import clock, decorate

PAGE_SIZE = 50


# --- Pages -----------------------------------------------------------------------------


def _visible(user: AbstractBaseUser) -> Any:
    return (
        AccessRequest.objects.restrict(user)
        .select_related("account__resource__project")
        .prefetch_related("decisions")
    )


@require_GET
@login_required
def my_requests(request: HttpRequest) -> HttpResponse:
    """The person's own requests, newest first, with a Cancel button on the open ones."""
    rows = (
        AccessRequest.objects.filter(requester=request.user)
        .select_related("account__resource__project")
        .prefetch_related("decisions")
    )
    page = Paginator(rows, PAGE_SIZE).get_page(request.GET.get("page"))
    return render(
        request,
        "access_requests/list.html",
        {"page": page, "rows": decorate(page.object_list, timezone.now())},
    )


def _requestable_account(request: HttpRequest) -> PamAccount:
    raw = request.GET.get("account", "")
    if not raw.isdigit():
        raise Http404("No such account.")
    # Only accounts an eligible grant names the person for: anything else (standing,
    # not granted, not even visible) is a 404, never a hint that it exists.
    return get_object_or_404(selectors.requestable_accounts(request.user), pk=int(raw))


@require_http_methods(["GET", "POST"])
@login_required
def new_request(request: HttpRequest) -> HttpResponse:
    """Ask for a window (reason, ticket, duration, start); with `break_glass=1`, where
    the account allows it, open one of at most 1 h at once (a fresh second factor)."""
    account = _requestable_account(request)
    break_glass = request.GET.get("break_glass") == "1"
    if break_glass and not account.break_glass:
        messages.warning(request, f"Break-glass is off for {account.name}: ask for a window.")
        return HttpResponseRedirect(f"{reverse('request-new')}?account={account.pk}")
    fresh = second_factor_fresh(request)
    if (break_glass or account.require_mfa) and not fresh:
        why = (
            f"Break-glass on {account.name} needs a second factor verified in the last 5 minutes."
            if break_glass
            else f"{account.name} requires MFA (require_mfa)."
        )
        return step_up_redirect(request, request.get_full_path(), why)
    maximum = (
        min(account.max_window, BREAK_GLASS_MAX_SECONDS) if break_glass else account.max_window
    )
    form = RequestForm(
        request.POST if request.method == "POST" else None,
        initial={"duration": format_duration(min(3600, maximum))},
    )
    if break_glass:
        del form.fields["starts_at"]  # break-glass opens now
    if request.method == "POST":
        created = form.submit(
            requester=request.user,
            account=account,
            break_glass=break_glass,
            second_factor=fresh,
        )
        if created is not None:
            return _created(request, created, account)
    return render(
        request,
        "access_requests/new.html",
        {
            "account": account,
            "form": form,
            "break_glass": break_glass,
            "maximum_text": format_duration(maximum),
            "tz_name": timezone.get_current_timezone_name(),
            "open_request": selectors.open_request(request.user, account),
        },
    )


def _created(request: HttpRequest, created: AccessRequest, account: PamAccount) -> HttpResponse:
    if created.break_glass:
        messages.warning(
            request,
            f"Break-glass window on {account.name} open until {clock(created.ends_at)} "
            f"({created.duration_text}). Approvers have been told; history flags it.",
        )
        return HttpResponseRedirect(reverse("account-detail", args=[account.pk]))
    messages.success(
        request,
        f"Request #{created.pk} for {account.name} sent to its approvers. Access works once "
        "it is approved; this page shows its state.",
    )
    return HttpResponseRedirect(f"{reverse('request-list')}#request-{created.pk}")


@require_GET
@login_required
def request_detail(request: HttpRequest, request_id: int) -> HttpResponse:
    """One request: for its requester, the approvers of its account, and history readers."""
    access_request = get_object_or_404(_visible(request.user), pk=request_id)
    [row] = decorate([access_request], timezone.now())
    user = request.user
    mine = row.requester_id == user.pk
    decided_by_me = any(d.approver_id == user.pk for d in row.decision_list)
    pending = row.status == RequestStatus.PENDING and row.expires_at > timezone.now()
    return render(
        request,
        "access_requests/detail.html",
        {
            "r": row,
            "mine": mine,
            "can_cancel": mine and row.is_open,
            "can_decide": pending and not decided_by_me and selectors.may_decide(user, row),
            "decided_by_me": decided_by_me,
            "can_revoke": (
                row.status == RequestStatus.APPROVED
                and not mine
                and selectors.is_approver(user, row.account)
            ),
            "window_open": mine and row.is_open_now(),
        },
    )


def _windows_i_approve(user: AbstractBaseUser, now: datetime) -> Any:
    """Approved windows, open or opening later, on accounts `user` approves (everyone's
    for the decide permission), other people's: what they may revoke early."""
    windows = AccessRequest.objects.filter(status=RequestStatus.APPROVED, ends_at__gt=now).exclude(
        requester=user
    )
    if not may(user, "decide", AccessRequest):
        windows = windows.filter(
            account__in=PamAccount.objects.filter(approver_q(user)).values("pk")
        )
    return (
        windows.select_related("account__resource__project")
        .prefetch_related("decisions")
        .order_by("ends_at", "pk")
    )


@require_GET
@login_required
def approvals(request: HttpRequest) -> HttpResponse:
    """The pending requests the person may decide (never their own), oldest first, and
    the approved windows they may revoke."""
    now = timezone.now()
    to_decide = decorate(
        selectors.requests_to_decide(request.user).prefetch_related("decisions"), now
    )
    for row in to_decide:
        row.decided_by_me = any(d.approver_id == request.user.pk for d in row.decision_list)
    return render(
        request,
        "access_requests/approvals.html",
        {
            "to_decide": to_decide,
            "windows": decorate(_windows_i_approve(request.user, now), now),
            "approves": approves_something(request.user),
        },
    )


# --- The POSTs -------------------------------------------------------------------------


def _back(request: HttpRequest, default: str) -> HttpResponseRedirect:
    target = request.POST.get("next", "")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = default
    return HttpResponseRedirect(target)


def _act(
    request: HttpRequest,
    request_id: int,
    default_next: str,
    action: Callable[[AccessRequest, str], str],
) -> HttpResponse:
    """Look the request up as the person may see it (else 404), run `action` with the
    comment, and go back with its message, or with the rule that said no."""
    access_request = get_object_or_404(
        AccessRequest.objects.restrict(request.user).select_related("account"), pk=request_id
    )
    comment = request.POST.get("comment", "")
    try:
        text = action(access_request, comment)
    except services.RequestRefused as refused:
        messages.error(request, f"Request #{access_request.pk}: {refused.message}")
    except ValidationError as invalid:
        messages.error(request, f"Request #{access_request.pk}: {' '.join(invalid.messages)}")
    else:
        messages.success(request, text)
    return _back(request, default_next)


@require_POST
@login_required
def approve(request: HttpRequest, request_id: int) -> HttpResponse:
    def run(access_request: AccessRequest, comment: str) -> str:
        decided = services.request_decide(
            request=access_request, approver=request.user, approve=True, comment=comment
        )
        if decided.status == RequestStatus.APPROVED:
            return (
                f"Request #{decided.pk} approved: {decided.requester_name}'s window on "
                f"{decided.account.name} runs {clock(decided.starts_at)} to "
                f"{clock(decided.ends_at)}."
            )
        return (
            f"Your approval of request #{decided.pk} is recorded: it needs "
            f"{decided.approvals_required} approvals, the next from someone else."
        )

    return _act(request, request_id, reverse("approval-list"), run)


@require_POST
@login_required
def deny(request: HttpRequest, request_id: int) -> HttpResponse:
    def run(access_request: AccessRequest, comment: str) -> str:
        decided = services.request_decide(
            request=access_request, approver=request.user, approve=False, comment=comment
        )
        return f"Request #{decided.pk} denied; {decided.requester_name} is told."

    return _act(request, request_id, reverse("approval-list"), run)


@require_POST
@login_required
def cancel(request: HttpRequest, request_id: int) -> HttpResponse:
    def run(access_request: AccessRequest, comment: str) -> str:
        done = services.request_cancel(request=access_request, actor=request.user, comment=comment)
        if done.status == RequestStatus.CANCELLED:
            return f"Request #{done.pk} cancelled."
        return (
            f"Your window on {done.account.name} (request #{done.pk}) ended now; its live "
            "console sessions are revoked where the resource allows it."
        )

    return _act(request, request_id, reverse("request-list"), run)


@require_POST
@login_required
def revoke(request: HttpRequest, request_id: int) -> HttpResponse:
    def run(access_request: AccessRequest, comment: str) -> str:
        done = services.request_revoke(request=access_request, actor=request.user, comment=comment)
        return (
            f"Window #{done.pk} of {done.requester_name} on {done.account.name} revoked; its "
            "live console sessions are revoked where the resource allows it."
        )

    return _act(request, request_id, reverse("approval-list"), run)
