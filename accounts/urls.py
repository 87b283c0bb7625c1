from django.urls import path

from . import views

urlpatterns = [
    path("", views.home, name="home"),
    path("accounts/<int:account_id>/", views.account_detail, name="account-detail"),
    path("accounts/<int:account_id>/access/", views.account_access, name="account-access"),
]
