"""Sign-in pages: the login page (SSO first), and the OpenID Connect start and callback.

The two OIDC views are mozilla-django-oidc's, with every failure turned into a page that
names the step (identity/oidc.py SsoFailed) instead of a redirect to nowhere or a 500.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import REDIRECT_FIELD_NAME
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.core.exceptions import SuspiciousOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from mozilla_django_oidc import views as oidc_views

from pam_project.http import public_url

from . import oidc
from .errors import SsoFailed
from .forms import PreferencesForm
from .local import ALL, OFF
from .preferences import preferences_of, preferences_update

log = logging.getLogger(__name__)

STEP_TITLES = {
    "discovery": "The identity provider could not be reached",
    "idp": "The identity provider did not sign you in",
    "state": "This sign-in is not the one this browser started",
    "token": "The sign-in code was refused",
    "id_token": "The identity provider's answer failed its checks",
    "userinfo": "The identity provider's profile answer failed",
    "claims": "The identity provider did not say who you are",
    "account": "Your account cannot be signed in",
}


def sso_failed(request: HttpRequest, failure: SsoFailed) -> HttpResponse:
    log.warning("SSO sign-in refused at %s: %s", failure.step, failure.message)
    return render(
        request,
        "registration/sso_failed.html",
        {
            "title": STEP_TITLES.get(failure.step, "Sign-in failed"),
            "step": failure.step,
            "message": failure.message,
            "password_allowed": settings.PAM_LOCAL_LOGIN != OFF,
        },
        status=failure.status,
    )


def _with_public_redirect_uri(request: HttpRequest) -> None:
    """The redirect URI the IdP sees is PAM_PUBLIC_URL's when set (behind a proxy the
    request's own host may be an internal name); mozilla-django-oidc builds it with
    request.build_absolute_uri in both the start view and the backend."""
    if settings.PAM_PUBLIC_URL:
        request.build_absolute_uri = lambda location=None: public_url(request, location or "/")


class SsoStartView(oidc_views.OIDCAuthenticationRequestView):
    def __init__(self, **kwargs: Any) -> None:
        # The library reads the endpoint in __init__; it is looked up in get(), where a
        # failure can be shown.
        super(oidc_views.OIDCAuthenticationRequestView, self).__init__(**kwargs)
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID

    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.enabled():
            raise Http404("SSO is not configured")
        try:
            self.OIDC_OP_AUTH_ENDPOINT = oidc.metadata()["authorization_endpoint"]
        except SsoFailed as failure:
            return sso_failed(request, failure)
        _with_public_redirect_uri(request)
        return super().get(request)


class SsoCallbackView(oidc_views.OIDCAuthenticationCallbackView):
    def get(self, request: HttpRequest) -> HttpResponse:
        if not oidc.enabled():
            raise Http404("SSO is not configured")
        if request.GET.get("error"):
            super().get(request)  # forgets the state, signs out
            error = request.GET["error"][:64]
            return sso_failed(
                request,
                SsoFailed(
                    "idp",
                    f'The identity provider answered "{error}" (for example, the sign-in '
                    "was cancelled, or this app is not assigned to you at the IdP).",
                    status=403,
                ),
            )
        _with_public_redirect_uri(request)
        try:
            return super().get(request)
        except SsoFailed as failure:
            return sso_failed(request, failure)
        except SuspiciousOperation:
            # The state is unknown to this browser's session: used already (a replayed
            # callback), or the sign-in was started elsewhere.
            return sso_failed(request, _state_failure())

    def login_failure(self) -> HttpResponse:
        # Reached with no sign-in in progress in this session, or a deactivated user.
        return sso_failed(self.request, _state_failure())


def _state_failure() -> SsoFailed:
    return SsoFailed(
        "state",
        "This sign-in link was used already, has expired, or was started in another "
        "browser. Start the sign-in again from this app's sign-in page.",
    )


class LoginView(auth_views.LoginView):
    """Django's login page, with "Sign in with <IdP>" first when an IdP is set."""

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        context = super().get_context_data(**kwargs)
        context.update(
            sso_enabled=oidc.enabled(),
            sso_name=settings.PAM_OIDC_NAME,
            password_mode=settings.PAM_LOCAL_LOGIN,
            password_for_all=settings.PAM_LOCAL_LOGIN == ALL,
            password_off=settings.PAM_LOCAL_LOGIN == OFF,
        )
        return context

    def post(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if settings.PAM_LOCAL_LOGIN == OFF:
            return self.get(request, *args, **kwargs)
        return super().post(request, *args, **kwargs)


def admin_login(request: HttpRequest) -> HttpResponse:
    """/admin/login/ -> the site's sign-in page (SSO first), keeping where the admin was
    going. A form posted here is handled as the sign-in page would (axes included)."""
    if request.method == "POST":
        return LoginView.as_view()(request)
    target = request.GET.get(REDIRECT_FIELD_NAME) or reverse("admin:index")
    if not url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        target = reverse("admin:index")
    return redirect(f"{reverse('login')}?{urlencode({REDIRECT_FIELD_NAME: target})}")


@require_http_methods(["GET", "POST"])
@login_required
def preferences(request: HttpRequest) -> HttpResponse:
    """One's own preferences: for now, whether Access signs out of the AWS console first."""
    current = preferences_of(request.user)
    # An unticked box sends nothing: a POST is bound even when its body is empty.
    form = PreferencesForm(request.POST if request.method == "POST" else None, instance=current)
    if request.method == "POST" and form.is_valid():
        preferences_update(user=request.user, logout_first=form.cleaned_data["logout_first"])
        messages.success(
            request,
            "Saved: Access signs out of the previous AWS console first."
            if form.cleaned_data["logout_first"]
            else "Saved: Access opens beside the AWS consoles you already have.",
        )
        return redirect("preferences")
    return render(request, "identity/preferences.html", {"form": form})
