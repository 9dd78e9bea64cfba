"""Local, offline detectors: PII (emails, phones, payment cards, China resident IDs) and
obvious prompt-injection phrasing. Pure functions over text; no Django, no I/O, so they
are cheap enough for the logging filter's hot path and for every streamed delta.

Checksums come from python-stdnum (Luhn, ISO 7064 MOD 11-2); the candidate regexes are
ours because they must stay fast on arbitrary text.
"""

import datetime
import re
from collections.abc import Iterator
from dataclasses import dataclass

from stdnum import luhn
from stdnum.cn import ric

# Category names shared with the policy (see chatbot/moderation/policy.py).
PII_EMAIL = "pii/email"
PII_PHONE = "pii/phone"
PII_CARD = "pii/card"
PII_CN_ID = "pii/cn_id"
INJECTION = "injection"


@dataclass(frozen=True, slots=True)
class Detection:
    category: str
    start: int
    end: int


_EMAIL = re.compile(
    r"(?<![\w.+-])[\w.+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,24}\b"
)
# 18 digits (the last may be X), not inside a longer run of digits.
_CN_ID = re.compile(r"(?<![0-9A-Za-z])\d{17}[\dXx](?![0-9A-Za-z])")
_SEVEN_DIGITS = re.compile(r"\d(?:\D*\d){6}")  # nothing below is possible with fewer
# Runs of digit groups separated by single spaces or dashes; cards (13-19 digits, as they
# are printed) are searched inside a run, since a run may hold a phone number and a card.
_DIGIT_RUN = re.compile(r"(?<![\d-])\d+(?:[ -]\d+)*")
_DIGIT_GROUP = re.compile(r"\d+")
# Mainland China mobile: 1[3-9]x xxxx xxxx, optionally with +86 / 86, separators allowed.
_CN_MOBILE = re.compile(r"(?<![\d+])(?:(?:\+|00)?86[ -]?)?1[3-9]\d(?:[ -]?\d{4}){2}(?!\d)")
# International: +<country code> then 6-14 more digits in groups (E.164 allows 15 in all).
_INTL_PHONE = re.compile(r"(?<![\w+])\+[1-9]\d{0,2}(?:[ .-]?\(?\d{1,5}\)?){1,6}(?!\d)")
# North American style national numbers: (555) 123-4567, 555-123-4567, 555.123.4567.
_NANP_PHONE = re.compile(r"(?:\(\d{3}\)\s?|\b\d{3}[.-])\d{3}[.-]\d{4}(?!\d)")

_INJECTION = re.compile(
    r"(ignore|disregard|forget|override)\s+(all\s+|any\s+|the\s+|your\s+)*(previous|prior|above"
    r"|earlier|preceding|system)\s+(instructions?|prompts?|rules?|messages?)"
    r"|(reveal|print|show|repeat|output|display)\s+(me\s+)?(your|the)\s+(full\s+|entire\s+)?"
    r"(system\s+prompt|initial\s+instructions|hidden\s+instructions)"
    r"|\bDAN\b|do\s+anything\s+now|developer\s+mode|jailbreak"
    r"|忽略(之前|以上|前面|先前|所有)|无视(之前|以上|前面|所有)|系统提示|越狱",
    re.IGNORECASE,
)


def _digits(text: str) -> str:
    return re.sub(r"\D", "", text)


def card_number_valid(candidate: str) -> bool:
    digits = _digits(candidate)
    return 13 <= len(digits) <= 19 and len(set(digits)) > 1 and luhn.is_valid(digits)


def cn_id_valid(candidate: str, *, today: datetime.date | None = None) -> bool:
    """18 digits with the ISO 7064 MOD 11-2 check digit and a plausible birth date."""
    number = candidate.upper()
    if len(number) != 18 or not number[:17].isdigit() or number[0] == "0":
        return False
    if ric.calc_check_digit(number) != number[-1]:
        return False
    try:
        born = datetime.date(int(number[6:10]), int(number[10:12]), int(number[12:14]))
    except ValueError:
        return False
    return datetime.date(1900, 1, 1) <= born <= (today or datetime.date.today())


def _phone_plausible(candidate: str) -> bool:
    return 8 <= len(_digits(candidate)) <= 15


def detect_pii(text: str) -> list[Detection]:
    """Every PII span in `text`, in order, without overlaps.

    Detectors run from the most to the least specific (email, ID, phone, card); each one's
    finds are blanked out before the next runs, so an ID is not also a phone, and a card
    right after a phone number is still found."""
    found: list[Detection] = []
    work = text

    def take(detections: list[Detection]) -> None:
        nonlocal work
        for d in detections:
            found.append(d)
            work = work[: d.start] + "\x00" * (d.end - d.start) + work[d.end :]

    if "@" in text:
        take([Detection(PII_EMAIL, m.start(), m.end()) for m in _EMAIL.finditer(work)])
    if _SEVEN_DIGITS.search(text):
        take(
            [
                Detection(PII_CN_ID, m.start(), m.end())
                for m in _CN_ID.finditer(work)
                if cn_id_valid(m.group())
            ]
        )
        for pattern in (_CN_MOBILE, _INTL_PHONE, _NANP_PHONE):
            take(
                [
                    Detection(PII_PHONE, m.start(), m.end())
                    for m in pattern.finditer(work)
                    if _phone_plausible(m.group())
                ]
            )
        take(list(_cards(work)))
    return sorted(found, key=lambda d: d.start)


def _cards(text: str) -> Iterator[Detection]:
    for run in _DIGIT_RUN.finditer(text):
        groups = [
            (run.start() + g.start(), run.start() + g.end())
            for g in _DIGIT_GROUP.finditer(run.group())
        ]
        sizes = [end - start for start, end in groups]
        if sum(sizes) < 13:
            continue
        i = 0
        while i < len(groups):
            for j in range(len(groups) - 1, i - 1, -1):  # the longest candidate first
                start, end = groups[i][0], groups[j][1]
                if 13 <= sum(sizes[i : j + 1]) <= 19 and card_number_valid(text[start:end]):
                    yield Detection(PII_CARD, start, end)
                    i = j
                    break
            i += 1


def detect_injection(text: str) -> Iterator[Detection]:
    for match in _INJECTION.finditer(text):
        yield Detection(INJECTION, match.start(), match.end())


def mask_pii(text: str) -> str:
    """`text` with each PII span replaced by a placeholder such as `[email]`."""
    spans = detect_pii(text)
    if not spans:
        return text
    out, last = [], 0
    for span in spans:
        out += [text[last : span.start], f"[{span.category.split('/', 1)[1]}]"]
        last = span.end
    out.append(text[last:])
    return "".join(out)
