"""Built-in tools: in-process functions offered to the model like HTTP tools.

A built-in is registered with `@builtin(...)` (chatbot/tools/builtins.py) and enabled by
name in TOOLS_BUILTINS. `available` keeps a built-in out of the model's list while the
part of Chatdesk it uses is switched off (the handoff, HANDOFF_ENABLED).
"""

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from conversations.models import Conversation, Message


@dataclass(frozen=True, slots=True)
class ToolContext:
    """Who a call is for, filled in by the server (never by the model)."""

    conversation: Conversation
    reply: Message
    external_id: str | None  # the verified customer's id on the host site; None: anonymous
    widget_key_id: Any


Handler = Callable[[ToolContext, dict], Any]  # a JSON-serialisable result


@dataclass(frozen=True, slots=True)
class Builtin:
    name: str
    description: str
    parameters: dict
    handler: Handler
    read_only: bool = True
    needs_identity: bool = False
    status_label: str = ""
    confirmation_label: str = ""
    available: Callable[[], bool] = field(default=lambda: True)


BUILTINS: dict[str, Builtin] = {}


def builtin(
    *,
    name: str,
    description: str,
    parameters: dict | None = None,
    read_only: bool = True,
    needs_identity: bool = False,
    status_label: str = "",
    confirmation_label: str = "",
    available: Callable[[], bool] = lambda: True,
) -> Callable[[Handler], Handler]:
    def register(handler: Handler) -> Handler:
        BUILTINS[name] = Builtin(
            name=name,
            description=description,
            parameters=parameters
            or {"type": "object", "properties": {}, "additionalProperties": False},
            handler=handler,
            read_only=read_only,
            needs_identity=needs_identity,
            status_label=status_label,
            confirmation_label=confirmation_label,
            available=available,
        )
        return handler

    return register
