import logging
import time

from asgiref.sync import iscoroutinefunction, markcoroutinefunction, sync_to_async
from django.conf import settings
from django.http import JsonResponse
from django.urls import resolve

from . import log_context, metrics
from .errors import error_body

logger = logging.getLogger(__name__)


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


class RequestObservabilityMiddleware:
    """Request id, log context and HTTP metrics, for sync and async views alike.

    * `X-Request-ID`: taken from the request when it looks like an id, else generated;
      echoed on the response; on every log line of the request (log_context).
    * A conversation id in the URL (`conversation_id`/`pk` of the conversation routes) is
      bound to the log context too.
    * Metrics by the resolver's route name, never the raw path: bounded cardinality.
    * Probes (`/healthz`, `/readyz`, `/metrics`) are answered here, before the host check
      and the HTTPS redirect: kubelets and Prometheus call a pod by its IP over plain HTTP
      inside the cluster. `/metrics` keeps its own bearer token (docs/operations.md).
    """

    PROBES = {"/healthz": "healthz", "/readyz": "readyz", "/metrics": "metrics"}

    sync_capable = True
    async_capable = True

    def __init__(self, get_response):
        self.get_response = get_response
        if iscoroutinefunction(get_response):
            markcoroutinefunction(self)

    def __call__(self, request):
        if iscoroutinefunction(self):
            return self.__acall__(request)
        started = time.perf_counter()
        with self._context(request):
            if probe := self._probe(request):
                response = probe(request)
            else:
                response = self.get_response(request)
            return self._done(request, response, started)

    async def __acall__(self, request):
        started = time.perf_counter()
        with self._context(request):
            if probe := self._probe(request):
                response = await sync_to_async(probe)(request)
            else:
                response = await self.get_response(request)
            return self._done(request, response, started)

    def _probe(self, request):
        name = self.PROBES.get(request.path_info)
        if name is None:
            return None
        match = resolve(request.path_info)
        request.resolver_match = match
        return match.func

    @staticmethod
    def _context(request):
        request_id = log_context.request_id_from_header(request.META.get("HTTP_X_REQUEST_ID"))
        request.request_id = request_id
        return log_context.fresh(request_id=request_id)

    def process_view(self, request, view_func, view_args, view_kwargs):
        conversation_id = view_kwargs.get("conversation_id")
        match = request.resolver_match
        if conversation_id is None and match and (match.url_name or "").startswith("conversation"):
            conversation_id = view_kwargs.get("pk")
        if conversation_id:
            log_context.bind(conversation_id=conversation_id)

    @staticmethod
    def _done(request, response, started):
        response["X-Request-ID"] = request.request_id
        match = getattr(request, "resolver_match", None)
        route = (match.view_name or match.route or "unnamed") if match else "unmatched"
        try:
            metrics.record_http_request(
                route=route[:100],
                method=request.method,
                status=response.status_code,
                seconds=time.perf_counter() - started,
            )
        except Exception:
            logger.warning("http metrics failed", exc_info=True)
        return response
