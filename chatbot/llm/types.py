"""Plain data the rest of the code sees; nothing here knows about the openai SDK."""

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class ToolCallRequest:
    """A function call the model asked for: its id, the tool's name, the raw JSON arguments."""

    id: str
    name: str
    arguments: str


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool offered to the model (the `tools` API): name, description, JSON Schema."""

    name: str
    description: str
    parameters: dict


@dataclass(frozen=True, slots=True)
class ChatMessage:
    role: str  # "system" | "user" | "assistant" | "tool"
    content: str
    # An assistant turn that called tools, and a tool result answering one of its calls.
    tool_calls: tuple[ToolCallRequest, ...] = ()
    tool_call_id: str = ""
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
    # Tools the model may call; empty: a plain chat request (no `tools` sent).
    tools: tuple[ToolSpec, ...] = ()
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
    # finish_reason "tool_calls": the calls to run before the model can go on.
    tool_calls: tuple[ToolCallRequest, ...] = ()


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
