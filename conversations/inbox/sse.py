"""The inbox's live streams (Server-Sent Events), for staff sessions only.

- `GET /admin/inbox/api/events/`: the staff-wide inbox stream (`live_events.INBOX_STREAM`):
  one small `inbox` event per change (a message, a handoff, an assignment, a note). The page
  then fetches just the rows named, so a busy inbox costs one stream per agent and a few
  row fetches, not a poll per agent per second.
- `GET /admin/inbox/api/conversations/<id>/events/`: the open conversation's own stream,
  the same events the customer's widget gets (a bot reply streaming in, staff messages).

Both reuse the customer stream's machinery (conversations.sse): one Redis reader per
process, resume with Last-Event-ID, heartbeats, stream caps, ending after
SSE_MAX_STREAM_SECONDS so the session and permission are checked again on reconnect.
"""

import time
import uuid

from asgiref.sync import sync_to_async
from django.http import JsonResponse, StreamingHttpResponse
from django.views.decorators.csrf import csrf_exempt
from redis.exceptions import RedisError

from chatbot.platform.errors import error_body
from chatbot.platform.event_bus import get_event_bus, valid_event_id
from chatbot.platform.live_events import INBOX_STREAM

from ..models import Conversation
from ..sse import _events, _release_db_connections

STAFF_STREAMS_PER_AGENT = 6  # an inbox tab holds two; a few tabs are fine


def _refuse(status: int, code: str, message: str) -> JsonResponse:
    return JsonResponse(error_body(code, message), status=status)


def _may_use_inbox(user) -> bool:
    return user.is_active and user.is_staff and user.has_perm("accounts.use_inbox")


async def _stream(request, stream: str):
    if request.method != "GET":
        response = _refuse(405, "method_not_allowed", f'Method "{request.method}" not allowed.')
        response["Allow"] = "GET"
        return response
    user = await request.auser()
    if not user.is_authenticated:
        return _refuse(401, "not_authenticated", "Log in to the admin first.")
    if not await sync_to_async(_may_use_inbox)(user):
        return _refuse(403, "permission_denied", "You may not use the inbox.")
    if stream != INBOX_STREAM and not await Conversation.objects.filter(pk=stream).aexists():
        await sync_to_async(_release_db_connections)()
        return _refuse(404, "not_found", "No such conversation.")
    await sync_to_async(_release_db_connections)()

    last_event_id = request.headers.get("Last-Event-ID") or request.GET.get("last_event_id") or ""
    if last_event_id and not valid_event_id(last_event_id):
        return _refuse(400, "validation_error", "Invalid Last-Event-ID.")
    if not last_event_id:
        # The page has just loaded what is there: only what happens from now on.
        last_event_id = f"{int(time.time() * 1000)}-0"

    limits = {f"chatdesk:sse:slots:staff:{user.pk}": STAFF_STREAMS_PER_AGENT}
    stream_id = uuid.uuid4().hex
    try:
        full = await get_event_bus().stream_slot_acquire(limits=limits, stream_id=stream_id)
    except RedisError:
        full = None  # fail open; the stream itself ends cleanly on the same error
    if full is not None:
        response = _refuse(429, "too_many_streams", "Too many inbox tabs open; close one.")
        response["Retry-After"] = "10"
        return response
    response = StreamingHttpResponse(
        _events(stream, last_event_id, list(limits), stream_id),
        content_type="text/event-stream",
    )
    response["Cache-Control"] = "no-cache, no-transform"
    response["X-Accel-Buffering"] = "no"
    return response


@csrf_exempt  # GET only (others get a JSON 405)
async def inbox_events(request):
    return await _stream(request, INBOX_STREAM)


@csrf_exempt
async def conversation_events_for_staff(request, conversation_id):
    return await _stream(request, str(conversation_id))
