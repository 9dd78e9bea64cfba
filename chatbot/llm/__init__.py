"""The LLM edge: a small interface (`stream`) over any OpenAI-compatible server.

Which provider answers a reply is decided by `chatbot.routing` (the catalogue, or settings:
the OpenAI-compatible client when a key or base URL is configured, otherwise the offline
responder).
"""

from django.conf import settings

from .offline import OFFLINE_MODEL, OfflineResponder
from .types import (
    ChatMessage,
    ChatRequest,
    Completion,
    KnowledgeSource,
    LLMError,
    LLMProvider,
    ToolCallRequest,
    ToolSpec,
)

__all__ = [
    "OFFLINE_MODEL",
    "ChatMessage",
    "ChatRequest",
    "Completion",
    "KnowledgeSource",
    "LLMError",
    "LLMProvider",
    "OfflineResponder",
    "ToolCallRequest",
    "ToolSpec",
    "llm_configured",
]


def llm_configured() -> bool:
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)
