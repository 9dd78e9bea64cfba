"""Machine-readable error codes of the tools app (mapped to the API shape)."""

from chatbot.platform.errors import ApplicationError


class ToolError(ApplicationError):
    code = "tool_error"


class ToolCallNotFound(ToolError):
    code = "tool_call_not_found"
    status_code = 404


class ToolCallAlreadyDecided(ToolError):
    code = "tool_call_already_decided"
    status_code = 409
