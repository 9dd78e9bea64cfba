"""`GET /api/v1/conversations/{id}/events/`: the conversation's live events over SSE.

An async view served under ASGI: it awaits the event bus and yields each event as it
arrives, so bytes reach the client while the model is still generating. Event ids are the
bus's; a reconnect with `Last-Event-ID` resumes right after the last event received.
Without it, the last `SSE_REPLAY_SECONDS` are replayed so a reply already streaming when
the page loaded is shown whole (clients de-duplicate by message id and status).

A customer holds at most `SSE_MAX_STREAMS_PER_CUSTOMER` streams at once and a client IP
`SSE_MAX_STREAMS_PER_IP` (429 `too_many_streams` past that); the slot is refreshed while
the stream lives and given back when it ends, the client's disconnect included.
"""

import contextlib
import logging
import time
import uuid

from asgiref.sync import sync_to_async
from django.conf import settings
from django.db import connections
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError
from rest_framework import exceptions

from accounts.authentication import bearer_token_check, parse_bearer
from chatbot.platform.client_ip import client_ip
from chatbot.platform.errors import ApplicationError, error_body
from chatbot.platform.event_bus import SLOT_TTL_SECONDS, get_event_bus, valid_event_id

from .models import Conversation

logger = logging.getLogger(__name__)

STREAM_RETRY_AFTER_SECONDS = 10  # a 429 for too many streams: when to try again


class _Refused(Exception):
    def __init__(self, status: int, code: str, message: str):
        self.response = JsonResponse(error_body(code, message), status=status)


def _release_db_connections() -> None:
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:  # never pull one out from under a transaction
            connection.close()


async def _customer(request):
    try:
        raw = parse_bearer(request.headers.get("Authorization", "").encode())
        if raw is not None:
            token = await sync_to_async(bearer_token_check)(
                raw_token=raw, origin=request.headers.get("Origin")
            )
            return token.user
    except exceptions.APIException as exc:
        code = getattr(exc.detail, "code", None) or exc.default_code
        raise _Refused(exc.status_code, code, str(exc.detail)) from exc
    except ApplicationError as exc:
        raise _Refused(exc.status_code, exc.code, exc.message) from exc
    user = await request.auser()
    if user.is_authenticated:
        return user
    raise _Refused(401, "not_authenticated", "Authentication credentials were not provided.")


def _slot_limits(customer, ip: str) -> dict[str, int]:
    return {
        f"chatdesk:sse:slots:customer:{customer.pk}": settings.SSE_MAX_STREAMS_PER_CUSTOMER,
        f"chatdesk:sse:slots:ip:{ip}": settings.SSE_MAX_STREAMS_PER_IP,
    }


async def _events(conversation_id: str, cursor: str, slot_keys: list[str], stream_id: str):
    bus = get_event_bus()
    heartbeat_ms = int(settings.SSE_HEARTBEAT_SECONDS * 1000)
    deadline = time.monotonic() + settings.SSE_MAX_STREAM_SECONDS
    refreshed = time.monotonic()
    try:
        yield b"retry: 2000\n: connected\n\n"  # flushes headers to the client at once
        async with contextlib.aclosing(bus.listen(conversation_id, cursor, heartbeat_ms)) as feed:
            async for events in feed:
                if not events:
                    yield b": ping\n\n"  # keeps proxies from closing an idle stream
                else:  # one write for a batch (a reply's end comes as one)
                    yield b"".join(event.sse() for event in events)
                now = time.monotonic()
                if now >= deadline:
                    # Ending now and then makes clients reconnect, re-checking their token.
                    return
                if now - refreshed > SLOT_TTL_SECONDS / 3:
                    await bus.stream_slot_refresh(keys=slot_keys, stream_id=stream_id)
                    refreshed = now
    except RedisError:
        # End the stream cleanly; the client reconnects with Last-Event-ID and loses nothing.
        logger.warning("event bus unavailable; ending stream for %s", conversation_id)
    finally:
        # Runs on a client's disconnect too (CancelledError / GeneratorExit); a slot not
        # given back expires after SLOT_TTL_SECONDS.
        try:
            await bus.stream_slot_release(keys=slot_keys, stream_id=stream_id)
        except Exception:
            logger.warning("could not release a stream slot", exc_info=True)


