"""Prompt-leak matching for the output guard, on the skeleton of the stream (normalize.py)
and on the skeleton of what base64 or hex in it decodes to.

What is a leak (each on the skeleton: letters and digits, folded, see normalize.py):
- a canary: each of MODERATION_CANARIES, and each match of MODERATION_CANARY_PATTERN in the
  system prompt; also any `CANARY_FRAGMENT_CHARS` (8) consecutive characters of a canary's
  skeleton, and a canary's last segment on its own (after its last `-`, `_`, space...) when
  that is at least `CANARY_TAIL_MIN_CHARS` (5) long and holds a digit: `CANARY-7f3a9`
  blocks `canary-7f3a9`, `ANARY-7f3` and `7f3a9`, not the word `canary`;
- MODERATION_PROMPT_LEAK_MIN_CHARS (at least 8) consecutive characters of the system
  prompt's skeleton.

A `LeakScanner` follows one stream a character at a time: an Aho-Corasick automaton over the
canary words and a suffix automaton of the prompt's skeleton give, after each character,
whether a leak has just completed and how long a tail of the stream could still become one
(the longest suffix that is a prefix of a canary word, or a substring of the prompt). The
guard holds back exactly that tail. Cost: O(1) amortised per character.

Encoded leaks: `Base64Leaks` and `HexLeaks` decode runs of base64 (standard or URL-safe
alphabet; line breaks inside a run allowed) or hex (optionally `0x`/`\\x`-prefixed or
separated by spaces, colons, commas) as they stream, assemble UTF-8, and feed the decoded
characters to a scanner of their own. They cannot be held back from their first character
(any word could begin an encoding, so holding would bring back the fixed delay); an encoded
run is held once its decoding could become a leak and that tail is at least
`ENCODED_HOLD_MIN_CHARS` (4) skeleton characters long, so at most the encoding of the first
few decoded characters (up to ~8 hex or ~6 base64 characters) may show before the block.
A run is decoded from its first character: base64 glued to the preceding word (no space,
no punctuation) is decoded misaligned and not recognised.
"""

import re
import string
from collections import deque
from dataclasses import dataclass
from functools import lru_cache

from .automata import AhoCorasick, SuffixAutomaton
from .normalize import FOLDS, fold, skeleton

CANARY_FRAGMENT_CHARS = 8
CANARY_TAIL_MIN_CHARS = 5
ENCODED_HOLD_MIN_CHARS = 4
MIN_PROMPT_LEAK_CHARS = 8  # MODERATION_PROMPT_LEAK_MIN_CHARS below this is raised to it

CANARY = "leak:canary"
SYSTEM_PROMPT = "leak:system_prompt"

_SEGMENTS = re.compile(r"[\W_]+")


def canary_words(canary: str) -> list[str]:
    """The skeleton strings whose appearance counts as leaking `canary`."""
    whole = skeleton(canary)
    if not whole:
        return []
    words = [whole]
    n = CANARY_FRAGMENT_CHARS
    words += [whole[i : i + n] for i in range(len(whole) - n + 1)] if len(whole) > n else []
    segments = [s for s in (skeleton(part) for part in _SEGMENTS.split(canary)) if s]
    tail = segments[-1] if len(segments) > 1 else ""
    if len(tail) >= CANARY_TAIL_MIN_CHARS and any(c.isdigit() for c in tail):
        words.append(tail)
    return list(dict.fromkeys(words))


@dataclass(frozen=True, eq=False)
class LeakMatcher:
    canaries: AhoCorasick
    prompt: SuffixAutomaton
    min_chars: int

    @property
    def longest(self) -> int:
        """The longest tail a scanner may have to hold, in skeleton characters."""
        return max(self.canaries.longest, self.min_chars)


@lru_cache(maxsize=32)
def leak_matcher(
    system_prompt: str, canaries: tuple[str, ...], canary_pattern: str, min_chars: int
) -> LeakMatcher:
    """The matcher for one system prompt and configuration (built once, then shared)."""
    found = list(canaries)
    if canary_pattern:
        found += [m.group() for m in re.finditer(canary_pattern, system_prompt)]
    words = [w for canary in found if canary for w in canary_words(canary)]
    return LeakMatcher(
        canaries=AhoCorasick(words),
        prompt=SuffixAutomaton(skeleton(system_prompt)),
        min_chars=max(MIN_PROMPT_LEAK_CHARS, min_chars),
    )


