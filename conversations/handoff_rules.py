"""Does a customer's message ask for a person? Phrases staff can extend (HandoffRule).

Phrases of space-separated scripts ("real person") match as whole words, case-insensitively,
so "humanity" or "user-agent" do not trigger; phrases in scripts written without spaces
("转人工") match anywhere. Whole-message rules ("human", "人工") count only when they are
all the message says, punctuation aside: "人工智能是什么?" asks nothing of the kind.
The active rules are read from the database at most every RULES_TTL_SECONDS per process.
"""

import re
import time
import unicodedata
from functools import lru_cache

RULES_TTL_SECONDS = 30.0
_cache: dict[str, object] = {"at": 0.0, "rules": None}

Rule = tuple[str, bool]  # (phrase, whole_message)


def _is_spaceless_script(char: str) -> bool:
    return unicodedata.name(char, "").startswith(("CJK", "HIRAGANA", "KATAKANA", "HANGUL"))


def _normalize(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def _bare(text: str) -> str:
    """Letters and digits only, single spaces: what a whole-message rule compares."""
    kept = "".join(c if c.isalnum() else " " for c in _normalize(text))
    return " ".join(kept.split())


@lru_cache(maxsize=64)
def _contains_pattern(phrases: tuple[str, ...]) -> re.Pattern | None:
    alternatives = []
    for phrase in sorted(
        {_normalize(p).strip() for p in phrases if p.strip()}, key=len, reverse=True
    ):
        escaped = r"\s+".join(re.escape(word) for word in phrase.split())
        if any(_is_spaceless_script(c) for c in phrase):
            alternatives.append(escaped)
        else:
            alternatives.append(rf"(?<!\w){escaped}(?!\w)")
    return re.compile("|".join(alternatives)) if alternatives else None


def matching_phrase(text: str, rules: tuple[Rule, ...]) -> str | None:
    """The rule phrase `text` matches, or None. Pure: the unit tests' entry point."""
    bare = _bare(text)
    for phrase, whole in rules:
        if whole and bare and bare == _bare(phrase):
            return phrase
    pattern = _contains_pattern(tuple(phrase for phrase, whole in rules if not whole))
    if pattern is None:
        return None
    match = pattern.search(_normalize(text))
    return " ".join(match.group(0).split()) if match else None


def active_rules() -> tuple[Rule, ...]:
    from .models import HandoffRule

    now = time.monotonic()
    if _cache["rules"] is None or now - _cache["at"] > RULES_TTL_SECONDS:
        _cache["rules"] = tuple(
            HandoffRule.objects.filter(is_active=True).values_list("phrase", "whole_message")
        )
        _cache["at"] = now
    return _cache["rules"]


def active_rules_forget() -> None:
    """Read the rules again on next use (after staff edit them; tests)."""
    _cache["rules"] = None


def handoff_phrase_in(text: str) -> str | None:
    """The active rule phrase the customer's message matches, if any."""
    return matching_phrase(text, active_rules())
