"""The output guard: checks a reply while it streams, and holds back only what could still
become a match.

Every character of every delta is checked before anything is published:
- prompt leaks (leak.py): canaries and system-prompt runs on the skeleton of the text
  (normalize.py: NFKC, invisible characters dropped, look-alikes folded, separators
  collapsed), and on what base64 or hex in the text decodes to;
- the blocked terms and patterns, on the text itself, with partial matching (the `regex`
  module): a match must be complete and no longer extendable (`scam` at the end of a delta
  waits for the next character: `scampi` is no match).

Held back is the shortest tail that keeps every possible match unseen: the longest suffix
of the stream (in skeleton form) that is a prefix of a canary word or a substring of the
system prompt, the start of a partial match of a blocked term or pattern, and an encoded
run once its decoding could become a leak; plus, if set, a fixed floor of
MODERATION_STREAM_HOLDBACK_CHARS characters. Ordinary text is released as it arrives.
Only rules whose policy on output is `block` hold anything back. Categories that cannot
be anticipated (PII, if the policy blocks it on output; the provider's, which runs once on
the whole reply) are not held back beyond the floor. `finish` checks the whole reply once
more (local rules, then the provider) before the held tail and the final message go out.

Costs: O(1) amortised per character for the leak automata; per delta, one partial regex
search of the held tail per blocked term list or pattern.
"""

import regex
from django.conf import settings

from . import detectors, engine, leak, policy
from .engine import OUTPUT, Hit, Verdict, local_hits, provider_hits

_PII = (detectors.PII_EMAIL, detectors.PII_PHONE, detectors.PII_CARD, detectors.PII_CN_ID)
_PII_OVERLAP = 64  # PII is re-checked over this much text before each delta (if it blocks)


class OutputBlocked(Exception):
    def __init__(self, verdict: Verdict, text: str):
        super().__init__("reply blocked by moderation")
        self.verdict = verdict
        self.text = text  # what the model had said so far (kept for the reviewer)


def _compiled_rules() -> list[tuple[str, regex.Pattern, int | None]]:
    """(category, regex, pattern index or None for the terms) of the rules that block."""
    rules: list[tuple[str, regex.Pattern, int | None]] = []
    terms = engine.terms_source(engine.blocked_terms())
    terms_block = policy.action_for(policy.BLOCKED_TERM, source=OUTPUT) == policy.BLOCK
    if terms and terms_block and (compiled := _regex(terms, regex.IGNORECASE)) is not None:
        rules.append((policy.BLOCKED_TERM, compiled, None))
    if policy.action_for(policy.BLOCKED_PATTERN, source=OUTPUT) == policy.BLOCK:
        engine.check_patterns()  # an invalid pattern fails loudly, as everywhere
        for index, pattern in enumerate(settings.MODERATION_BLOCKED_PATTERNS):
            if (compiled := _regex(pattern, 0)) is not None:
                rules.append((policy.BLOCKED_PATTERN, compiled, index))
    return rules


_REGEX_CACHE: dict[tuple[str, int], regex.Pattern | None] = {}


def _regex(source: str, flags: int) -> regex.Pattern | None:
    key = (source, flags)
    if key not in _REGEX_CACHE:
        try:
            _REGEX_CACHE[key] = regex.compile(source, flags)
        except regex.error:  # valid for `re` (checked) but not for `regex`: checked at the end
            _REGEX_CACHE[key] = None
    return _REGEX_CACHE[key]


