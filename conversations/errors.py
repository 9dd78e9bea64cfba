"""Machine-readable error codes of the conversations app (mapped to the API shape)."""

from chatbot.platform.errors import ApplicationError


class ConversationError(ApplicationError):
    code = "conversation_error"


class ConversationClosed(ConversationError):
    code = "conversation_closed"
    status_code = 409


class ConversationMessageLimit(ConversationError):
    """CHAT_MAX_MESSAGES_PER_CONVERSATION reached (docs/cost-control.md)."""

    code = "conversation_message_limit"
    status_code = 409


class TooManyPendingReplies(ConversationError):
    """CHAT_MAX_CONCURRENT_REPLIES replies of this customer are still being answered."""

    code = "too_many_pending_replies"
    status_code = 429
