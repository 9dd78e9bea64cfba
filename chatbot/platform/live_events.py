"""The live-event contract: every event a conversation's stream carries, and its payload.

The worker publishes these, the SSE view relays them (`GET /conversations/{id}/events/`),
the widget and the staff inbox read them, and docs/api.md describes them. Nothing else
spells an event name: publishers call the functions below, so a payload cannot drift.

| event          | payload                                                               |
|----------------|-----------------------------------------------------------------------|
| `delta`        | `DeltaPayload`: the next piece of a reply being generated              |
| `message`      | a message as the API shows it (`MessagePayload`): new, or a reply's end |
| `status`       | `StatusPayload`: `streaming`, or `retrying` (drop the partial text)    |
| `error`        | `ErrorPayload`: the reply failed; its final `message` follows          |
| `handoff`      | `HandoffPayload`: the conversation's handoff state changed             |
| `agent_joined` | `AgentJoinedPayload`: a person took the conversation over              |
| `agent_left`   | `AgentLeftPayload`: the person handed the conversation back to the bot |
| `closed`       | `ClosedPayload`: the conversation was closed (the widget asks for CSAT) |
| `tool_status`  | `ToolStatusPayload`: the bot is using a tool ("Looking up your order…")|

A staff member's message is a `message` event with `role: "staff"` and `author_name` (a
person, not the bot). Clients ignore event names they do not know, so adding one is
backwards compatible.

Staff see more than customers: internal notes and queue changes go to the **inbox stream**
(`INBOX_STREAM`, one for all staff, never readable through a customer's conversation
stream) as `inbox` events carrying `InboxPayload`.
"""

from enum import StrEnum
from typing import Any, NotRequired, TypedDict

from .event_bus import get_event_bus


class LiveEvent(StrEnum):
    DELTA = "delta"
    MESSAGE = "message"
    STATUS = "status"
    ERROR = "error"
    HANDOFF = "handoff"
    AGENT_JOINED = "agent_joined"
    AGENT_LEFT = "agent_left"
    CLOSED = "closed"
    TOOL_STATUS = "tool_status"
    INBOX = "inbox"  # on INBOX_STREAM only


# The staff-wide stream's id on the event bus. Conversation streams are keyed by UUIDs,
# and the customer's SSE view only opens the customer's own conversations, so no customer
# can read it.
INBOX_STREAM = "inbox"


class DeltaPayload(TypedDict):
    reply_id: str
    text: str


class StatusPayload(TypedDict):
    reply_id: str
    status: str  # "streaming" | "retrying"
    attempt: NotRequired[int]  # with "retrying": the attempt about to start
    model: NotRequired[str]  # with "retrying": the model it goes to


class ErrorPayload(TypedDict):
    reply_id: str
    code: str  # the reply's error_code
    message: str  # the text the customer is shown


# The API's message representation (conversations.serializers.MessageSerializer).
MessagePayload = dict[str, Any]


class HandoffPayload(TypedDict):
    state: str  # Conversation.handling after the change: bot | waiting | human | followup
    reason: str  # why: customer_request, policy_*, timeout, outside_hours, released...
    # With "waiting": the typical pickup time lately, when there is enough history.
    estimated_wait_seconds: NotRequired[int]
    # With "followup": the customer may leave an email address for the answer.
    email_requested: NotRequired[bool]


class AgentJoinedPayload(TypedDict):
    agent_name: str  # the name staff chose to show customers, never an internal id


class AgentLeftPayload(TypedDict):
    agent_name: str


class ClosedPayload(TypedDict):
    reason: str


class InboxPayload(TypedDict):
    conversation_id: str
    # what changed: message | handoff_requested | assigned | taken_over | released |
    # closed | pickup_timeout | followup_requested | note | handoff_offered
    change: str
    handling: str


class ToolStatusPayload(TypedDict):
    reply_id: str
    tool: str
    status: str  # "running" | "done" | "failed" | "needs_confirmation" | "cancelled"
    label: str  # what the widget shows
    # The ledger row (chatbot.tools.models.ToolCall): with "needs_confirmation", the id the
    # widget confirms or cancels (POST /conversations/{id}/tool-calls/{call_id}/confirm/).
    call_id: NotRequired[str]


