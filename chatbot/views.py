from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render

from accounts.models import WidgetKey

from .llm import llm_configured
from .platform.errors import error_body


def home(request):
    """The demo page: it hosts the widget with the demo widget key, when one exists."""
    widget_key = WidgetKey.objects.filter(is_active=True, name="Demo").first()
    return render(
        request, "home.html", {"widget_key": widget_key, "llm_configured": llm_configured()}
    )


def healthz(request):
    with connection.cursor() as cursor:
        cursor.execute("SELECT 1")
    return JsonResponse({"status": "ok"})


def api_not_found(request):
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
