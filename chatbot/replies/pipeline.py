"""The turn pipeline: a reply generated as named steps over one `Turn`.

    claim → admit → context (+ knowledge) → knowledge-only refusal → cache → generate → finish

`reply_generate` claims the reply (chatbot.replies.lifecycle), then runs `STEPS` in order.
Each step reads and extends the `Turn`. A step that settles the reply (a refusal, a merge,
a budget stop, a cached answer, the model's answer, a failure) persists it through the
lifecycle and records how it ended with `turn.end(...)`; the remaining steps are skipped
and `finish` tells live clients, always after the write, and counts the ending in the
metrics (`turn_metrics_record`).

Extending it:
* another reason not to answer is one more check in `ADMISSION`: a function of the turn
  that may end it (the first, `defer_to_person`, settles the reply as `deferred` while a
  person handles the conversation, docs/handoff.md).

`generate` is a loop (model → tools → model, at most TOOLS_MAX_ROUNDS rounds of calls, then
one last call without tools): chatbot.tools runs the calls and frames their results as data;
every round streams through the same `ReplyStream`, so the output guard and canary checks
see all the text that follows a tool result. A side effect ends the turn with the question
the customer confirms (docs/tools.md).
"""

import dataclasses
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from accounts.selectors import ResolvedPreference, model_preference_resolve
from chatbot.cost import budgets, debounce
from chatbot.cost.response_cache import Probe, response_cache_probe, response_cache_store
from chatbot.knowledge.answering import (
    TurnKnowledge,
    answer_verdict,
    fallback_text,
    knowledge_for_turn,
    reply_citations_record,
    turn_knowledge_record,
    unsupported_answer_record,
)
from chatbot.llm import ChatMessage, ChatRequest, Completion, LLMError
from chatbot.moderation import OUTPUT, OutputBlocked, OutputGuard
from chatbot.moderation.services import message_moderate, moderation_flags_record
from chatbot.platform import generations, live_events, log_context, metrics
from chatbot.prompt.context import context_build
from chatbot.routing.router import route_stream
from chatbot.routing.selectors import hops_after_tool_results, route_plan
from chatbot.tools.runner import Toolbox
from conversations.models import Conversation, Message
from conversations.services import conversation_handoff_offer

from . import lifecycle, live

logger = logging.getLogger(__name__)

# Extend the lease at most this often while deltas flow (a write, so not per delta), and
# before each router attempt unless it was renewed (or claimed) more recently than that.
HEARTBEAT_EVERY_SECONDS = 2.0
# Deltas closer together than this are sent as one event: a fast model's tiny chunks would
# otherwise cost a Redis write and an SSE frame each. A slow stream is unaffected.
DELTA_COALESCE_SECONDS = 0.04


class LeaseLost(Exception):
    """Another worker took the reply over (ours was presumed dead): stop, write nothing."""


@dataclass(slots=True)
class Ending:
    finished: bool  # our write landed; False: the claim was lost and nothing is to be told
    outcome: str = ""  # completed | cached | failed | refused | merged | replaced | deferred
    error_code: str = ""
    last_delta: str = ""  # text live clients have not been sent yet
    requeued: list[uuid.UUID] = field(default_factory=list)  # replies sent back to the queue


@dataclass(eq=False, slots=True)
class Turn:
    """Everything one reply's generation knows, filled in step by step."""

    claimed: lifecycle.ClaimedReply
    started: float = field(default_factory=time.monotonic)
    last_beat: float = field(default_factory=time.monotonic)  # the claim set a fresh lease
    preference: ResolvedPreference | None = None
    request: ChatRequest | None = None
    knowledge: TurnKnowledge | None = None
    offer_reason: str | None = None  # set by a step that wants a person offered (finish)
    cited: bool = False  # citations were stored with the reply (its final event reads them)
    cache_probe: Probe | None = None
    ending: Ending | None = None

    @property
    def reply(self) -> Message:
        return self.claimed.reply

    @property
    def customer_id(self) -> uuid.UUID | None:
        return self.reply.conversation.customer_id

    def elapsed_ms(self) -> int:
        return int((time.monotonic() - self.started) * 1000)

    def end(
        self, finished: bool, *, outcome: str = "", error_code: str = "", last_delta: str = ""
    ) -> None:
        self.ending = Ending(
            finished=finished, outcome=outcome, error_code=error_code, last_delta=last_delta
        )

    def heartbeat(self) -> None:
        """Keep the lease while work goes on; raises LeaseLost when it is gone."""
        if time.monotonic() - self.last_beat < HEARTBEAT_EVERY_SECONDS:
            return
        self.last_beat = time.monotonic()
        if not lifecycle.reply_heartbeat(claimed=self.claimed):
            raise LeaseLost


