"""Publishing a conversation's changes to the live event bus (read by the SSE endpoint)."""

from chatbot.events import get_event_bus

from .models import Message
from .serializers import MessageSerializer


def message_publish(*, message: Message) -> str:
    data = MessageSerializer(message).data
    return get_event_bus().publish(str(message.conversation_id), "message", dict(data))
