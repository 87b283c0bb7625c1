from django.urls import include, path
from django.views.i18n import JavaScriptCatalog

from . import views, webauthn

# django-otp-webauthn's script reverses these names in its own namespace.
passkey_patterns = [
    path(
        "registration/begin/",
        webauthn.BeginRegistration.as_view(),
        name="credential-registration-begin",
    ),
    path(
        "registration/complete/",
        webauthn.CompleteRegistration.as_view(),
        name="credential-registration-complete",
    ),
    path(
        "authentication/begin/",
        webauthn.BeginAuthentication.as_view(),
        name="credential-authentication-begin",
    ),
    path(
        "authentication/complete/",
        webauthn.CompleteAuthentication.as_view(),
        name="credential-authentication-complete",
    ),
    path(
        "jsi18n/",
        JavaScriptCatalog.as_view(packages=["django_otp_webauthn"]),
        name="js-i18n-catalog",
    ),
]

urlpatterns = [
    path("security/", views.security, name="security"),
    path("security/verify/", views.verify, name="security-verify"),
    path("security/totp/", views.totp_enroll, name="security-totp"),
    path("security/recovery-codes/", views.recovery_codes, name="security-recovery-codes"),
    path(
        "security/devices/<str:kind>/<int:device_id>/remove/",
        views.device_remove,
        name="security-device-remove",
    ),
    path("security/passkeys/", include((passkey_patterns, "otp_webauthn"))),
]
