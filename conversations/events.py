"""Publishing a conversation's changes to the live event bus (read by the SSE endpoint)."""

from chatbot.events import get_event_bus

from .models import Message
from .serializers import MessageSerializer

# One instance, reused: DRF builds a serializer's fields on each instantiation, a cost
# paid for every event otherwise. to_representation() keeps no state between calls.
_MESSAGE_SERIALIZER = MessageSerializer()


def message_publish(*, message: Message) -> str:
    data = _MESSAGE_SERIALIZER.to_representation(message)
    return get_event_bus().publish(str(message.conversation_id), "message", dict(data))
