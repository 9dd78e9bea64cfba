"""A clearly labelled responder that needs no network, so the demo works anywhere."""

import re
import time

from .types import ChatRequest, Completion, DeltaCallback, estimate_tokens

OFFLINE_MODEL = "offline-responder"

_GREETING = re.compile(r"\b(hi|hello|hey|你好|您好)\b", re.IGNORECASE)


class OfflineResponder:
    name = "offline"

    def __init__(self, *, word_delay_ms: int = 0):
        self.word_delay = word_delay_ms / 1000

    def compose(self, question: str) -> str:
        question = " ".join(question.split())
        opening = "Hello! " if _GREETING.search(question) else ""
        quoted = question if len(question) <= 200 else question[:197] + "..."
        return (
            f"{opening}I'm the **offline demo responder**: no language model is configured "
            f"on this server, so I can't really answer yet.\n\n"
            f'You asked: "{quoted}"\n\n'
            "To get real answers, an operator sets `OPENAI_API_KEY` (and `OPENAI_BASE_URL` "
            "for any OpenAI-compatible server) and restarts Chatdesk."
        )

    def stream(self, request: ChatRequest, on_delta: DeltaCallback) -> Completion:
        started = time.monotonic()
        question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        text = self.compose(question)
        words = re.findall(r"\S+\s*|\s+", text)
        for word in words:
            if self.word_delay:
                time.sleep(self.word_delay)
            on_delta(word)
        return Completion(
            text=text,
            model=OFFLINE_MODEL,
            prompt_tokens=max(1, sum(estimate_tokens(m.content) for m in request.messages)),
            completion_tokens=max(1, estimate_tokens(text)),
            finish_reason="stop",
            latency_ms=int((time.monotonic() - started) * 1000),
            ttft_ms=0,
        )