class OutputGuard:
    """Feed it the deltas; publish what `feed` returns; call `finish` with the whole text."""

    def __init__(self, *, system_prompt: str):
        self.enabled = settings.MODERATION_ENABLED
        self.floor = max(0, settings.MODERATION_STREAM_HOLDBACK_CHARS)
        if self.enabled:
            self.leak = leak.leak_matcher(
                system_prompt,
                tuple(c for c in settings.MODERATION_CANARIES if c),
                settings.MODERATION_CANARY_PATTERN or "",
                settings.MODERATION_PROMPT_LEAK_MIN_CHARS,
            )
            self._leak_blocks = policy.action_for(policy.PROMPT_LEAK, source=OUTPUT) == policy.BLOCK
            self._rules = _compiled_rules()
            self._pii_blocks = any(
                policy.action_for(c, source=OUTPUT) == policy.BLOCK for c in _PII
            )
        self.restart()

    @classmethod
    def for_request(cls, request) -> "OutputGuard":
        return cls(
            system_prompt="\n\n".join(
                m.content for m in request.messages if m.role == "system" and not m.reference
            )
        )

    def restart(self) -> None:
        """A new attempt (the router retries or falls back): the earlier text is dropped."""
        self.verdict = Verdict()
        self._text = ""
        self._released = 0
        self._pii_checked = 0
        self._rules_hold: int | None = None
        if self.enabled:
            self._scanners = (
                leak.LeakScanner(self.leak),
                leak.Base64Leaks(self.leak),
                leak.HexLeaks(self.leak),
            )

    # --- checks ---------------------------------------------------------------------------

    def _hit(self, category: str, *rules: str) -> None:
        action = policy.action_for(category, source=OUTPUT)
        self.verdict = self.verdict.merge(Verdict(tuple(Hit(category, r, action) for r in rules)))
        if self.verdict.blocked:
            raise OutputBlocked(self.verdict, self._text)

    def _scan(self, text: str, start: int) -> None:
        """Every character through the leak scanners (the plain text, base64, hex); a
        block raises at the end of the delta (none of it is shown either way)."""
        if rules := [rule for scanner in self._scanners if (rule := scanner.scan(text, start))]:
            self._hit(policy.PROMPT_LEAK, *rules)

    def _check_rules(self) -> None:
        """Complete matches of blocking terms/patterns block; partial ones are held."""
        text, end = self._text, len(self._text)
        hold = None
        for category, compiled, index in self._rules:
            for match in compiled.finditer(text, self._released, partial=True):
                if match.partial or match.end() == end:  # could still grow, or stop matching
                    hold = match.start() if hold is None else min(hold, match.start())
                    break
                rule = (
                    engine.term_rule(match.group())
                    if index is None
                    else engine.pattern_rule(index, compiled.pattern)
                )
                self._hit(category, rule)
        self._rules_hold = hold

    def _check_pii(self) -> None:
        window = self._text[max(0, self._pii_checked - _PII_OVERLAP) :]
        self._pii_checked = len(self._text)
        for detection in detectors.detect_pii(window):
            self._hit(detection.category, "pii:" + detection.category.split("/", 1)[1])

    def _hold_from(self) -> int:
        """Where the text that must wait begins."""
        hold = len(self._text) - self.floor
        if self._leak_blocks:
            for scanner in self._scanners:
                origin = scanner.hold_origin()
                if origin is not None and origin < hold:
                    hold = origin
        if self._rules_hold is not None and self._rules_hold < hold:
            hold = self._rules_hold
        return hold

    # --- the interface ----------------------------------------------------------------------

    def feed(self, delta: str) -> str:
        """The text that may be shown now (possibly ""); raises OutputBlocked."""
        if not self.enabled:
            return delta
        start = len(self._text)
        self._text += delta
        self._scan(delta, start)
        if self._rules:
            self._check_rules()
        if self._pii_blocks:
            self._check_pii()
        upto = max(self._released, self._hold_from())
        released, self._released = self._text[self._released : upto], upto
        return released

    def finish(self, text: str) -> str:
        """Check the whole reply (local rules and the provider); return the held tail."""
        if not self.enabled:
            return ""
        if text != self._text:  # normally the deltas add up to the completion's text
            if text.startswith(self._text):
                start, self._text = len(self._text), text
                self._scan(text[start:], start)
            else:
                self._text = text
                shown, verdict = self._released, self.verdict
                self.restart()
                self._released, self.verdict, self._text = shown, verdict, text
                self._scan(text, 0)
        self.verdict = self.verdict.merge(Verdict(tuple(local_hits(text, source=OUTPUT))))
        if self.verdict.blocked:
            raise OutputBlocked(self.verdict, text)
        if settings.MODERATION_PROVIDER_ENABLED and text.strip():
            self.verdict = self.verdict.merge(Verdict(tuple(provider_hits([text], source=OUTPUT))))
            if self.verdict.blocked:
                raise OutputBlocked(self.verdict, text)
        tail, self._released = text[self._released :], len(text)
        return tail
