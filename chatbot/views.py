import hmac

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt

from accounts.models import WidgetKey

from .llm import llm_configured
from .platform import health, metrics
from .platform.errors import error_body


def home(request):
    """The demo page: it hosts the widget with the demo widget key, when one exists."""
    widget_key = WidgetKey.objects.filter(is_active=True, name="Demo").first()
    return render(
        request, "home.html", {"widget_key": widget_key, "llm_configured": llm_configured()}
    )


@never_cache
def healthz(request):
    """Liveness: the process answers. No dependency is checked (that is /readyz)."""
    return JsonResponse({"status": "ok"})


@never_cache
def readyz(request):
    """Readiness: the database, Redis, the broker and migrations; 503 names what failed."""
    checks = health.readiness()
    ready = all(result == "ok" for result in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", "checks": checks}, status=200 if ready else 503
    )


@never_cache
def metrics_view(request):
    """Prometheus exposition (docs/operations.md). With METRICS_TOKEN set, only a request
    bearing it; without one, open under DEBUG and absent (404) otherwise."""
    token = settings.METRICS_TOKEN
    if token:
        given = request.META.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
            response = JsonResponse(
                error_body("not_authenticated", "A valid metrics token is required."), status=401
            )
            response["WWW-Authenticate"] = 'Bearer realm="metrics"'
            return response
    elif not settings.DEBUG:
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    body, content_type = metrics.metrics_export(
        broker_url="" if settings.CELERY_TASK_ALWAYS_EAGER else settings.CELERY_BROKER_URL,
        queues=[settings.CELERY_TASK_DEFAULT_QUEUE],
    )
    return HttpResponse(body, content_type=content_type)


# Exempt: it changes nothing, and Django's CSRF check (process_view, after URL resolution)
# would otherwise answer a POST to an unknown API path with its HTML 403 before this 404.
@csrf_exempt
def api_not_found(request):
    return JsonResponse(error_body("not_found", "No such API endpoint."), status=404)
