"""The bot engine's one write flow: generate the reply to a customer's message."""

import logging
import time
import uuid

from accounts.selectors import model_preference_resolve
from conversations import services as conversation_services
from conversations.events import message_publish
from conversations.models import Message

from .context import context_build
from .events import get_event_bus
from .llm import Completion, LLMError, get_provider

logger = logging.getLogger(__name__)

# Extend the lease at most this often while deltas flow (a write, so not per delta).
HEARTBEAT_EVERY_SECONDS = 2.0


class _LeaseLost(Exception):
    pass


def reply_generate(*, reply_id: uuid.UUID | str) -> Message | None:
    """Claim the reply, stream it from the model, persist it. Idempotent.

    Returns the finished reply, or None when there was nothing to do (already handled,
    held by another live worker, or gone).
    """
    claimed = conversation_services.reply_claim(reply_id=reply_id)
    if claimed is None:
        return None
    reply = claimed.reply
    conversation_id = str(reply.conversation_id)
    bus = get_event_bus()
    bus.publish(conversation_id, "status", {"reply_id": str(reply.id), "status": "streaming"})

    preference = model_preference_resolve(user=reply.conversation.customer)
    request = context_build(reply=reply, preference=preference, model=preference.model)
    provider = get_provider()
    last_beat = time.monotonic()

    def on_delta(text: str) -> None:
        nonlocal last_beat
        bus.publish(conversation_id, "delta", {"reply_id": str(reply.id), "text": text})
        if time.monotonic() - last_beat >= HEARTBEAT_EVERY_SECONDS:
            last_beat = time.monotonic()
            if not conversation_services.reply_heartbeat(claimed=claimed):
                raise _LeaseLost

    started = time.monotonic()
    try:
        completion: Completion = provider.stream(request, on_delta)
    except _LeaseLost:
        logger.warning("reply %s: lease lost mid-stream; another worker owns it", reply.id)
        return None
    except LLMError as error:
        logger.warning("reply %s failed: %s", reply.id, error.code)
        finished = conversation_services.reply_fail(
            claimed=claimed, error_code=error.code, model=request.model,
            latency_ms=int((time.monotonic() - started) * 1000))
        return _publish_final(reply.id, finished, error_code=error.code)

    finished = conversation_services.reply_complete(
        claimed=claimed, content=completion.text, model=completion.model,
        prompt_tokens=completion.prompt_tokens, completion_tokens=completion.completion_tokens,
        latency_ms=completion.latency_ms)
    return _publish_final(reply.id, finished)


def _publish_final(reply_id: uuid.UUID, finished: bool, error_code: str = "") -> Message | None:
    if not finished:
        return None
    reply = Message.objects.get(pk=reply_id)
    if error_code:
        get_event_bus().publish(str(reply.conversation_id), "error",
                                {"reply_id": str(reply.id), "code": error_code,
                                 "message": reply.content})
    message_publish(message=reply)
    return reply


def replies_recover_stuck() -> conversation_services.SweepReport:
    """Sweep stuck replies and tell live clients about the ones given up on."""
    report = conversation_services.replies_sweep_stuck()
    for reply in Message.objects.filter(pk__in=report.failed):
        get_event_bus().publish(str(reply.conversation_id), "error",
                                {"reply_id": str(reply.id), "code": reply.error_code,
                                 "message": reply.content})
        message_publish(message=reply)
    return report
