"""Fitting a conversation into a token budget (used by chatbot.prompt.context.context_build).

The system prompt always comes first and is never altered (a stable prefix keeps
providers' prompt caching effective); the newest messages are kept and the oldest
dropped, so the input tokens of a turn level off however long the conversation gets.
Dropped turns are not summarised (a summary would cost a model call and change the
prefix every few turns); the customer's latest message is always kept.

Budget = min(CHAT_CONTEXT_TOKEN_BUDGET, context window - max_tokens - margin), where the
context window comes from the model catalogue (chatbot.LLMModel) when the model has a
row, else LLM_DEFAULT_CONTEXT_WINDOW. Message sizes are the `token_count` stored when
each message was written (counted once); rows from before token counting are counted here.
"""

import logging
from typing import Protocol

from django.conf import settings

from conversations.models import Message

from .tokens import TOKENS_REPLY_PRIMING, count_tokens, message_tokens

logger = logging.getLogger(__name__)


class HistoryItem(Protocol):
    """What trimming reads of a history item (chatbot.prompt.context.history_for)."""

    role: str
    content: str
    token_count: int | None


def context_window_for(model: str) -> int:
    from chatbot.routing.selectors import catalogue_windows  # cached: no query per turn

    return catalogue_windows().get(model) or settings.LLM_DEFAULT_CONTEXT_WINDOW


def context_token_budget(*, model: str, max_tokens: int | None) -> int:
    room = context_window_for(model) - (max_tokens or 0) - settings.CHAT_CONTEXT_MARGIN_TOKENS
    return max(0, min(settings.CHAT_CONTEXT_TOKEN_BUDGET, room))


def _size(message: HistoryItem, model: str) -> int:
    tokens = message.token_count
    if tokens is None:
        tokens = count_tokens(message.content, model).tokens
    return message_tokens(tokens)


def history_trim(
    *, history: list[HistoryItem], system: str, model: str, max_tokens: int | None
) -> list[HistoryItem]:
    """The newest messages of `history` (oldest first) that fit the budget with `system`."""
    if not history:
        return history
    budget = context_token_budget(model=model, max_tokens=max_tokens)
    left = budget - message_tokens(count_tokens(system, model).tokens) - TOKENS_REPLY_PRIMING
    kept: list[HistoryItem] = []
    for message in reversed(history):
        size = _size(message, model)
        if kept and size > left:
            break  # no skipping over a big message to older ones: keep the thread whole
        kept.append(message)
        left -= size
    kept.reverse()
    # Start on a customer turn: some chat templates reject an assistant message first.
    while len(kept) > 1 and kept[0].role != Message.Role.USER:
        kept.pop(0)
    if len(kept) < len(history):
        logger.debug(
            "context trimmed to %d of %d messages (budget %d tokens)",
            len(kept),
            len(history),
            budget,
        )
    return kept
