"""Staff need a second factor for the admin in the production profile (SPEC, Identity).

With PAM_ADMIN_MFA on (always when PAM_HTTPS=true), a signed-in staff member who has not
passed a second-factor check in this sign-in session is sent to verify (or, with no
device yet, to enroll one) before any /admin/ page; sign-in and sign-out stay open.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse

from . import stepup

OPEN_ADMIN_PATHS = ("/admin/login/", "/admin/logout/")


class StaffMfaMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if (
            settings.PAM_ADMIN_MFA
            and request.path.startswith("/admin/")
            and not request.path.startswith(OPEN_ADMIN_PATHS)
            and request.user.is_authenticated
            and request.user.is_staff
            and not stepup.verified_in_session(request)
        ):
            from .views import step_up_redirect  # views import the ORM models; load late

            return step_up_redirect(
                request,
                request.get_full_path(),
                "The admin needs a second factor (MFA).",
            )
        return self.get_response(request)
