"""REST API routes, mounted at /api/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView
from rest_framework.authtoken.views import obtain_auth_token
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter

from crm.api.views import AccountViewSet, ContactViewSet, EmailViewSet, MeetingViewSet, TaskViewSet

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="api-contact")
router.register("accounts", AccountViewSet, basename="api-account")
router.register("meetings", MeetingViewSet, basename="api-meeting")
router.register("tasks", TaskViewSet, basename="api-task")
router.register("emails", EmailViewSet, basename="api-email")

# The schema and its docs page need a login like the rest of the API (drf-spectacular serves
# them to anyone by default).
_private = {"permission_classes": [IsAuthenticated]}

urlpatterns = [
    path("", include(router.urls)),
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("schema/", SpectacularAPIView.as_view(**_private), name="api-schema"),
    path(
        "docs/", SpectacularSwaggerView.as_view(url_name="api-schema", **_private), name="api-docs"
    ),
]
