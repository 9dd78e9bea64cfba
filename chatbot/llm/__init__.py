"""The LLM edge: a small interface (`stream`) over any OpenAI-compatible server.

`get_provider()` picks the provider from settings: the OpenAI-compatible client when a key
or base URL is configured, otherwise the offline responder.
"""

from django.conf import settings

from .offline import OFFLINE_MODEL, OfflineResponder
from .types import ChatMessage, ChatRequest, Completion, LLMError, LLMProvider

__all__ = [
    "OFFLINE_MODEL",
    "ChatMessage",
    "ChatRequest",
    "Completion",
    "LLMError",
    "LLMProvider",
    "OfflineResponder",
    "get_provider",
    "llm_configured",
]


def llm_configured() -> bool:
    return bool(settings.OPENAI_API_KEY or settings.OPENAI_BASE_URL)


def get_provider() -> LLMProvider:
    if not llm_configured():
        return OfflineResponder(word_delay_ms=settings.OFFLINE_RESPONDER_DELAY_MS)
    from .openai_provider import OpenAIProvider

    return OpenAIProvider(
        base_url=settings.OPENAI_BASE_URL or None,
        api_key=settings.OPENAI_API_KEY,
        connect_timeout=settings.LLM_CONNECT_TIMEOUT,
        read_timeout=settings.LLM_READ_TIMEOUT,
        max_retries=0,  # the router (chatbot.routing) is the one retry layer
    )
