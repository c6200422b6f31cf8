"""REST API routes, mounted at /api/."""

from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.permissions import IsAuthenticated
from rest_framework.routers import SimpleRouter
from rest_framework.settings import api_settings

from crm.api.outbox import OutboxViewSet
from crm.api.token import ObtainTokenView
from crm.api.views import AccountViewSet, ContactViewSet, EmailViewSet, MeetingViewSet, TaskViewSet

router = SimpleRouter()
router.register("contacts", ContactViewSet, basename="api-contact")
router.register("accounts", AccountViewSet, basename="api-account")
router.register("meetings", MeetingViewSet, basename="api-meeting")
router.register("tasks", TaskViewSet, basename="api-task")
router.register("emails", EmailViewSet, basename="api-email")
router.register("outbox", OutboxViewSet, basename="api-outbox")

# The schema and its docs page need a login like the rest of the API (drf-spectacular serves
# them to anyone by default).
_private = {"permission_classes": [IsAuthenticated]}

urlpatterns = [
    path("", include(router.urls)),
    # DRF's token view names its own parsers: ours bound the body's size and nesting.
    path(
        "auth/token/",
        ObtainTokenView.as_view(parser_classes=api_settings.DEFAULT_PARSER_CLASSES),
        name="api-token",
    ),
    path("schema/", SpectacularAPIView.as_view(**_private), name="api-schema"),
    # Swagger UI from our static files (drf-spectacular-sidecar), its start-up script a separate
    # URL (docs/?script=) rather than inline: the page works offline and under our CSP.
    path(
        "docs/",
        SpectacularSwaggerSplitView.as_view(
            url_name="api-schema", template_name="api/swagger_ui.html", **_private
        ),
        name="api-docs",
    ),
]