def _publish(conversation_id: object, event: LiveEvent, payload: dict) -> str:
    return get_event_bus().publish(str(conversation_id), event.value, payload)


def delta_publish(*, conversation_id: object, reply_id: object, text: str) -> str:
    return _publish(
        conversation_id, LiveEvent.DELTA, DeltaPayload(reply_id=str(reply_id), text=text)
    )


def status_publish(
    *,
    conversation_id: object,
    reply_id: object,
    status: str,
    attempt: int | None = None,
    model: str | None = None,
) -> str:
    payload = StatusPayload(reply_id=str(reply_id), status=status)
    if attempt is not None:
        payload["attempt"] = attempt
    if model is not None:
        payload["model"] = model
    return _publish(conversation_id, LiveEvent.STATUS, payload)


def error_publish(*, conversation_id: object, reply_id: object, code: str, message: str) -> str:
    payload = ErrorPayload(reply_id=str(reply_id), code=code, message=message)
    return _publish(conversation_id, LiveEvent.ERROR, payload)


def tool_status_publish(
    *,
    conversation_id: object,
    reply_id: object,
    tool: str,
    status: str,
    label: str,
    call_id: object | None = None,
) -> str:
    payload = ToolStatusPayload(reply_id=str(reply_id), tool=tool, status=status, label=label)
    if call_id is not None:
        payload["call_id"] = str(call_id)
    return _publish(conversation_id, LiveEvent.TOOL_STATUS, payload)


def message_event_publish(*, conversation_id: object, payload: MessagePayload) -> str:
    return _publish(conversation_id, LiveEvent.MESSAGE, payload)


def message_events_publish(*, conversation_id: object, payloads: list[MessagePayload]) -> list[str]:
    """Several `message` events of one conversation in one round trip (a turn's question and
    its pending reply)."""
    return get_event_bus().publish_many(
        str(conversation_id), [(LiveEvent.MESSAGE.value, payload) for payload in payloads]
    )


def reply_end_publish(
    *,
    conversation_id: object,
    reply_id: object,
    last_delta: str,
    error: tuple[str, str] | None,
    payload: MessagePayload,
) -> list[str]:
    """The end of a reply in one round trip: its last `delta` (if any text is left), an
    `error` (`(code, message)`) when it failed, and its final `message`, in that order."""
    events: list[tuple[str, dict]] = []
    if last_delta:
        events.append(
            (LiveEvent.DELTA.value, DeltaPayload(reply_id=str(reply_id), text=last_delta))
        )
    if error is not None:
        code, message = error
        events.append(
            (
                LiveEvent.ERROR.value,
                ErrorPayload(reply_id=str(reply_id), code=code, message=message),
            )
        )
    events.append((LiveEvent.MESSAGE.value, payload))
    return get_event_bus().publish_many(str(conversation_id), events)


def handoff_publish(
    *,
    conversation_id: object,
    state: str,
    reason: str,
    estimated_wait_seconds: int | None = None,
    email_requested: bool = False,
) -> str:
    payload = HandoffPayload(state=state, reason=reason)
    if estimated_wait_seconds is not None:
        payload["estimated_wait_seconds"] = int(estimated_wait_seconds)
    if email_requested:
        payload["email_requested"] = True
    return _publish(conversation_id, LiveEvent.HANDOFF, payload)


def agent_joined_publish(*, conversation_id: object, agent_name: str) -> str:
    return _publish(
        conversation_id, LiveEvent.AGENT_JOINED, AgentJoinedPayload(agent_name=agent_name)
    )


def agent_left_publish(*, conversation_id: object, agent_name: str) -> str:
    return _publish(conversation_id, LiveEvent.AGENT_LEFT, AgentLeftPayload(agent_name=agent_name))


def closed_publish(*, conversation_id: object, reason: str) -> str:
    return _publish(conversation_id, LiveEvent.CLOSED, ClosedPayload(reason=reason))


def inbox_publish(*, conversation_id: object, change: str, handling: str) -> str:
    """Tell staff's inbox that a conversation changed (never the customer's stream)."""
    payload = InboxPayload(conversation_id=str(conversation_id), change=change, handling=handling)
    return get_event_bus().publish(INBOX_STREAM, LiveEvent.INBOX.value, payload)
