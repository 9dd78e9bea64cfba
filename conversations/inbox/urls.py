"""/admin/inbox/: the staff inbox, inside the admin site (its login, look and permissions).

The page goes through the admin's own gate (staff session, else its login page). The JSON
and SSE endpoints answer 401/403 JSON instead of a redirect, and each checks the inbox
permission, its action's permission and the scope itself (views.inbox_api, sse).
"""

from django.contrib import admin
from django.urls import path

from . import sse, views

app_name = "inbox"

urlpatterns = [
    path("", admin.site.admin_view(views.inbox_page), name="index"),
    path("api/conversations/", views.conversation_rows, name="rows"),
    path("api/conversations/<uuid:conversation_id>/", views.conversation_detail, name="detail"),
    path(
        "api/conversations/<uuid:conversation_id>/events/",
        sse.conversation_events_for_staff,
        name="conversation-events",
    ),
    path(
        "api/conversations/<uuid:conversation_id>/<slug:action>/",
        views.conversation_action,
        name="action",
    ),
    path("api/heartbeat/", views.heartbeat, name="heartbeat"),
    path("api/canned-replies/", views.canned_replies, name="canned"),
    path("api/events/", sse.inbox_events, name="events"),
]
