"""OpenAI-compatible stub LLM server for tests and benchmarks.

Run standalone with ``python -m tests.stub_llm --port 8999``; see :mod:`tests.stub_llm.server`.
"""

from tests.stub_llm.server import (
    Action,
    ChatAction,
    CutStream,
    Echo,
    Embeddings,
    Endpoint,
    Error,
    Hang,
    MalformedJSON,
    Moderation,
    RecordedRequest,
    Reply,
    Reset,
    ScriptEntry,
    StubLLMServer,
    ToolCall,
    ToolCalls,
    estimate_tokens,
    split_text,
)

__all__ = [
    "Action",
    "ChatAction",
    "CutStream",
    "Echo",
    "Embeddings",
    "Endpoint",
    "Error",
    "Hang",
    "MalformedJSON",
    "Moderation",
    "RecordedRequest",
    "Reply",
    "Reset",
    "ScriptEntry",
    "StubLLMServer",
    "ToolCall",
    "ToolCalls",
    "estimate_tokens",
    "split_text",
]
