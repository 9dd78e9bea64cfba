from django.db import connection
from django.http import JsonResponse
from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt

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


# Exempt: it changes nothing, and Django's CSRF check (process_view, after URL resolution)
# would otherwise answer a POST to an unknown API path with its HTML 403 before this 404.
@csrf_exempt
def api_not_found(request):
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
