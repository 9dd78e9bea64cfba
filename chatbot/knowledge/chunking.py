"""Cutting an article into chunks: by headings, then paragraphs, bounded in tokens.

The body is Markdown (imports convert HTML and PDF to it). Each `#` heading starts a section
and sets the heading path (["Returns", "Refunds"]) its chunks carry for citations. Within a
section, paragraphs are packed into chunks of at most KNOWLEDGE_CHUNK_MAX_TOKENS; a paragraph
longer than that is cut at sentence ends (then at token boundaries). A chunk that continues
a section begins with the last KNOWLEDGE_CHUNK_OVERLAP_TOKENS of the one before, so an answer
spanning the cut is found from either side.

Tokens are counted with tiktoken's `o200k_base` (current OpenAI models) from the project's
offline cache (chatbot/tiktoken_cache); chunk sizes need a consistent count, not the answering
model's exact one. Without the file the count is an estimate (chars / 4), never a download.
"""

import hashlib
import os
import re
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from django.conf import settings

from chatbot.llm.types import estimate_tokens

ENCODING = "o200k_base"
_O200K_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"

_HEADING = re.compile(r"^(#{1,6})\s+(.+?)\s*#*\s*$")
# Sentence ends, Latin and Chinese (full-width) punctuation.
_SENTENCE_END = re.compile("(?<=[.!?;\u3002\uff01\uff1f\uff1b])\\s*")


@cache
def _encoding():
    # tiktoken's cache file name is the SHA-1 of the URL (see chatbot/prompt/tokens.py).
    digest = hashlib.sha1(_O200K_URL.encode(), usedforsecurity=False).hexdigest()
    if not (Path(settings.TIKTOKEN_CACHE_DIR) / digest).is_file():
        return None  # never let tiktoken reach for the network
    os.environ["TIKTOKEN_CACHE_DIR"] = str(settings.TIKTOKEN_CACHE_DIR)
    import tiktoken

    try:
        return tiktoken.get_encoding(ENCODING)
    except Exception:  # an estimate beats a failed import
        return None


def token_count(text: str) -> int:
    encoding = _encoding()
    if encoding is None:
        return estimate_tokens(text)
    return len(encoding.encode(text, disallowed_special=()))


def _token_slices(text: str, limit: int) -> list[str]:
    """`text` cut at token boundaries into pieces of at most `limit` tokens."""
    encoding = _encoding()
    if encoding is None:
        size = limit * 4
        return [text[i : i + size] for i in range(0, len(text), size)]
    tokens = encoding.encode(text, disallowed_special=())
    return [encoding.decode(tokens[i : i + limit]) for i in range(0, len(tokens), limit)]


@dataclass(slots=True)
class ChunkDraft:
    text: str
    heading_path: list[str]
    position: int = 0
    token_count: int = 0


@dataclass(slots=True)
class _Section:
    heading_path: list[str]
    paragraphs: list[str] = field(default_factory=list)


def _sections(body: str) -> list[_Section]:
    sections = [_Section([])]
    stack: list[tuple[int, str]] = []
    paragraph: list[str] = []

    def end_paragraph():
        if text := "\n".join(paragraph).strip():
            sections[-1].paragraphs.append(text)
        paragraph.clear()

    in_fence = False
    for line in body.splitlines():
        if line.lstrip().startswith("```"):
            in_fence = not in_fence
        match = None if in_fence else _HEADING.match(line)
        if match:
            end_paragraph()
            level = len(match.group(1))
            while stack and stack[-1][0] >= level:
                stack.pop()
            stack.append((level, match.group(2)))
            sections.append(_Section([title for _, title in stack]))
        elif not line.strip() and not in_fence:
            end_paragraph()
        else:
            paragraph.append(line.rstrip())
    end_paragraph()
    return [s for s in sections if s.paragraphs]


def _pieces(paragraph: str, limit: int) -> list[str]:
    """A paragraph as pieces of at most `limit` tokens: whole, or by sentences."""
    if token_count(paragraph) <= limit:
        return [paragraph]
    pieces: list[str] = []
    current = ""
    for sentence in filter(None, _SENTENCE_END.split(paragraph)):
        if token_count(sentence) > limit:
            if current:
                pieces.append(current)
                current = ""
            pieces += _token_slices(sentence, limit)
            continue
        candidate = f"{current} {sentence}".strip() if current else sentence
        if current and token_count(candidate) > limit:
            pieces.append(current)
            current = sentence
        else:
            current = candidate
    if current:
        pieces.append(current)
    return pieces


def _tail(text: str, tokens: int) -> str:
    """The last `tokens` tokens of `text`, started at a word or sentence edge when possible."""
    if tokens <= 0:
        return ""
    slices = _token_slices(text, max(1, token_count(text) - tokens))
    tail = slices[-1] if len(slices) > 1 else ""
    if " " in tail:  # drop a cut word at the start
        tail = tail.split(" ", 1)[1]
    return tail.strip()


def article_chunk(
    *, body: str, max_tokens: int | None = None, overlap_tokens: int | None = None
) -> list[ChunkDraft]:
    """The article's body cut into chunks, in order, each with its heading path."""
    max_tokens = max_tokens or settings.KNOWLEDGE_CHUNK_MAX_TOKENS
    overlap = settings.KNOWLEDGE_CHUNK_OVERLAP_TOKENS if overlap_tokens is None else overlap_tokens
    overlap = min(overlap, max_tokens // 4)
    drafts: list[ChunkDraft] = []
    for section in _sections(body):
        parts: list[str] = []
        used = 0
        for paragraph in section.paragraphs:
            for piece in _pieces(paragraph, max_tokens - overlap):
                size = token_count(piece)
                if parts and used + size > max_tokens:
                    drafts.append(ChunkDraft("\n\n".join(parts), section.heading_path))
                    carried = _tail(parts[-1], overlap)
                    parts, used = ([carried], token_count(carried)) if carried else ([], 0)
                parts.append(piece)
                used += size
        if parts:
            drafts.append(ChunkDraft("\n\n".join(parts), section.heading_path))
    for position, draft in enumerate(drafts):
        draft.position = position
        draft.token_count = token_count(draft.text)
    return drafts