# ---------------------------------------------------------------------------- admission
# Each check may end the turn; the first that does wins.


def defer_to_person(turn: Turn) -> None:
    """While the conversation waits for, or is with, a person, the bot says nothing: the
    reply is settled as deferred (never left pending) and no model is called."""
    if turn.reply.conversation.handling != Conversation.Handling.BOT:
        turn.end(lifecycle.reply_defer(claimed=turn.claimed), outcome="deferred")


def refuse_blocked_message(turn: Turn) -> None:
    """Moderation of the customer's message, before any model call (docs/moderation.md)."""
    first_claim = turn.reply.attempts == 1  # no verdict recorded yet: nothing to look up
    if not message_moderate(message=turn.reply.reply_to, recheck=not first_claim).blocked:
        return
    refused = lifecycle.reply_refuse(claimed=turn.claimed)
    turn.end(refused, outcome="refused")
    if refused:  # earlier messages folded into this one still need their answer
        turn.ending.requeued = lifecycle.replies_unmerge(into=turn.reply)


def fold_into_later_reply(turn: Turn) -> None:
    """Burst debounce: a later message's reply answers this one too (docs/cost-control.md)."""
    if turn.claimed.later_question is False:  # the claim saw no later message: no query
        return
    if (into_id := debounce.superseding_reply_id(reply=turn.reply)) is not None:
        turn.end(lifecycle.reply_merge(claimed=turn.claimed, into_id=into_id), outcome="merged")


def stop_over_budget(turn: Turn) -> None:
    """The budget may have run out since the message was accepted."""
    turn.preference = model_preference_resolve(user_id=turn.customer_id)
    try:
        budgets.budget_check(user_id=turn.customer_id, budget=budgets.budget_of(turn.preference))
    except budgets.BudgetExceeded:
        code = budgets.BudgetExceeded.code
        failed = lifecycle.reply_fail(
            claimed=turn.claimed, error_code=code, content=settings.BUDGET_EXCEEDED_REPLY_TEXT
        )
        turn.end(failed, outcome="failed", error_code=code)


ADMISSION: tuple[Callable[[Turn], None], ...] = (
    defer_to_person,
    refuse_blocked_message,
    fold_into_later_reply,
    stop_over_budget,
)


def admit(turn: Turn) -> None:
    for check in ADMISSION:
        check(turn)
        if turn.ending:
            return
    _status_publish(turn, status="streaming")


# ------------------------------------------------------------------- context and cache


def build_context(turn: Turn) -> None:
    question = turn.reply.reply_to
    turn.knowledge = knowledge_for_turn(
        question=question.content, widget_key_id=turn.reply.conversation.widget_key_id
    )
    turn.request = context_build(
        reply=turn.reply,
        preference=turn.preference,
        model=turn.preference.model,
        sources=turn.knowledge.sources(),
        only_from_sources=turn.knowledge.only_from_kb,
    )


def answer_without_sources(turn: Turn) -> None:
    """Knowledge-only mode and nothing good enough retrieved: say so, offer a person, and
    call no model (docs/knowledge-base.md)."""
    if not turn.knowledge.only_from_kb or turn.request.sources:
        return
    text = fallback_text(knowledge=turn.knowledge, question=turn.reply.reply_to.content)
    with transaction.atomic():
        completed = lifecycle.reply_complete(
            claimed=turn.claimed,
            content=text,
            model="",
            prompt_tokens=0,
            completion_tokens=0,
            latency_ms=turn.elapsed_ms(),
            route_reason="knowledge-only mode: no source found",
        )
        if completed:
            turn_knowledge_record(knowledge=turn.knowledge, given=(), question=turn.reply.reply_to)
    if completed:
        metrics.record_kb_answer(result="dont_know")
        turn.offer_reason = "knowledge_gap"  # a person is offered under the reply (finish)
    turn.end(completed, outcome="completed", last_delta=text)


