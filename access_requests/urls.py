"""Just-in-time access pages (SPEC "Contracts": /requests/, /requests/new/, /approvals/)."""

from django.urls import path

from . import views

urlpatterns = [
    path("requests/", views.my_requests, name="request-list"),
    path("requests/new/", views.new_request, name="request-new"),
    path("requests/<int:request_id>/", views.request_detail, name="request-detail"),
    path("requests/<int:request_id>/cancel/", views.cancel, name="request-cancel"),
    path("requests/<int:request_id>/approve/", views.approve, name="request-approve"),
    path("requests/<int:request_id>/deny/", views.deny, name="request-deny"),
    path("requests/<int:request_id>/revoke/", views.revoke, name="request-revoke"),
    path("approvals/", views.approvals, name="approval-list"),
]
