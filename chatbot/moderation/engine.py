"""Checks a text against the local rules and (when enabled) the provider's endpoint."""

import logging
import re
from dataclasses import dataclass
from functools import cache

from django.conf import settings
from django.core.exceptions import ImproperlyConfigured

from chatbot.llm.types import LLMError

from . import detectors, policy

logger = logging.getLogger(__name__)

INPUT, OUTPUT = "input", "output"


@dataclass(frozen=True, slots=True)
class Hit:
    category: str
    rule: str  # which rule or provider fired, e.g. "pii:email", "term:refund scam"
    action: str  # allow | flag | block (from the policy)
    score: float | None = None


@dataclass(frozen=True, slots=True)
class Verdict:
    hits: tuple[Hit, ...] = ()

    @property
    def action(self) -> str:
        return policy.strongest(h.action for h in self.hits)

    @property
    def blocked(self) -> bool:
        return self.action == policy.BLOCK

    def merge(self, other: "Verdict") -> "Verdict":
        seen = {(h.category, h.rule) for h in self.hits}
        return Verdict(self.hits + tuple(h for h in other.hits if (h.category, h.rule) not in seen))


def terms_source(terms: tuple[str, ...]) -> str:
    """One regex for the blocked terms ("" for none); used here and by the output guard."""
    parts = []
    for term in terms:
        escaped = re.escape(term)
        # Word boundaries for words ("scam" must not match "scampi"); none for CJK, where
        # \b does not separate words.
        if term.isascii():
            escaped = (r"\b" if term[0].isalnum() else "") + escaped
            escaped += r"\b" if term[-1].isalnum() else ""
        parts.append(escaped)
    return "|".join(parts)


def blocked_terms() -> tuple[str, ...]:
    return tuple(t.strip() for t in settings.MODERATION_BLOCKED_TERMS if t.strip())


@cache
def _terms_regex(terms: tuple[str, ...]) -> re.Pattern | None:
    source = terms_source(terms)
    return re.compile(source, re.IGNORECASE) if source else None


@cache
def _patterns(patterns: tuple[str, ...]) -> tuple[re.Pattern, ...]:
    try:
        return tuple(re.compile(p) for p in patterns)
    except re.error as error:
        raise ImproperlyConfigured(f"MODERATION_BLOCKED_PATTERNS: {error}") from error


def check_patterns() -> None:
    """Raise ImproperlyConfigured if a blocked pattern is not a valid regex."""
    _patterns(tuple(settings.MODERATION_BLOCKED_PATTERNS))


def blocked_terms_regex() -> re.Pattern | None:
    return _terms_regex(blocked_terms())


def term_rule(matched: str) -> str:
    return f"term:{matched.lower()}"[:200]


def pattern_rule(index: int, pattern: str) -> str:
    return f"pattern#{index}:{pattern}"[:200]


def local_hits(text: str, *, source: str) -> list[Hit]:
    """What the offline rules find in `text` (each rule reported once)."""
    found: dict[tuple[str, str], str] = {}
    for detection in detectors.detect_pii(text):
        found[(detection.category, "pii:" + detection.category.split("/", 1)[1])] = ""
    if source == INPUT:
        for detection in detectors.detect_injection(text):
            found[(detection.category, "heuristic:injection")] = ""
    if (terms := blocked_terms_regex()) is not None:
        for match in terms.finditer(text):
            found[(policy.BLOCKED_TERM, term_rule(match.group()))] = ""
    for index, pattern in enumerate(_patterns(tuple(settings.MODERATION_BLOCKED_PATTERNS))):
        if pattern.search(text):
            found[(policy.BLOCKED_PATTERN, pattern_rule(index, pattern.pattern))] = ""
    return [
        Hit(category, rule, policy.action_for(category, source=source)) for category, rule in found
    ]


def provider_hits(texts: list[str], *, source: str) -> list[Hit]:
    """The provider's moderation verdict as hits; its failure follows the fail mode."""
    from chatbot.llm import openai_provider  # imports the SDK: only when enabled

    try:
        result = openai_provider.moderate(
            texts,
            model=settings.MODERATION_PROVIDER_MODEL,
            base_url=settings.MODERATION_PROVIDER_BASE_URL or settings.OPENAI_BASE_URL or None,
            api_key=settings.MODERATION_PROVIDER_API_KEY or settings.OPENAI_API_KEY,
            timeout=settings.MODERATION_PROVIDER_TIMEOUT,
        )
    except LLMError as error:
        logger.warning(
            "moderation provider failed (%s); failing %s",
            error.code,
            settings.MODERATION_PROVIDER_FAIL_MODE,
        )
        if settings.MODERATION_PROVIDER_FAIL_MODE == "closed":
            category = policy.MODERATION_UNAVAILABLE
            return [
                Hit(category, f"provider:{error.code}", policy.action_for(category, source=source))
            ]
        return []
    rule = f"provider:{result.model}"
    return [
        Hit(category, rule, policy.action_for(category, source=source), result.scores.get(category))
        for category in result.categories
    ]


def text_check(text: str, *, source: str) -> Verdict:
    if not settings.MODERATION_ENABLED or not text.strip():
        return Verdict()
    hits = local_hits(text, source=source)
    # Already blocked locally: the provider could add nothing that changes the outcome.
    if settings.MODERATION_PROVIDER_ENABLED and not Verdict(tuple(hits)).blocked:
        hits += provider_hits([text], source=source)
    return Verdict(tuple(hits))


def mask_for_provider(text: str) -> str:
    """What of a message may go to the model: PII masked when PII_MASK_BEFORE_PROVIDER."""
    return detectors.mask_pii(text) if settings.PII_MASK_BEFORE_PROVIDER else text