def answer_from_cache(turn: Turn) -> None:
    """A cached answer to the same first question: no provider call at all."""
    turn.cache_probe = response_cache_probe(
        reply=turn.reply, request=turn.request, preference=turn.preference
    )
    if (hit := turn.cache_probe.hit) is None:
        return
    completed = lifecycle.reply_complete(
        claimed=turn.claimed,
        content=hit.text,
        model=hit.model,
        prompt_tokens=0,
        completion_tokens=0,
        latency_ms=0,
        cached=True,
    )
    turn.end(completed, outcome="cached", last_delta=hit.text)


# ---------------------------------------------------------------------------- generate


class ReplyStream:
    """Deltas on their way to live clients: checked by the output guard, coalesced, and
    keeping the lease alive. Publishing is best effort: when the event bus fails, the
    reply goes on and clients get the final message (now or on reconnect)."""

    def __init__(self, turn: Turn, guard: OutputGuard, *, hold: bool = False):
        self.turn = turn
        self.guard = guard
        # Hold every delta until the answer is judged (knowledge-only mode replaces an
        # unsupported answer: it must never have been shown).
        self.hold = hold
        self.unsent: list[str] = []  # shown text not yet published
        self.earlier_rounds = ""  # text of finished tool rounds: stays shown on a retry
        self.last_publish = 0.0
        self.bus_failed = False

    def on_delta(self, text: str) -> None:
        if text := self.guard.feed(text):  # may hold back a tail, or raise OutputBlocked
            self.unsent.append(text)
            if not self.hold and time.monotonic() - self.last_publish >= DELTA_COALESCE_SECONDS:
                self.flush()
        self.turn.heartbeat()

    def on_restart(self, attempt: int, model: str) -> None:
        # A new attempt after a failed one: clients drop any partial text shown so far.
        self.unsent.clear()
        self.guard.restart()
        _status_publish(self.turn, status="retrying", attempt=attempt, model=model)
        if self.earlier_rounds:  # clients dropped it with the partial text: show it again
            self.on_delta(self.earlier_rounds)

    def flush(self) -> None:
        self.last_publish = time.monotonic()
        if not self.unsent:
            return
        text = "".join(self.unsent)
        self.unsent.clear()
        if self.bus_failed:
            return
        try:
            live_events.delta_publish(
                conversation_id=self.turn.reply.conversation_id,
                reply_id=self.turn.reply.id,
                text=text,
            )
        except Exception:
            self.bus_failed = True  # once per reply: the final message still goes out
            logger.exception("reply %s: live deltas stopped; the reply goes on", self.turn.reply.id)

    def remainder(self, tail: str) -> str:
        """What clients have not been sent, once the model is done."""
        return "".join(self.unsent) + tail


@dataclass(slots=True)
class _Rounds:
    """What the rounds of one reply add up to."""

    text: str = ""
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    used_tools: bool = False

    def add(self, completion: Completion) -> None:
        self.text += completion.text
        if completion.prompt_tokens is not None:
            self.prompt_tokens = (self.prompt_tokens or 0) + completion.prompt_tokens
        if completion.completion_tokens is not None:
            self.completion_tokens = (self.completion_tokens or 0) + completion.completion_tokens


def _confirmation_text(awaiting) -> str:
    questions = "\n".join(f"- {row.label}" for row in awaiting)
    return f"\n\nPlease confirm before I go ahead:\n{questions}"


