from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from pam_project.health import healthz

admin.site.site_header = "AWS Console PAM administration"
admin.site.site_title = "AWS Console PAM"

urlpatterns = [
    path("healthz", healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/", include("pam_project.api_urls")),
    path("", include("accounts.urls")),
    path("", include("sessions_app.urls")),
]
