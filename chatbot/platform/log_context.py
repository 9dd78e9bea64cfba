"""What every log line says about where it comes from: request id, conversation id, reply id.

Values live in context variables, so they follow a request through sync and async code
(asgiref copies the context into the threads it runs sync code in) and an eager task.
Across Celery they travel as task headers (chatbot/celery.py): set when the task is
published, bound again when the worker runs it.

`LogContextFilter` copies them onto every record (`record.request_id` etc., "-" when
unknown) for both the JSON and the plain formatter.
"""

from __future__ import annotations

import contextvars
import logging
import re
import uuid
from contextlib import contextmanager

FIELDS = ("request_id", "conversation_id", "reply_id")
_vars = {name: contextvars.ContextVar(name, default="") for name in FIELDS}

# A client-supplied X-Request-ID is kept only when it looks like an id (no log injection).
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def request_id_from_header(value: str | None) -> str:
    if value and _REQUEST_ID.match(value):
        return value
    return uuid.uuid4().hex


def current() -> dict[str, str]:
    return {name: var.get() for name, var in _vars.items() if var.get()}


def bind(**values) -> None:
    """Set fields for the rest of this context (None or "" leaves a field as it is)."""
    for name, value in values.items():
        if value:
            _vars[name].set(str(value))


@contextmanager
def fresh(**values):
    """A new context for a block (a request, a task): the given fields, the others empty;
    everything as it was after it (a thread serves many requests)."""
    tokens = [(var, var.set(str(values.get(name) or ""))) for name, var in _vars.items()]
    try:
        yield
    finally:
        for var, token in reversed(tokens):
            var.reset(token)


def clear() -> None:
    for var in _vars.values():
        var.set("")


class LogContextFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        # Django logs a request's 4xx/5xx after the middleware has returned: the request
        # itself (`extra={"request": ...}`) still knows its id.
        request_id = getattr(getattr(record, "request", None), "request_id", None)
        if request_id and not getattr(record, "request_id", None):
            record.request_id = request_id
        for name, var in _vars.items():
            if not getattr(record, name, None):
                setattr(record, name, var.get() or "-")
        return True
