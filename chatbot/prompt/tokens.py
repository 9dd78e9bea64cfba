"""Token counting with tiktoken, offline.

tiktoken fetches its BPE files from the internet on first use (with no timeout). Chatdesk
ships the encodings current chat models use in `chatbot/tiktoken_cache/` (tiktoken's own
cache layout, see the README there) and points `TIKTOKEN_CACHE_DIR` at it. Before tiktoken
is asked for an encoding, the file is checked here (present, SHA-256 as tiktoken expects),
so tiktoken never reaches for the network. When that cannot work (a file missing or
corrupt, an old encoding we do not ship) the count falls back to an explicit estimate,
chars / 4, flagged `estimated=True`: a count is never a crash and never a hang.

Models tiktoken does not know (Llama, Mistral, ... behind Ollama/vLLM) are counted with
`TOKEN_COUNT_DEFAULT_ENCODING` and also flagged `estimated=True`: close, but not their own
tokenizer.
"""

import hashlib
import logging
import os
import threading
from dataclasses import dataclass
from functools import cache
from pathlib import Path

from django.conf import settings

from chatbot.llm.types import estimate_tokens

logger = logging.getLogger(__name__)

_BLOB = "https://openaipublic.blob.core.windows.net/encodings/"
# Encoding -> (the URL tiktoken loads it from, the SHA-256 tiktoken expects).
_SHIPPED = {
    "o200k_base": (
        _BLOB + "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    ),
    "cl100k_base": (
        _BLOB + "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
    ),
}
# Encodings built on a shipped file's ranks.
_SHIPPED["o200k_harmony"] = _SHIPPED["o200k_base"]

# Per chat message, the wire format adds a few tokens (role, separators); plus the reply's
# priming. OpenAI's cookbook figures for current models; close enough for others.
TOKENS_PER_MESSAGE = 3
TOKENS_REPLY_PRIMING = 3

_lock = threading.Lock()


@dataclass(frozen=True, slots=True)
class TokenCount:
    tokens: int
    estimated: bool  # True: not the model's own tokenizer (chars / 4, or a stand-in encoding)


def cache_file(encoding_name: str) -> Path | None:
    if encoding_name not in _SHIPPED:
        return None
    url, _ = _SHIPPED[encoding_name]
    # tiktoken's own cache key (SHA-1 of the URL), not a security use.
    digest = hashlib.sha1(url.encode(), usedforsecurity=False).hexdigest()
    return Path(settings.TIKTOKEN_CACHE_DIR) / digest


@cache
def _verified(encoding_name: str) -> bool:
    path = cache_file(encoding_name)
    if path is None:
        return False
    try:
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        logger.warning(
            "tiktoken file for %s missing at %s: token counts are estimates", encoding_name, path
        )
        return False
    if digest != _SHIPPED[encoding_name][1]:
        logger.error("tiktoken file %s has the wrong SHA-256: token counts are estimates", path)
        return False
    return True


@cache
def _encoding(encoding_name: str):
    """The tiktoken Encoding, or None when it cannot be loaded without the network."""
    if not _verified(encoding_name):
        return None
    # tiktoken reads the directory from the environment; set it before its first load.
    os.environ["TIKTOKEN_CACHE_DIR"] = str(settings.TIKTOKEN_CACHE_DIR)
    import tiktoken

    with _lock:  # one load per process, even with threads racing for the first count
        try:
            return tiktoken.get_encoding(encoding_name)
        except Exception:  # a count must never fail a request
            logger.exception("could not load tiktoken encoding %s", encoding_name)
            return None


@cache
def encoding_for(model: str) -> tuple[str, bool]:
    """(encoding name, whether it is the model's own) for a model name."""
    import tiktoken

    try:
        return tiktoken.encoding_name_for_model(model), True
    except KeyError:
        # Provider prefixes ("openai/gpt-4o") and fine-tune names still resolve.
        base = model.rsplit("/", 1)[-1]
        try:
            return tiktoken.encoding_name_for_model(base), True
        except KeyError:
            return settings.TOKEN_COUNT_DEFAULT_ENCODING, False


def count_tokens(text: str, model: str) -> TokenCount:
    """Tokens in `text` for `model`; never raises, never touches the network."""
    if not text:
        return TokenCount(0, False)
    name, exact = encoding_for(model or settings.LLM_MODEL)
    encoding = _encoding(name)
    if encoding is None:
        return TokenCount(estimate_tokens(text), True)
    # disallowed_special=(): a customer typing "<|endoftext|>" is text, not an error.
    return TokenCount(len(encoding.encode(text, disallowed_special=())), not exact)


def tokenizer_warm_up() -> None:
    """Load the default model's encoding now (0.3-2 s), not during a customer's first turn.

    Called where processes start: the ASGI app and the Celery worker's parent process, so
    prefork children inherit the loaded tables."""
    count_tokens("warm up", settings.LLM_MODEL)


def message_tokens(content_tokens: int) -> int:
    """What one chat message costs in the prompt, given its content's tokens."""
    return content_tokens + TOKENS_PER_MESSAGE