def generate(turn: Turn) -> None:
    """The model, with tools: route each round (retries, fallbacks, breaker), stream it
    through the output guard, run the calls it makes, and go on until it answers."""
    knowledge = turn.knowledge
    replace_unsupported = bool(
        knowledge and knowledge.only_from_kb and knowledge.settings.replace_unsupported
    )
    stream = ReplyStream(turn, OutputGuard.for_request(turn.request), hold=replace_unsupported)
    toolbox = Toolbox(reply=turn.reply, publish=lambda *event: _tool_status_publish(turn, *event))
    messages = [*turn.request.messages, *toolbox.resume_confirmed()]
    rounds = _Rounds(used_tools=len(messages) > len(turn.request.messages))
    hops = route_plan(customer=turn.reply.conversation.customer, preference=turn.preference)
    try:
        for round_number in range(1, settings.TOOLS_MAX_ROUNDS + 2):
            # After the last round of calls the model is asked once more, without tools.
            offer = toolbox.specs if round_number <= settings.TOOLS_MAX_ROUNDS else ()
            routed = route_stream(
                hops=hops_after_tool_results(hops)
                if any(m.role == "tool" for m in messages)
                else hops,
                request=dataclasses.replace(turn.request, messages=messages, tools=offer),
                reply_id=turn.reply.id,
                customer_id=turn.customer_id,
                on_delta=stream.on_delta,
                on_restart=stream.on_restart,
                heartbeat=turn.heartbeat,
            )
            completion = routed.completion
            rounds.add(completion)
            if not completion.tool_calls or not offer:  # calls nobody offered never run
                break
            rounds.used_tools = True
            stream.earlier_rounds = rounds.text
            stream.flush()  # the round's text reaches clients before its tool statuses
            turn.heartbeat()
            ran = toolbox.run_round(completion.tool_calls, round_number=round_number)
            if ran.awaiting:
                question = _confirmation_text(ran.awaiting)
                stream.on_delta(question)
                rounds.text += question
                break
            messages += [
                ChatMessage("assistant", completion.text, tool_calls=completion.tool_calls),
                *ran.messages,
            ]
            turn.heartbeat()
        tail = stream.guard.finish(rounds.text)
    except OutputBlocked as blocked:
        replaced = lifecycle.reply_replace_blocked(
            claimed=turn.claimed,
            blocked=blocked,
            model=turn.request.model,
            latency_ms=turn.elapsed_ms(),
        )
        turn.end(replaced, outcome="replaced")
        return
    except LLMError as error:
        logger.warning("reply %s failed: %s", turn.reply.id, error.code)
        failed = lifecycle.reply_fail(
            claimed=turn.claimed,
            error_code=error.code,
            model=getattr(error, "model", "") or turn.request.model,
            latency_ms=turn.elapsed_ms(),
            route_reason=getattr(error, "route_reason", ""),
        )
        turn.end(failed, outcome="failed", error_code=error.code)
        return
    completion = dataclasses.replace(
        completion,
        text=rounds.text,
        prompt_tokens=rounds.prompt_tokens,
        completion_tokens=rounds.completion_tokens,
    )
    content, last_delta = completion.text, stream.remainder(tail)
    sources = turn.request.sources
    verdict = answer_verdict(text=completion.text, source_count=len(sources))
    unsupported = bool(knowledge and knowledge.only_from_kb and not verdict.supported)
    if unsupported and replace_unsupported:
        content = last_delta = fallback_text(
            knowledge=knowledge, question=turn.reply.reply_to.content
        )
    # One transaction: whoever sees the reply completed sees its citations too.
    with transaction.atomic():
        completed = lifecycle.reply_complete(
            claimed=turn.claimed,
            content=content,
            model=completion.model,
            prompt_tokens=completion.prompt_tokens,
            completion_tokens=completion.completion_tokens,
            latency_ms=turn.elapsed_ms(),
            route_reason=routed.route_reason,
        )
        if completed and knowledge:
            turn_knowledge_record(knowledge=knowledge, given=sources, question=turn.reply.reply_to)
        if completed and (sources or unsupported):
            turn.cited = bool(verdict.cited) and not (unsupported and replace_unsupported)
            knowledge_answer_record(
                turn, verdict=verdict, unsupported=unsupported, text=completion.text
            )
    if completed:
        moderation_flags_record(message=turn.reply, source=OUTPUT, verdict=stream.guard.verdict)
        if not rounds.used_tools:  # a tool's answer is this customer's: never shared
            response_cache_store(probe=turn.cache_probe, completion=completion)
        if unsupported and knowledge.settings.replace_unsupported:
            turn.offer_reason = "knowledge_unsupported"
    turn.end(completed, outcome="completed", last_delta=last_delta)


def knowledge_answer_record(turn: Turn, *, verdict, unsupported: bool, text: str) -> None:
    """Citations on the reply, or the flag of an unsupported answer; counted."""
    knowledge = turn.knowledge
    if unsupported:
        replaced = knowledge.settings.replace_unsupported
        unsupported_answer_record(
            reply=turn.reply,
            verdict=verdict,
            original=text,
            replaced=replaced,
            question=turn.reply.reply_to.content,
        )
        metrics.record_kb_answer(result="unsupported")
        if replaced:
            return
    if verdict.cited:
        reply_citations_record(
            reply=turn.reply, knowledge=knowledge, given=turn.request.sources, text=text
        )
        if not unsupported:
            metrics.record_kb_answer(result="cited")
    elif not unsupported:
        metrics.record_kb_answer(result="uncited")


