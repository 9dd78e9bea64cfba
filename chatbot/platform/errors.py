"""The API's single error shape, and the mapping of every error onto it.

Every error response of `/api/` is::

    {"error": {"code": "machine_readable_code", "message": "Human text.", "fields": {...}}}

`fields` appears only for validation errors (field name -> list of messages).
"""

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response


class ApplicationError(Exception):
    """A domain error with a stable code; services raise these, the API maps them."""

    status_code = status.HTTP_400_BAD_REQUEST
    code = "application_error"

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        status_code: int | None = None,
        extra: dict[str, Any] | None = None,
    ):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status_code:
            self.status_code = status_code
        self.extra = extra or {}


def error_body(code: str, message: str, fields: dict | None = None, **extra: Any) -> dict:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    error.update(extra)
    return {"error": error}


class CsrfFailed(exceptions.PermissionDenied):
    """A session-cookie request under /api/ without a valid CSRF token."""

    default_code = "csrf_failed"


_DRF_CODES = {
    CsrfFailed: "csrf_failed",  # before its parent, PermissionDenied
    exceptions.ParseError: "malformed_json",
    exceptions.AuthenticationFailed: "authentication_failed",
    exceptions.NotAuthenticated: "not_authenticated",
    exceptions.PermissionDenied: "permission_denied",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "rate_limited",
}


def _first_message(detail: Any) -> str:
    if isinstance(detail, dict):
        for value in detail.values():
            return _first_message(value)
    if isinstance(detail, list) and detail:
        return _first_message(detail[0])
    return str(detail)


def _fields(detail: Any) -> dict:
    if isinstance(detail, dict):
        return {
            key: [str(m) for m in (v if isinstance(v, list) else [v])] for key, v in detail.items()
        }
    messages = detail if isinstance(detail, list) else [detail]
    return {"non_field_errors": [str(m) for m in messages]}


def api_exception_handler(exc: Exception, context: dict) -> Response | None:
    if isinstance(exc, ApplicationError):
        response = Response(error_body(exc.code, exc.message, **exc.extra), status=exc.status_code)
        if "retry_after" in exc.extra:
            response["Retry-After"] = str(int(exc.extra["retry_after"]))
        return response
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    # Imported here: rest_framework.views loads the authentication classes, which raise
    # the errors defined in this module.
    from rest_framework.views import exception_handler as drf_exception_handler

    response = drf_exception_handler(exc, context)
    if response is None:
        return None  # a real bug: let Django log it and answer 500
    if isinstance(exc, exceptions.ValidationError):
        body = error_body("validation_error", _first_message(exc.detail), _fields(exc.detail))
    else:
        code = next((c for cls, c in _DRF_CODES.items() if isinstance(exc, cls)), None)
        code = code or getattr(exc, "default_code", "error")
        body = error_body(code, _first_message(exc.detail))
    response.data = body
    return response


# The staff inbox's JSON endpoints (conversations/inbox) answer errors in the same shape.
_JSON_PREFIXES = ("/api/", "/admin/inbox/api/")


def _is_api(request) -> bool:
    return request.path.startswith(_JSON_PREFIXES)


def json_or_default(default_view, status_code: int, code: str, message: str):
    """Wrap one of Django's default error views so API paths answer in the JSON shape."""

    def view(request, exception=None, **kwargs):
        if _is_api(request):
            return JsonResponse(error_body(code, message), status=status_code)
        if exception is None:
            return default_view(request, **kwargs)
        return default_view(request, exception, **kwargs)

    return view


def csrf_failure(request, reason: str = ""):
    """CSRF_FAILURE_VIEW: API paths (session-cookie clients) get a JSON 403 in the error shape."""
    if _is_api(request):
        return JsonResponse(
            error_body("csrf_failed", f"CSRF Failed: {reason}" if reason else "CSRF Failed."),
            status=403,
        )
    from django.views.csrf import csrf_failure as default_csrf_failure

    return default_csrf_failure(request, reason=reason)
