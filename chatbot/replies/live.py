"""Telling live clients what happened to a turn, through the live-event contract.

Every function here is called after the write it reports has been persisted, and none of
them raises: a failing event bus costs live clients an update (they catch up from the
message list on reconnect), never a reply, a second model call or a lost message.
"""

import logging

from chatbot.platform import live_events
from conversations.models import Message
from conversations.payloads import message_payload as _payload

logger = logging.getLogger(__name__)


def message_payload(message: Message, *, cited: bool = True) -> live_events.MessagePayload:
    # The API's shape, without DRF (conversations.payloads).
    return _payload(message, cited=cited)


def message_publish(*, message: Message, cited: bool = True) -> bool:
    """A message as the API shows it: new, or a reply in its final state."""
    try:
        live_events.message_event_publish(
            conversation_id=message.conversation_id, payload=message_payload(message, cited=cited)
        )
    except Exception:
        logger.exception("message %s: could not publish its live event", message.pk)
        return False
    return True


def messages_publish(*, messages: list[Message]) -> bool:
    """New messages of one conversation, in order, in one round trip to the bus."""
    try:
        live_events.message_events_publish(
            conversation_id=messages[0].conversation_id,
            payloads=[message_payload(message) for message in messages],
        )
    except Exception:
        logger.exception("messages %s: could not publish their live events", messages[0].pk)
        return False
    return True


def reply_final_publish(
    *, reply: Message, error_code: str = "", cited: bool = True, last_delta: str = ""
) -> bool:
    """How a reply ended, in one round trip to the bus: the text clients have not been
    sent yet (`last_delta`), an `error` event when it failed, then its final `message`."""
    try:
        live_events.reply_end_publish(
            conversation_id=reply.conversation_id,
            reply_id=reply.pk,
            last_delta=last_delta,
            error=(error_code, reply.content) if error_code else None,
            payload=message_payload(reply, cited=cited),
        )
    except Exception:
        logger.exception("reply %s: could not publish its end", reply.pk)
        return False
    return True
