from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView
from rest_framework.routers import DefaultRouter

from access_requests.api import RequestViewSet
from accounts.api import AccountViewSet, GrantViewSet, TokenViewSet
from audit.api import AuditEventViewSet
from pam_project.api_docs import RedocView, SwaggerView
from resources.api import ProjectRoleViewSet, ProjectViewSet, ResourceViewSet
from sessions_app.api import AccessViewSet, SessionViewSet


# No `.json` twin of every URL: `?format=` chooses the output where there is a choice (the
# audit stream), and the twins only doubled the surface (and let custom actions 500 on
# their unexpected `format` argument).
class Router(DefaultRouter):
    include_format_suffixes = False


router = Router()
router.register("projects", ProjectViewSet, basename="project")
router.register("resources", ResourceViewSet, basename="resource")
router.register("project-roles", ProjectRoleViewSet, basename="project-role")
# POST accounts/<id>/access/: Access lives with the sessions it records. Registered
# before the accounts viewset, whose entry then names "accounts" in the API root.
router.register("accounts", AccessViewSet, basename="account-access")
router.register("accounts", AccountViewSet, basename="account")
router.register("grants", GrantViewSet, basename="grant")
router.register("requests", RequestViewSet, basename="request")
router.register("sessions", SessionViewSet, basename="session")
router.register("tokens", TokenViewSet, basename="token")
router.register("audit", AuditEventViewSet, basename="audit")

urlpatterns = [
    path("v1/", include((router.urls, "api"), namespace="api")),
    path("schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path("docs/", SwaggerView.as_view(url_name="api-schema"), name="api-docs"),
    path("redoc/", RedocView.as_view(url_name="api-schema"), name="api-redoc"),
]