class LeakScanner:
    """One stream's position in the matcher; feed it characters with where they came from."""

    __slots__ = ("_ac", "_depth", "_hits", "_min_chars", "_sam", "hold_min", "matched",
                 "origins", "sam", "state")  # fmt: skip

    def __init__(self, matcher: LeakMatcher, *, hold_min: int = 1):
        self._ac, self._sam = matcher.canaries, matcher.prompt
        self._depth, self._hits = matcher.canaries.depth, matcher.canaries.hit
        self._min_chars = matcher.min_chars
        self.hold_min = hold_min
        self.state = self.sam = self.matched = 0
        self.origins: deque[int] = deque(maxlen=matcher.longest + 1)

    def reset(self) -> None:
        self.state = self.sam = self.matched = 0
        self.origins.clear()

    def scan(self, text: str, start: int) -> str | None:
        """Read `text` (at `start` in the original); the first rule it completes, if any.

        The hot loop of the guard: both automata stepped inline, one dict lookup each in
        the common case."""
        folds, fold_char = FOLDS, fold
        memo, step, hits = self._ac.memo, self._ac.step, self._hits
        nxt, link, length = self._sam.next, self._sam.link, self._sam.length
        min_chars, append = self._min_chars, self.origins.append
        state, sam, matched = self.state, self.sam, self.matched
        rule = None
        for index, char in enumerate(text, start):
            pieces = folds.get(char)
            if pieces is None:
                pieces = fold_char(char)
            for piece in pieces:
                append(index)
                target = memo[state].get(piece)
                state = step(state, piece) if target is None else target
                while sam and piece not in nxt[sam]:
                    sam = link[sam]
                    matched = length[sam]
                target = nxt[sam].get(piece)
                if target is None:
                    sam = matched = 0
                else:
                    sam, matched = target, matched + 1
                if rule is None:
                    if hits[state]:
                        rule = CANARY
                    elif matched >= min_chars:
                        rule = SYSTEM_PROMPT
        self.state, self.sam, self.matched = state, sam, matched
        return rule

    def hold_origin(self) -> int | None:
        """Where the tail that could still become a leak starts in the original, if any."""
        held = max(self._depth[self.state], self.matched)
        if held < self.hold_min:
            return None
        return self.origins[-min(held, len(self.origins))]


class _Utf8:
    """Bytes to characters, each with the origin of its first byte; bad sequences dropped."""

    __slots__ = ("buf", "need", "origin")

    def __init__(self):
        self.buf = bytearray()
        self.need = 0
        self.origin = 0

    def reset(self) -> None:
        self.buf.clear()
        self.need = 0

    def push(self, byte: int, origin: int) -> tuple[str, int] | None:
        if self.need:
            if 0x80 <= byte < 0xC0:
                self.buf.append(byte)
                self.need -= 1
                if self.need:
                    return None
                char = self.buf.decode("utf-8", "ignore")
                self.buf.clear()
                return (char, self.origin) if char else None
            self.reset()  # an invalid sequence: drop it, read this byte afresh
        if byte < 0x80:
            return chr(byte), origin
        if 0xC2 <= byte <= 0xF4:
            self.need = 1 if byte < 0xE0 else 2 if byte < 0xF0 else 3
            self.buf.append(byte)
            self.origin = origin
        return None


_B64_ALPHABET = string.ascii_uppercase + string.ascii_lowercase + string.digits + "+/"
_B64 = {c: i for i, c in enumerate(_B64_ALPHABET)}
_B64.update({"-": 62, "_": 63})  # URL-safe alphabet
_HEX = {c: int(c, 16) for c in "0123456789abcdefABCDEF"}
_HEX_SEPARATORS = frozenset(" :,\\\n\t")


