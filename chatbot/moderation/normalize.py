# ruff: noqa: RUF002 (the docstring shows look-alike characters on purpose)
"""The skeleton: the normal form in which the output guard looks for leaks.

Each character of a text contributes zero or more skeleton characters, on its own:

1. format characters (Unicode category Cf: zero-width space and joiners, soft hyphen, BOM,
   bidi controls) contribute nothing;
2. compatibility decomposition, combining marks dropped, recomposed (NFKD, drop Mn/Me, NFC):
   fullwidth `Ａ` → `A`, `ﬁ` → `fi`, `𝐂` → `C`, `²` → `2`, `é` → `e`;
3. case folding (`CANARY` → `canary`, `ß` → `ss`);
4. look-alikes: a non-ASCII letter that Unicode's confusables data (TR39, as shipped by
   `confusable_homoglyphs`) lists as confusable with an ASCII letter or digit becomes that
   character: Cyrillic `а`/`А` → `a`, Greek `ο` → `o`, Cyrillic `З` → `3`, Armenian `օ` →
   `o`, Cherokee `Ꭺ` → `a`. Both cases of a letter map alike (the lookup is on the folded
   letter and on its capital). ASCII is left alone: `0` and `o` stay different;
5. whatever is not then a letter or a digit (spaces, hyphens including U+2010–U+2015,
   punctuation, symbols) contributes nothing, so separators collapse:
   `C A N A R Y – 7f` and `canary7f` have the same skeleton.

Because it is built character by character, skeleton(a + b) == skeleton(a) + skeleton(b):
a stream can be folded delta by delta, and every skeleton character knows the character
of the original it came from (so what is held back or shown is always the original text).

Pure functions; no Django, no I/O. The confusables table (~1 MB of JSON) is loaded on the
first non-ASCII character, not at import.
"""

import unicodedata

# ASCII: lower-case letters and digits, nothing for the rest.
_ASCII = {chr(i): (chr(i).lower() if chr(i).isalnum() else "") for i in range(128)}
FOLDS: dict[str, str] = dict(_ASCII)  # char -> its skeleton (read directly by the hot loop)
FOLDS_LIMIT = 65_536  # distinct characters remembered (a reply cannot grow memory unbounded)
_MARKS = frozenset(("Mn", "Me"))


def fold(char: str) -> str:
    """The skeleton of one character ("" for separators and invisible characters)."""
    folded = FOLDS.get(char)
    if folded is None:
        folded = _fold_uncached(char)
        if len(FOLDS) >= FOLDS_LIMIT:
            FOLDS.clear()
            FOLDS.update(_ASCII)
        FOLDS[char] = folded
    return folded


def skeleton(text: str) -> str:
    return "".join(fold(c) for c in text)


def skeleton_with_origins(text: str) -> tuple[str, list[int]]:
    """The skeleton, and for each of its characters the index in `text` it came from."""
    chars: list[str] = []
    origins: list[int] = []
    for index, char in enumerate(text):
        for piece in fold(char):
            chars.append(piece)
            origins.append(index)
    return "".join(chars), origins


def _fold_uncached(char: str) -> str:
    if unicodedata.category(char) == "Cf":
        return ""
    base = "".join(
        c for c in unicodedata.normalize("NFKD", char) if unicodedata.category(c) not in _MARKS
    )
    out = []
    for c in base.casefold():
        if unicodedata.category(c) in _MARKS:  # casefold may add one (İ → i̇)
            continue
        c = _ascii_lookalike(c) or c
        out.extend(x for x in c if x.isalnum())
    return unicodedata.normalize("NFC", "".join(out))


def _ascii_lookalike(char: str) -> str | None:
    """The ASCII letter or digit that a non-ASCII letter (already case-folded) looks like."""
    if char.isascii():
        return None
    from confusable_homoglyphs import confusables  # loads its table once

    upper = char.upper()
    for candidate in (char, upper) if len(upper) == 1 and upper != char else (char,):
        found = confusables.is_confusable(
            candidate, greedy=True, preferred_aliases=["latin", "common"]
        )
        for entry in found or ():
            for glyph in entry["homoglyphs"]:
                text = glyph["c"]
                if text.isascii() and text.isalnum():
                    return text.lower()
    return None
