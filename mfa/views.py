"""The Security page (enroll and remove second factors), the step-up verify page, and
the redirect that the Access pages and the admin rule send people through."""

from __future__ import annotations

import base64
from urllib.parse import urlencode

import segno
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.safestring import mark_safe
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_otp.models import Device
from django_otp_webauthn.models import WebAuthnCredential

from . import selectors, services, stepup
from .forms import RecoveryCodeForm, TotpCodeForm
from .models import Check, RecoveryCodeSet, TotpDevice

PENDING_TOTP = "mfa_pending_totp"
ISSUER = "AWS Console PAM"

TOTP_ERRORS = {
    Check.WRONG: "That code is not right. Enter the 6 digits your app shows now.",
    Check.REUSED: "That code was already used. Wait for the next one (codes change every "
    "30 seconds) and enter it.",
}
RECOVERY_ERRORS = {
    Check.WRONG: "That recovery code is not right (or belongs to an older set).",
    Check.REUSED: "That recovery code was already used: each works once. Use another one.",
}


def _next(request: HttpRequest, default: str | None = None) -> str:
    """Where to go back to: a path on this site only, never another site."""
    target = request.POST.get("next") or request.GET.get("next") or ""
    if target and url_has_allowed_host_and_scheme(
        target, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return target
    return reverse("security") if default is None else default


def _with_next(url_name: str, next_url: str) -> str:
    return f"{reverse(url_name)}?{urlencode({'next': next_url})}"


def step_up_redirect(request: HttpRequest, next_url: str, why: str) -> HttpResponseRedirect:
    """Send the user to verify (or, with no device yet, to enroll one), then back."""
    if not selectors.has_device(request.user):
        messages.warning(
            request,
            f"{why} Add an authenticator app or a passkey first, then come back.",
        )
        return HttpResponseRedirect(_with_next("security", next_url))
    return HttpResponseRedirect(_with_next("security-verify", next_url))


def _throttled(user: object) -> str:
    # django-otp's throttle: 1, 2, 4, 8 ... seconds after successive wrong codes.
    wait = services.totp_locked_for(user)
    return f"Slow down: after a wrong code, wait {wait} s before the next try."


@never_cache
@require_GET
@login_required
def security(request: HttpRequest) -> HttpResponse:
    devices = selectors.devices_of(request.user)
    return render(
        request,
        "mfa/security.html",
        {
            "devices": devices,
            "fresh": stepup.is_fresh(request),
            "seconds_left": stepup.seconds_left(request),
            "next": _next(request, default=""),
        },
    )


def _needs_fresh_check(request: HttpRequest) -> bool:
    """Changing the factors of an account that has one needs a check first, so a stolen
    password alone can neither add the thief's device nor remove the owner's."""
    return not stepup.is_fresh(request) and selectors.has_device(request.user)


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def totp_enroll(request: HttpRequest) -> HttpResponse:
    here = request.get_full_path()
    if _needs_fresh_check(request):
        return HttpResponseRedirect(_with_next("security-verify", here))
    device = services.totp_enroll_start(
        user=request.user, reuse_id=request.session.get(PENDING_TOTP)
    )
    request.session[PENDING_TOTP] = device.pk
    form = TotpCodeForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        result = services.totp_enroll_confirm(
            request=request, device_id=device.pk, code=form.cleaned_data["code"]
        )
        if result is Check.OK:
            request.session.pop(PENDING_TOTP, None)
            messages.success(request, "Authenticator app added. You can use it from now on.")
            return HttpResponseRedirect(_next(request))
        form.add_error(
            "code", _throttled(request.user) if result is Check.THROTTLED else TOTP_ERRORS[result]
        )
    seed = device.seed()
    manual_key = base64.b32encode(seed).decode().rstrip("=")
    label = request.user.email or request.user.get_username()
    uri = (
        f"otpauth://totp/{ISSUER}:{label}?"
        + urlencode({"secret": manual_key, "issuer": ISSUER, "digits": 6, "period": 30})
    ).replace(" ", "%20")
    qr = segno.make(uri, error="m").svg_inline(scale=5, dark="#000", light="#fff")
    response = render(
        request,
        "mfa/totp_enroll.html",
        {
            "form": form,
            # Generated here from our own data: segno's SVG has no script or style.
            "qr_svg": mark_safe(qr),  # noqa: S308
            "manual_key": " ".join(manual_key[i : i + 4] for i in range(0, len(manual_key), 4)),
            "next": _next(request, default=""),
        },
    )
    # The one page that shows a seed: never cached. (Its URL holds no secret, and the
    # site-wide same-origin Referrer-Policy stays: under no-referrer, browsers send
    # `Origin: null` with the form's POST, which the CSRF check refuses.)
    response["Cache-Control"] = "no-store"
    return response


@never_cache
@require_http_methods(["GET", "POST"])
@login_required
def verify(request: HttpRequest) -> HttpResponse:
    """Step-up: a TOTP code, a passkey (the library's script) or a recovery code."""
    back = _next(request, default=reverse("home"))
    devices = selectors.devices_of(request.user)
    if not devices.any:
        messages.warning(request, "You have no second factor yet: add one here first.")
        return HttpResponseRedirect(_with_next("security", back))
    totp_form = TotpCodeForm(request.POST if request.POST.get("method") == "totp" else None)
    recovery_form = RecoveryCodeForm(
        request.POST if request.POST.get("method") == "recovery" else None
    )
    if request.method == "POST":
        if totp_form.is_bound and totp_form.is_valid() and devices.totp:
            result = services.totp_verify(request=request, code=totp_form.cleaned_data["code"])
            if result is Check.OK:
                messages.success(request, "Verified. You can Access for the next 5 minutes.")
                return HttpResponseRedirect(back)
            totp_form.add_error(
                "code",
                _throttled(request.user) if result is Check.THROTTLED else TOTP_ERRORS[result],
            )
        elif recovery_form.is_bound and recovery_form.is_valid():
            result = services.recovery_verify(
                request=request, code=recovery_form.cleaned_data["recovery_code"]
            )
            if result is Check.OK:
                left = selectors.devices_of(request.user).recovery_left
                messages.success(
                    request,
                    f"Verified with a recovery code ({left} left). You can Access for the "
                    "next 5 minutes.",
                )
                return HttpResponseRedirect(back)
            recovery_form.add_error(
                "recovery_code",
                "Slow down: after a wrong code, wait a few seconds before the next try."
                if result is Check.THROTTLED
                else RECOVERY_ERRORS[result],
            )
    return render(
        request,
        "mfa/verify.html",
        {
            "devices": devices,
            "totp_form": totp_form,
            "recovery_form": recovery_form,
            "next": back,
        },
        status=400 if request.method == "POST" else 200,
    )


@never_cache
@require_POST
@login_required
def recovery_codes(request: HttpRequest) -> HttpResponse:
    """A new set of recovery codes, shown on this answer only."""
    if _needs_fresh_check(request):
        return HttpResponseRedirect(_with_next("security-verify", reverse("security")))
    if not selectors.devices_of(request.user).factors:
        messages.warning(request, "Add an authenticator app or a passkey before recovery codes.")
        return HttpResponseRedirect(reverse("security"))
    codes = services.recovery_codes_generate(user=request.user)
    response = render(request, "mfa/recovery_codes.html", {"codes": codes})
    response["Cache-Control"] = "no-store"
    return response


DEVICE_KINDS: dict[str, type[Device]] = {
    "totp": TotpDevice,
    "passkey": WebAuthnCredential,
    "recovery": RecoveryCodeSet,
}


@require_POST
@login_required
def device_remove(request: HttpRequest, kind: str, device_id: int) -> HttpResponse:
    model = DEVICE_KINDS.get(kind)
    if model is None:
        raise Http404
    # Someone else's device is a 404, never a hint that it exists.
    device = get_object_or_404(model.objects.filter(user=request.user), pk=device_id)
    if not stepup.is_fresh(request):
        return HttpResponseRedirect(_with_next("security-verify", reverse("security")))
    services.device_remove(device=device, actor=request.user)
    messages.success(request, f"Removed {device.name}.")
    return HttpResponseRedirect(reverse("security"))
