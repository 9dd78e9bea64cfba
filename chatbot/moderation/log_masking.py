"""Log hygiene: PII and secrets are masked in every record, message bodies stay out.

`PIIMaskingFilter` is installed on the console handler in `LOGGING` (and on the Celery
worker's handlers, see chatbot/celery.py), so it sees records from every logger, ours and
third-party alike. It masks what the detectors of chatbot.moderation find (emails, phones,
payment cards, China resident IDs) and credential-looking strings (bearer tokens, API keys).

Code that wants to mention a message's text logs `body_for_log(text)`: the text only when
LOG_MESSAGE_BODIES is on (local debugging), otherwise just its length.
"""

import logging
import re

from django.conf import settings
from pythonjsonlogger.json import JsonFormatter

from chatbot.moderation.detectors import mask_pii

_SECRETS = re.compile(
    r"(?i)\b(bearer\s+)[A-Za-z0-9._~+/=-]{8,}"  # Authorization headers
    r"|\b(?:sk|pk|rk|cdt|wk|wks)[-_][A-Za-z0-9_-]{12,}"  # API keys, Chatdesk tokens and keys
    r"|((?:api[_-]?key|secret|password|token)[\"']?\s*[:=]\s*[\"']?)[^\s\"',;]{6,}"
)


def _mask_secret(match: re.Match) -> str:
    prefix = match.group(1) or match.group(2) or ""
    return f"{prefix}[secret]"


def mask_sensitive(text: str) -> str:
    return _SECRETS.sub(_mask_secret, mask_pii(text))


def body_for_log(text: str) -> str:
    """What a log line may say about a message's content."""
    if settings.LOG_MESSAGE_BODIES:
        return text
    return f"<{len(text)} chars>"


class PIIMaskingFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        if getattr(record, "_pii_masked", False):
            return True  # already done by another handler's filter
        record._pii_masked = True
        try:
            message = record.getMessage()
        except Exception:  # a bad format string: leave it to the formatter
            return True
        masked = mask_sensitive(message)
        if masked != message:
            record.msg, record.args = masked, None
        if record.exc_info and not record.exc_text:
            record.exc_text = logging.Formatter().formatException(record.exc_info)
        if record.exc_text:
            record.exc_text = mask_sensitive(record.exc_text)
        return True


def _masked(value):
    if isinstance(value, str):
        return mask_sensitive(value)
    if isinstance(value, dict):
        return {key: _masked(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [_masked(item) for item in value]
    return value


class MaskedJsonFormatter(JsonFormatter):
    """One JSON object per line (production logs). Masks every string it writes: the
    message (already masked by the filter), the traceback it formats itself from
    `exc_info`, and any `extra=` fields, which the filter never sees."""

    def process_log_record(self, log_data):
        return _masked(super().process_log_record(log_data))
