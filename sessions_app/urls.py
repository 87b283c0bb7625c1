from django.urls import path

from . import revocation_views, views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/<int:account_id>/", views.account_detail, name="account-detail"),
    path("accounts/<int:account_id>/access/", views.account_access, name="account-access"),
    path("accounts/<int:account_id>/favourite/", views.account_favourite, name="account-favourite"),
    path("sessions/", views.session_list, name="session-list"),
    path(
        "sessions/<int:session_id>/revoke/",
        revocation_views.session_revoke,
        name="session-revoke",
    ),
]
