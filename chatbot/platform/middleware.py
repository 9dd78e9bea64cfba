from django.conf import settings
from django.http import JsonResponse

from .errors import error_body


class ApiBodySizeLimitMiddleware:
    """Refuse oversized API bodies with a JSON 413 before anything reads them."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path.startswith("/api/"):
            try:
                length = int(request.META.get("CONTENT_LENGTH") or 0)
            except ValueError:
                return JsonResponse(
                    error_body("bad_request", "Invalid Content-Length header."), status=400
                )
            if length > settings.API_MAX_BODY_BYTES:
                return JsonResponse(
                    error_body(
                        "payload_too_large",
                        f"Request body exceeds {settings.API_MAX_BODY_BYTES} bytes.",
                    ),
                    status=413,
                )
        return self.get_response(request)