class _EncodedLeaks:
    """Decodes runs of an encoding as they stream and scans what they decode to.

    A run shorter than `min_run` characters cannot decode to the 4 bytes needed for a hold
    or a match: it waits in a small buffer, decoded only if it grows that long, so ordinary
    words cost little."""

    suffix = ""
    min_run = 1

    def __init__(self, matcher: LeakMatcher):
        self.scanner = LeakScanner(matcher, hold_min=ENCODED_HOLD_MIN_CHARS)
        self._utf8 = _Utf8()
        self._pending: list[tuple[str, int]] = []  # (characters, index of the first)
        self._run = 0
        self._clear()

    def _clear(self) -> None:
        """Forget the current run (subclasses reset their decoding state)."""

    def reset(self) -> None:
        if self._run:
            self._run = 0
            if self._pending:  # a short run, never decoded
                self._pending.clear()
            else:
                self.scanner.reset()
                self._utf8.reset()
                self._clear()

    def hold_origin(self) -> int | None:
        return self.scanner.hold_origin()

    def _emit(self, byte: int, origin: int) -> str | None:
        decoded = self._utf8.push(byte, origin)
        if decoded is None:
            return None
        rule = self.scanner.scan(*decoded)
        return rule + self.suffix if rule else None

    def _take(self, chars: str, index: int) -> str | None:
        """Characters of a run (at `index`): buffered while the run is short, then decoded."""
        self._run += len(chars)
        if self._run < self.min_run:
            self._pending.append((chars, index))
            return None
        rule = None
        if self._pending:
            pending, self._pending = self._pending, []
            for buffered, at in pending:
                rule = self._decode(buffered, at) or rule
        return self._decode(chars, index) or rule

    def _decode(self, chars: str, index: int) -> str | None:
        raise NotImplementedError


_B64_RUN = re.compile(r"[A-Za-z0-9+/_\-\r\n]+")


class Base64Leaks(_EncodedLeaks):
    """Base64 (standard or URL-safe alphabet; line breaks inside a run allowed)."""

    suffix = ":base64"
    min_run = 6  # 6 characters → 4 bytes

    def _clear(self) -> None:
        self._acc = self._bits = 0
        self._start = 0

    def scan(self, text: str, start: int) -> str | None:
        rule = None
        end = 0
        for run in _B64_RUN.finditer(text):
            if run.start() > end:
                self.reset()  # something outside the alphabet ended the run
            end = run.end()
            rule = self._take(run.group(), start + run.start()) or rule
        if end < len(text):
            self.reset()
        return rule

    def _decode(self, chars: str, index: int) -> str | None:
        rule = None
        acc, bits, alphabet = self._acc, self._bits, _B64
        for at, char in enumerate(chars, index):
            value = alphabet.get(char)
            if value is None:  # a line break inside the run
                continue
            if not bits:
                self._start = at  # a new byte begins in this character
            acc = (acc << 6) | value
            bits += 6
            if bits >= 8:
                bits -= 8
                byte = acc >> bits
                acc &= (1 << bits) - 1
                begun, self._start = self._start, at
                rule = self._emit(byte, begun) or rule
        self._acc, self._bits = acc, bits
        return rule


class HexLeaks(_EncodedLeaks):
    """Hex: `4341`, `43 41`, `43:41`, `0x43, 0x41`, `\\x43\\x41`."""

    suffix = ":hex"
    min_run = 8  # 8 digits → 4 bytes

    _prev = ""  # the character before (for the 0x and \\x prefixes)

    def _clear(self) -> None:
        self._nibble: int | None = None
        self._start = 0

    def scan(self, text: str, start: int) -> str | None:
        rule = None
        digits = _HEX
        prev = self._prev
        for index, char in enumerate(text, start):
            if char in digits:
                rule = self._take(char, index) or rule
            elif self._run:
                if char in "xX" and prev == "\\":
                    pass  # a \\x prefix
                elif char in "xX" and prev == "0" and self._nibble_is_zero():
                    self._drop_last_nibble()  # a 0x prefix
                elif char not in _HEX_SEPARATORS or self._odd():
                    self.reset()
            prev = char
        self._prev = prev
        return rule

    def _odd(self) -> bool:
        """A nibble waits for its pair (a separator here ends the run)."""
        if self._pending:
            return len(self._pending) % 2 == 1
        return self._nibble is not None

    def _nibble_is_zero(self) -> bool:
        if self._pending:
            return len(self._pending) % 2 == 1 and self._pending[-1][0] == "0"
        return self._nibble == 0

    def _drop_last_nibble(self) -> None:
        if self._pending:
            self._pending.pop()
        else:
            self._nibble = None
        self._run -= 1

    def _decode(self, chars: str, index: int) -> str | None:
        rule = None
        for at, char in enumerate(chars, index):
            value = _HEX[char]
            if self._nibble is None:
                self._nibble, self._start = value, at
                continue
            byte, self._nibble = (self._nibble << 4) | value, None
            rule = self._emit(byte, self._start) or rule
        return rule
