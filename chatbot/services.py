"""The bot engine's one write flow: generate the reply to a customer's message."""

import logging
import time
import uuid

from django.conf import settings

from accounts.selectors import model_preference_resolve
from conversations import services as conversation_services
from conversations.events import message_publish
from conversations.models import Message

from . import budgets, debounce
from .context import context_build
from .events import get_event_bus
from .llm import LLMError
from .moderation import OUTPUT, OutputBlocked, OutputGuard
from .moderation import services as moderation_services
from .response_cache import response_cache_probe, response_cache_store
from .routing.router import route_stream
from .routing.selectors import route_plan

logger = logging.getLogger(__name__)

# Extend the lease at most this often while deltas flow (a write, so not per delta), and
# before each router attempt unless it was renewed (or claimed) more recently than that.
HEARTBEAT_EVERY_SECONDS = 2.0
# Deltas closer together than this are sent as one event: a fast model's tiny chunks would
# otherwise cost a Redis write and an SSE frame each. A slow stream is unaffected.
DELTA_COALESCE_SECONDS = 0.015


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
    last_beat = time.monotonic()  # the claim set a fresh lease
    # Moderation of the customer's message, before any model call (docs/moderation.md).
    first_claim = reply.attempts == 1  # no verdict recorded yet: nothing to look up
    if moderation_services.message_moderate(
        message=reply.reply_to, recheck=not first_claim
    ).blocked:
        refused = _publish_final(reply, moderation_services.reply_refuse(claimed=claimed))
        if refused:  # earlier messages folded into this one still need their answer
            for unmerged in conversation_services.replies_unmerge(into=reply):
                message_publish(message=Message.objects.get(pk=unmerged))
        return refused
    # Burst debounce: a later message's reply answers this one too (docs/cost-control.md).
    if (into_id := debounce.superseding_reply_id(reply=reply)) is not None:
        return _publish_final(
            reply, conversation_services.reply_merge(claimed=claimed, into_id=into_id)
        )
    conversation_id = str(reply.conversation_id)
    bus = get_event_bus()
    bus.publish(conversation_id, "status", {"reply_id": str(reply.id), "status": "streaming"})

    preference = model_preference_resolve(user_id=reply.conversation.customer_id)
    try:  # the budget may have run out since the message was accepted
        budgets.budget_check(
            user_id=reply.conversation.customer_id, budget=budgets.budget_of(preference)
        )
    except budgets.BudgetExceeded:
        finished = conversation_services.reply_fail(
            claimed=claimed,
            error_code=budgets.BudgetExceeded.code,
            content=settings.BUDGET_EXCEEDED_REPLY_TEXT,
        )
        return _publish_final(reply, finished, error_code=budgets.BudgetExceeded.code)
    request = context_build(reply=reply, preference=preference, model=preference.model)
    probe = response_cache_probe(reply=reply, request=request, preference=preference)
    if probe.hit is not None:  # no provider call at all
        bus.publish(conversation_id, "delta", {"reply_id": str(reply.id), "text": probe.hit.text})
        finished = conversation_services.reply_complete(
            claimed=claimed,
            content=probe.hit.text,
            model=probe.hit.model,
            prompt_tokens=0,
            completion_tokens=0,
            latency_ms=0,
            cached=True,
        )
        return _publish_final(reply, finished)
    guard = OutputGuard.for_request(request)  # checks the reply as it streams

    unsent: list[str] = []  # shown text not yet published (see DELTA_COALESCE_SECONDS)
    last_publish = 0.0

    def flush_deltas() -> None:
        nonlocal last_publish
        if unsent:
            text = "".join(unsent)
            unsent.clear()
            bus.publish(conversation_id, "delta", {"reply_id": str(reply.id), "text": text})
        last_publish = time.monotonic()

    def on_delta(text: str) -> None:
        if text := guard.feed(text):  # may hold back a short tail, or raise OutputBlocked
            unsent.append(text)
            if time.monotonic() - last_publish >= DELTA_COALESCE_SECONDS:
                flush_deltas()
        heartbeat()

    def heartbeat() -> None:
        nonlocal last_beat
        if time.monotonic() - last_beat < HEARTBEAT_EVERY_SECONDS:
            return
        last_beat = time.monotonic()
        if not conversation_services.reply_heartbeat(claimed=claimed):
            raise _LeaseLost

    def on_restart(attempt: int, model: str) -> None:
        # A new attempt after a failed one: clients drop any partial text shown so far.
        unsent.clear()
        guard.restart()
        bus.publish(
            conversation_id,
            "status",
            {"reply_id": str(reply.id), "status": "retrying", "attempt": attempt, "model": model},
        )

    started = time.monotonic()
    try:
        routed = route_stream(
            hops=route_plan(customer=reply.conversation.customer, preference=preference),
            request=request,
            reply_id=reply.id,
            customer_id=reply.conversation.customer_id,
            on_delta=on_delta,
            on_restart=on_restart,
            heartbeat=heartbeat,
        )
        tail = guard.finish(routed.completion.text)
    except _LeaseLost:
        logger.warning("reply %s: lease lost mid-stream; another worker owns it", reply.id)
        return None
    except OutputBlocked as blocked:
        finished = moderation_services.reply_replace_blocked(
            claimed=claimed,
            blocked=blocked,
            model=request.model,
            latency_ms=int((time.monotonic() - started) * 1000),
        )
        return _publish_final(reply, finished)
    except LLMError as error:
        logger.warning("reply %s failed: %s", reply.id, error.code)
        finished = conversation_services.reply_fail(
            claimed=claimed,
            error_code=error.code,
            model=getattr(error, "model", "") or request.model,
            latency_ms=int((time.monotonic() - started) * 1000),
            route_reason=getattr(error, "route_reason", ""),
        )
        return _publish_final(reply, finished, error_code=error.code)

    if tail:
        unsent.append(tail)
    flush_deltas()
    completion = routed.completion
    finished = conversation_services.reply_complete(
        claimed=claimed,
        content=completion.text,
        model=completion.model,
        prompt_tokens=completion.prompt_tokens,
        completion_tokens=completion.completion_tokens,
        latency_ms=int((time.monotonic() - started) * 1000),
        route_reason=routed.route_reason,
    )
    if finished:
        moderation_services.moderation_flags_record(
            message=reply, source=OUTPUT, verdict=guard.verdict
        )
        response_cache_store(probe=probe, completion=completion)
    return _publish_final(reply, finished)


def _publish_final(reply: Message, finished: bool, error_code: str = "") -> Message | None:
    """Tell live clients how a reply ended (`reply` carries what the finishing write set)."""
    if not finished:
        return None
    if error_code:
        get_event_bus().publish(
            str(reply.conversation_id),
            "error",
            {"reply_id": str(reply.id), "code": error_code, "message": reply.content},
        )
    message_publish(message=reply)
    return reply


def replies_recover_stuck() -> conversation_services.SweepReport:
    """Sweep stuck replies and tell live clients about the ones given up on."""
    report = conversation_services.replies_sweep_stuck()
    for reply in Message.objects.filter(pk__in=report.failed):
        _publish_final(reply, True, error_code=reply.error_code)
    return report