@csrf_exempt  # read-only; other verbs get a JSON 405 rather than a CSRF page
async def conversation_events(request, conversation_id):
    if request.method != "GET":
        refused = JsonResponse(
            error_body("method_not_allowed", f'Method "{request.method}" not allowed.'), status=405
        )
        refused["Allow"] = "GET"
        return refused
    try:
        customer = await _customer(request)
    except _Refused as refused:
        return refused.response
    owned = await Conversation.objects.filter(pk=conversation_id, customer=customer).aexists()
    # A stream lasts minutes and needs no database: give the connection back now rather
    # than when the response ends (Django would hold it for the whole stream).
    await sync_to_async(_release_db_connections)()
    if not owned:
        return JsonResponse(error_body("not_found", "Not found."), status=404)

    last_event_id = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or ""
    if last_event_id and not valid_event_id(last_event_id):
        return JsonResponse(
            error_body(
                "validation_error",
                "Invalid Last-Event-ID.",
                {"last_event_id": ["Not an event id."]},
            ),
            status=400,
        )
    if not last_event_id:
        since_ms = int(time.time() * 1000) - settings.SSE_REPLAY_SECONDS * 1000
        last_event_id = f"{since_ms}-0"

    limits = _slot_limits(customer, client_ip(request))
    stream_id = uuid.uuid4().hex
    try:
        full = await get_event_bus().stream_slot_acquire(limits=limits, stream_id=stream_id)
    except RedisError:
        # Fail open: the stream itself then ends cleanly on the same RedisError.
        logger.warning("event bus unavailable; stream caps not checked")
        full = None
    if full is not None:
        response = JsonResponse(
            error_body("too_many_streams", "Too many live event streams open; close one."),
            status=429,
        )
        response["Retry-After"] = str(STREAM_RETRY_AFTER_SECONDS)
        return response

    response = StreamingHttpResponse(
        _events(str(conversation_id), last_event_id, list(limits), stream_id),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"  # nginx: do not buffer the stream
    return response


_SSE_EVENT_SCHEMA = {
    "type": "object",
    "properties": {
        "id": {"type": "string", "pattern": r"^[0-9]+-[0-9]+$"},
        "event": {"type": "string", "description": "delta, message, status, error (and more)"},
        "data": {"type": "string", "description": "JSON: the event's payload (docs/api.md)"},
        "retry": {"type": "integer"},
    },
}


def openapi_document_events(result, generator, request, public):
    """drf-spectacular postprocessing hook: this plain async view is not a DRF view, so the
    schema generator cannot see it; its operation is declared here."""

    def error(description: str) -> dict:
        return {
            "description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }

    # Empty means none given (as EventSource's first connection); see valid_event_id.
    event_id = {"type": "string", "pattern": r"^([0-9]{1,20}(-[0-9]{1,20})?)?$"}
    result.setdefault("paths", {})["/api/v1/conversations/{conversation_id}/events/"] = {
        "get": {
            "operationId": "conversations_events_retrieve",
            "summary": "Live events of the conversation (Server-Sent Events)",
            "description": (
                "A `text/event-stream` of `delta`, `message`, `status` and `error` events "
                "(docs/api.md). Resume after an event with `Last-Event-ID`; without it the "
                "last SSE_REPLAY_SECONDS are replayed. The stream ends after "
                "SSE_MAX_STREAM_SECONDS; clients reconnect."
            ),
            "tags": ["conversations"],
            "parameters": [
                {
                    "name": "conversation_id",
                    "in": "path",
                    "required": True,
                    "schema": {"type": "string", "format": "uuid"},
                },
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": event_id},
                {"name": "last_event_id", "in": "query", "required": False, "schema": event_id},
            ],
            "security": [{"bearerAuth": []}, {"cookieAuth": []}],
            "responses": {
                "200": {
                    "description": "The event stream.",
                    # One schema per event (clients also get `: ping` comment lines).
                    "content": {"text/event-stream": {"schema": _SSE_EVENT_SCHEMA}},
                },
                "400": error("Bad Last-Event-ID (`validation_error`)."),
                "401": error("Missing or bad credentials."),
                "403": error("The token's widget key does not allow this origin."),
                "404": error("No such conversation for you (`not_found`)."),
                "405": error("Only GET (`method_not_allowed`)."),
            },
        }
    }
    return result
