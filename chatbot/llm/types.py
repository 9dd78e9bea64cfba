"""Plain data the rest of the code sees; nothing here knows about the openai SDK."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant"
    content: str
    # Reference material (knowledge-base sources), not instructions: the reply may quote it,
    # so the output guard does not treat it as a system prompt that must not leak.
    reference: bool = False


@dataclass(frozen=True, slots=True)
class KnowledgeSource:
    """A knowledge-base source given to the model as `[number]` (chatbot.knowledge)."""

    number: int
    title: str
    text: str
    heading: str = ""
    url: str = ""
    chunk_id: int | None = None  # which chunk it is (for the reply's citations)


@dataclass(frozen=True, slots=True)
class ChatRequest:
    model: str
    messages: list[ChatMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    # An opaque, non-personal end-user id (providers use it for abuse monitoring).
    user: str | None = None
    # The knowledge-base sources already written into `messages`, as data: the offline
    # responder answers from them (it cannot search), and they are what a reply may cite.
    sources: tuple[KnowledgeSource, ...] = ()


@dataclass(frozen=True, slots=True)
class Completion:
    text: str
    model: str
    prompt_tokens: int | None
    completion_tokens: int | None
    finish_reason: str | None
    latency_ms: int
    ttft_ms: int | None = None


@dataclass(slots=True)
class LLMError(Exception):
    """A failed model call, classified so callers can decide on retry or fallback."""

    code: str  # rate_limited | timeout | connection_error | provider_error | bad_request | ...
    message: str = ""
    retryable: bool = False
    status: int | None = None
    retry_after: float | None = None

    def __str__(self) -> str:
        return f"{self.code}: {self.message}" if self.message else self.code


DeltaCallback = Callable[[str], None]


class LLMProvider(Protocol):
    name: str

    def stream(self, request: ChatRequest, on_delta: DeltaCallback) -> Completion:
        """Generate a reply, calling `on_delta` with each new piece of text as it arrives."""
        ...


@dataclass(frozen=True, slots=True)
class ModerationResult:
    """The provider's moderation verdict over one or more texts, merged."""

    flagged: bool
    categories: list[str]  # the flagged categories, in the provider's names
    scores: dict[str, float]  # highest score per category over all texts
    model: str


def estimate_tokens(text: str) -> int:
    """Tokens by rule of thumb (4 characters each), where no tokenizer knows the model."""
    return math.ceil(len(text) / 4)
