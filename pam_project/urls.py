from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from identity.views import admin_login
from pam_project.favicon import favicon
from pam_project.health import healthz, readyz

admin.site.site_header = "AWS Console PAM administration"
admin.site.site_title = "AWS Console PAM"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("readyz", readyz, name="readyz"),
    path("favicon.ico", favicon, name="favicon"),
    # Prometheus metrics: 404 but for a scraper with the token or an allowed address.
    path("", include("operations.urls")),
    # The sign-in page (SSO first) and the OpenID Connect start and callback.
    path("", include("identity.urls")),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    # The admin signs people in through the same page (SSO, and axes on passwords).
    path("admin/login/", admin_login),
    path("admin/", admin.site.urls),
    path("api/", include("pam_project.api_urls")),
    path("", include("sessions_app.urls")),
    path("", include("access_requests.urls")),
    path("", include("mfa.urls")),
]
