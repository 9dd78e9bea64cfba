from csp.decorators import csp_replace
from django.contrib import admin
from django.urls import include, path, re_path
from django.views import defaults
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerSplitView
from rest_framework.routers import DefaultRouter

from accounts.api import WidgetSessionViewSet
from chatbot.insights.views import dashboard_view
from chatbot.privacy.api import MeEraseView, MeExportView
from chatbot.tools.api import ToolCallCancelView, ToolCallConfirmView, ToolCallListView
from conversations.api import ConversationViewSet, message_send_view
from conversations.sse import conversation_events

from . import views
from .platform.errors import json_or_default

router = DefaultRouter(trailing_slash=True)
router.include_root_view = False
router.register("widget/sessions", WidgetSessionViewSet, basename="widget-session")
router.register("conversations", ConversationViewSet, basename="conversation")
# The message POST's light path (conversations.api.message_send_view) answers on the router's
# own route and hands everything but a bearer client's JSON POST to the router's view.
_messages = next(p for p in router.urls if p.name == "conversation-messages")

# Swagger UI is served by the app itself (drf-spectacular-sidecar, no CDN) but has an inline
# <style>; its init script is a separate request (the split view), so only this page's
# policy is widened, for styles and data: images (docs/security.md).
_swagger_csp = csp_replace(
    {"style-src": ["'self'", "'unsafe-inline'"], "img-src": ["'self'", "data:"]}
)

urlpatterns = [
    path("", views.home, name="home"),
    # Before admin.site.urls: a page of the admin (its login, its look), not a model's.
    path(
        "admin/insights/dashboard/",
        admin.site.admin_view(dashboard_view),
        name="insights-dashboard",
    ),
    # The staff inbox lives inside the admin site (conversations/inbox).
    path("admin/inbox/", include("conversations.inbox.urls")),
    path("admin/", admin.site.urls),
    path(
        "api/v1/conversations/<uuid:conversation_id>/events/",
        conversation_events,
        name="conversation-events",
    ),
    path(
        "api/v1/conversations/<uuid:conversation_id>/tool-calls/",
        ToolCallListView.as_view(),
        name="tool-call-list",
    ),
    path(
        "api/v1/conversations/<uuid:conversation_id>/tool-calls/<uuid:call_id>/confirm/",
        ToolCallConfirmView.as_view(),
        name="tool-call-confirm",
    ),
    path(
        "api/v1/conversations/<uuid:conversation_id>/tool-calls/<uuid:call_id>/cancel/",
        ToolCallCancelView.as_view(),
        name="tool-call-cancel",
    ),
    path("api/v1/me/export/", MeExportView.as_view(), name="me-export"),
    # Before the router (which keeps the route: the OpenAPI schema documents it there).
    re_path(
        r"^api/v1/" + _messages.pattern.regex.pattern.lstrip("^"),
        message_send_view(_messages.callback),
        name=_messages.name,
    ),
    path("api/v1/me/erase/", MeEraseView.as_view(), name="me-erase"),
    path("api/v1/", include(router.urls)),
    path("api/v1/schema/", SpectacularAPIView.as_view(), name="api-schema"),
    path(
        "api/v1/docs/",
        _swagger_csp(SpectacularSwaggerSplitView.as_view(url_name="api-schema")),
        name="api-docs",
    ),
    path("healthz", views.healthz, name="healthz"),
    path("readyz", views.readyz, name="readyz"),
    path("metrics", views.metrics_view, name="metrics"),
    # Anything else under /api/ answers in the API's JSON error shape, even with DEBUG on.
    re_path(r"^api/", views.api_not_found),
]

handler400 = json_or_default(defaults.bad_request, 400, "bad_request", "Bad request.")
handler403 = json_or_default(
    defaults.permission_denied,
    403,
    "permission_denied",
    "You do not have permission to perform this action.",
)
handler404 = json_or_default(defaults.page_not_found, 404, "not_found", "Not found.")
handler500 = json_or_default(
    defaults.server_error, 500, "server_error", "Something went wrong on our side."
)
