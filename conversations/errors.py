"""Machine-readable error codes of the conversations app (mapped to the API shape)."""

from chatbot.platform.errors import ApplicationError


class ConversationError(ApplicationError):
    code = "conversation_error"


class ConversationNotFound(ConversationError):
    """Not one of the requesting customer's conversations (the API's plain 404)."""

    code = "not_found"
    status_code = 404


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


class HandoffError(ConversationError):
    """A handoff transition that the conversation's state does not allow (docs/handoff.md)."""

    code = "handoff_invalid_transition"
    status_code = 409


class HandoffUnavailable(ConversationError):
    """HANDOFF_ENABLED is off: there is no one to hand over to."""

    code = "handoff_unavailable"
    status_code = 409


class NotStaff(ConversationError):
    code = "not_staff"
    status_code = 403


class FeedbackInvalid(ConversationError):
    code = "feedback_invalid"
    status_code = 400