# ------------------------------------------------------------------------------ finish


def finish(turn: Turn) -> Message | None:
    """Tell live clients how the reply ended; it is already persisted. Count it."""
    ending = turn.ending
    if ending is None or not ending.finished:
        return None
    turn_metrics_record(turn)
    offer_person(turn)
    live.reply_final_publish(
        reply=turn.reply,
        error_code=ending.error_code,
        cited=turn.cited,
        last_delta=ending.last_delta,
    )
    if ending.requeued:  # rare: no queryset to build on every turn
        for requeued in Message.objects.filter(pk__in=ending.requeued):
            live.message_publish(message=requeued)
    return turn.reply


def _policy_reason(turn: Turn) -> str | None:
    """Why the customer should be offered a person after this ending, if they should."""
    if turn.offer_reason:  # e.g. the knowledge base had no answer (knowledge-only mode)
        return turn.offer_reason
    ending = turn.ending
    if ending.outcome in ("refused", "replaced"):
        return "policy_moderation"
    if ending.outcome != "failed":
        return None
    if ending.error_code == budgets.BudgetExceeded.code:
        return "policy_budget"
    in_a_row = settings.HANDOFF_OFFER_AFTER_FAILURES
    if in_a_row <= 0:
        return None
    latest = list(
        Message.objects.filter(
            conversation_id=turn.reply.conversation_id,
            role=Message.Role.ASSISTANT,
            status__in=[Message.Status.COMPLETED, Message.Status.FAILED],
            merged_into__isnull=True,
        )
        .order_by("-created_at", "-id")
        .values_list("status", flat=True)[:in_a_row]
    )
    if len(latest) == in_a_row and all(s == Message.Status.FAILED for s in latest):
        return "policy_failures"
    return None


def offer_person(turn: Turn) -> None:
    """The bot could not help (failures in a row, a moderation block, a spent budget, no
    answer in the knowledge base): offer a person under this reply rather than leave the
    customer with an apology."""
    if not settings.HANDOFF_ENABLED or (reason := _policy_reason(turn)) is None:
        return
    try:
        conversation_handoff_offer(
            conversation=turn.reply.conversation, reply=turn.reply, reason=reason
        )
    except Exception:
        logger.exception("reply %s: could not offer a person", turn.reply.id)


def turn_metrics_record(turn: Turn) -> None:
    """The conversation KPIs (chatdesk_replies_total...): one sample per finished turn."""
    ending = turn.ending
    metrics.record_reply_end(
        outcome=ending.outcome or ("failed" if ending.error_code else "completed"),
        error_code=ending.error_code,
        seconds=time.monotonic() - turn.started,
    )


def _status_publish(turn: Turn, **status) -> None:
    try:
        live_events.status_publish(
            conversation_id=turn.reply.conversation_id, reply_id=turn.reply.id, **status
        )
    except Exception:
        logger.exception("reply %s: could not publish its status", turn.reply.id)


def _tool_status_publish(turn: Turn, tool: str, status: str, label: str, row_id) -> None:
    try:
        live_events.tool_status_publish(
            conversation_id=turn.reply.conversation_id,
            reply_id=turn.reply.id,
            tool=tool,
            status=status,
            label=label,
            call_id=row_id,
        )
    except Exception:
        logger.exception("reply %s: could not publish a tool status", turn.reply.id)


STEPS: tuple[Callable[[Turn], None], ...] = (
    admit,
    build_context,
    answer_without_sources,
    answer_from_cache,
    generate,
)


def reply_generate(*, reply_id: uuid.UUID | str) -> Message | None:
    """Claim the reply, run the steps, tell live clients. Idempotent.

    Returns the finished reply, or None when there was nothing to do (already handled,
    held by another live worker, or gone).
    """
    claimed = lifecycle.reply_claim(reply_id=reply_id)
    if claimed is None:
        return None
    turn = Turn(claimed=claimed)
    log_context.bind(conversation_id=turn.reply.conversation_id, reply_id=turn.reply.id)
    # The knowledge base's and the tools' settings as of the turn's start, in one read.
    with generations.read_once():
        try:
            for step in STEPS:
                step(turn)
                if turn.ending:
                    break
        except LeaseLost:
            logger.warning("reply %s: lease lost mid-stream; another worker owns it", turn.reply.id)
            return None
        return finish(turn)
