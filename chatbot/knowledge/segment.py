"""Chinese word segmentation for search, done in the application.

Stock Postgres (and SQLite's FTS5) cut text at spaces and punctuation, so a Chinese sentence
is one long "word" that no question matches. We cut it into words here and store them,
space-separated, in a separate search vector (`Chunk.search_vector_zh`, `simple`
configuration); the query is cut the same way.

Two segmenters (KNOWLEDGE_CHINESE_SEGMENTER): `jieba` (a dictionary and an HMM, the
search-engine mode that also emits the shorter words inside long ones) and `bigram`
(every pair of adjacent Han characters, plus single characters: no dictionary, robust to
unknown words). Latin words and digits inside Chinese text are kept, lower-cased.
"""

import logging
import re
import threading
from functools import cache

from django.conf import settings

HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_HAN_CHAR = re.compile(f"[{HAN}]")
_KANA = re.compile(r"[\u3040-\u30ff]")
_HAN_RUN = re.compile(f"[{HAN}]+")
_LATIN_WORD = re.compile(r"[^\W_]+", re.UNICODE)
# Function words that match everywhere and rank nothing.
STOPWORDS_ZH = frozenset(
    [
        "的",
        "了",
        "吗",
        "呢",
        "吧",
        "啊",
        "是",
        "在",
        "我",
        "你",
        "他",
        "她",
        "它",
        "我们",
        "你们",
        "和",
        "与",
        "或",
        "及",
        "就",
        "都",
        "也",
        "还",
        "又",
        "很",
        "这",
        "那",
        "这个",
        "那个",
        "哪",
        "哪里",
        "什么",
        "怎么",
        "怎样",
        "如何",
        "为什么",
        "可以",
        "能",
        "能否",
        "会",
        "要",
        "想",
        "请问",
        "请",
        "一个",
        "有",
        "没有",
        "么",
        "把",
        "被",
        "给",
        "对",
        "从",
        "到",
    ]
)

_jieba_lock = threading.Lock()


def has_chinese(text: str) -> bool:
    """Han characters and no Japanese kana (Japanese writes with Han too)."""
    return bool(_HAN_CHAR.search(text)) and not _KANA.search(text)


@cache
def _jieba():
    import jieba

    jieba.setLogLevel(logging.WARNING)  # it prints its dictionary loading otherwise
    with _jieba_lock:
        jieba.initialize()
    return jieba


def jieba_warm_up() -> None:
    """Load jieba's dictionary (about a second) now, not during a customer's turn."""
    if settings.KNOWLEDGE_CHINESE_SEGMENTER == "jieba":
        _jieba()


def _bigrams(run: str) -> list[str]:
    if len(run) == 1:
        return [run]
    return [run[i : i + 2] for i in range(len(run) - 1)]


def segment(text: str, *, segmenter: str | None = None) -> list[str]:
    """The words of `text` for the Chinese search vector, in order (repeats kept)."""
    segmenter = segmenter or settings.KNOWLEDGE_CHINESE_SEGMENTER
    words: list[str] = []
    if segmenter == "bigram":
        pos = 0
        for match in _HAN_RUN.finditer(text):
            words += [w.lower() for w in _LATIN_WORD.findall(text[pos : match.start()])]
            words += _bigrams(match.group())
            pos = match.end()
        words += [w.lower() for w in _LATIN_WORD.findall(text[pos:])]
    else:
        for word in _jieba().cut_for_search(text):
            word = word.strip().lower()
            if word and _LATIN_WORD.fullmatch(word):
                words.append(word)
    return [w for w in words if w not in STOPWORDS_ZH]


def segmented(text: str, *, segmenter: str | None = None) -> str:
    """`segment` joined by spaces: what goes into the `simple` tsvector or FTS5."""
    return " ".join(segment(text, segmenter=segmenter)) if has_chinese(text) else ""
