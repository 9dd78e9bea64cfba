"""Machine-readable error codes of the conversations app (mapped to the API shape)."""

from chatbot.exceptions import ApplicationError


class ConversationError(ApplicationError):
    code = "conversation_error"


class ConversationClosed(ConversationError):
    code = "conversation_closed"
    status_code = 409
