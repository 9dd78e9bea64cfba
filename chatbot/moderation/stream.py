"""The output guard: checks a reply while it streams, and holds back a short tail.

Every delta is checked (local rules on the new text plus an overlap, so a term split
across deltas is still seen) before anything is published. The last
`MODERATION_STREAM_HOLDBACK_CHARS` characters are held back until more text arrives, so a
blocked term, a canary or a system-prompt fragment no longer than the holdback is caught
before any of it reaches the customer. The trade-off: the customer sees the text that
many characters late (the first delta waits until that many have arrived). Patterns longer
than the holdback may be partly shown before the reply is stopped and replaced. The
provider's moderation (one call) runs once on the whole reply, before the held tail and the
final message are released.

The prompt-leak rule blocks a reply containing a canary (MODERATION_CANARIES, or a token
matching MODERATION_CANARY_PATTERN planted in the system prompt) or any run of
MODERATION_PROMPT_LEAK_MIN_CHARS characters copied verbatim from the system prompt
(compared case- and whitespace-insensitively).
"""

import re

from django.conf import settings

from . import policy
from .engine import OUTPUT, Hit, Verdict, local_hits, provider_hits

_SPACES = re.compile(r"\s+")


class OutputBlocked(Exception):
    def __init__(self, verdict: Verdict, text: str):
        super().__init__("reply blocked by moderation")
        self.verdict = verdict
        self.text = text  # what the model had said so far (kept for the reviewer)


def _normalise(text: str) -> str:
    return _SPACES.sub(" ", text).lower()


class PromptLeakMatcher:
    def __init__(self, system_prompt: str):
        self.min_chars = max(8, settings.MODERATION_PROMPT_LEAK_MIN_CHARS)
        canaries = list(settings.MODERATION_CANARIES)
        if settings.MODERATION_CANARY_PATTERN:
            canaries += re.findall(settings.MODERATION_CANARY_PATTERN, system_prompt)
        self.canaries = [c.lower() for c in canaries if c]
        prompt = _normalise(system_prompt)
        n = self.min_chars
        self._shingles = {prompt[i : i + n] for i in range(len(prompt) - n + 1)}

    @property
    def window(self) -> int:
        return max([self.min_chars, *(len(c) for c in self.canaries)])

    def leaks(self, text: str) -> str | None:
        """The rule that fires on `text`, or None."""
        lowered = text.lower()
        if any(c in lowered for c in self.canaries):
            return "leak:canary"
        normalised, n = _normalise(text), self.min_chars
        if any(normalised[i : i + n] in self._shingles for i in range(len(normalised) - n + 1)):
            return "leak:system_prompt"
        return None


class OutputGuard:
    """Feed it the deltas; publish what `feed` returns; call `finish` with the whole text."""

    def __init__(self, *, system_prompt: str):
        self.enabled = settings.MODERATION_ENABLED
        self.holdback = max(0, settings.MODERATION_STREAM_HOLDBACK_CHARS)
        self.leak = PromptLeakMatcher(system_prompt)
        # Re-check this much text before the new delta: a match may straddle deltas.
        self.overlap = max(self.holdback, self.leak.window, 64)
        self.verdict = Verdict()
        self._text = ""
        self._released = 0
        self._checked = 0

    @classmethod
    def for_request(cls, request) -> "OutputGuard":
        return cls(
            system_prompt="\n\n".join(m.content for m in request.messages if m.role == "system")
        )

    def restart(self) -> None:
        """A new attempt (the router retries or falls back): the earlier text is dropped."""
        self.verdict, self._text, self._released, self._checked = Verdict(), "", 0, 0

    def _check(self, text: str) -> None:
        hits = local_hits(text, source=OUTPUT)
        if rule := self.leak.leaks(text):
            hits.append(
                Hit(policy.PROMPT_LEAK, rule, policy.action_for(policy.PROMPT_LEAK, source=OUTPUT))
            )
        self.verdict = self.verdict.merge(Verdict(tuple(hits)))
        if self.verdict.blocked:
            raise OutputBlocked(self.verdict, self._text)

    def feed(self, delta: str) -> str:
        """The text that may be shown now (possibly ""); raises OutputBlocked."""
        if not self.enabled:
            return delta
        self._text += delta
        self._check(self._text[max(0, self._checked - self.overlap) :])
        self._checked = len(self._text)
        upto = len(self._text) - self.holdback
        if upto <= self._released:
            return ""
        released, self._released = self._text[self._released : upto], upto
        return released

    def finish(self, text: str) -> str:
        """Check the whole reply (local rules and the provider); return the held tail."""
        if not self.enabled:
            return ""
        self._text = text
        self._check(text)
        if settings.MODERATION_PROVIDER_ENABLED and text.strip():
            self.verdict = self.verdict.merge(Verdict(tuple(provider_hits([text], source=OUTPUT))))
            if self.verdict.blocked:
                raise OutputBlocked(self.verdict, text)
        tail, self._released = text[self._released :], len(text)
        return tail
