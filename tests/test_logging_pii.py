"""Log hygiene: PII and secrets are masked in every record the configured handlers write,
and message bodies stay out of logs unless LOG_MESSAGE_BODIES is on."""

import io
import logging

import pytest

from chatbot.moderation.log_masking import PIIMaskingFilter, body_for_log, mask_sensitive

PII = "jane.doe@example.com +86 138 0013 8000 4111 1111 1111 1111 11010519491231002X"


@pytest.fixture
def console():
    """The console handler from LOGGING, writing into a buffer for the test."""
    handlers = [
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, PIIMaskingFilter) for f in h.filters)
    ]
    assert handlers, "LOGGING's console handler must carry the PII filter"
    handler = handlers[0]
    buffer = io.StringIO()
    old = handler.setStream(buffer)
    yield buffer
    handler.setStream(old)


def test_the_console_handler_masks_pii_in_messages_and_args(console):
    logging.getLogger("chatbot.anything").warning("customer wrote %s", PII)
    logging.getLogger("some.library").error(f"inline {PII}")
    out = console.getvalue()
    for raw in ("jane.doe@example.com", "138 0013 8000", "4111 1111", "11010519491231002X"):
        assert raw not in out
    assert out.count("[email] [phone] [card] [cn_id]") == 2


def test_tracebacks_are_masked_too(console):
    try:
        raise ValueError(f"bad input from {PII}")
    except ValueError:
        logging.getLogger("chatbot.x").exception("failed")
    out = console.getvalue()
    assert "Traceback" in out and "ValueError: bad input from [email]" in out
    assert "jane.doe" not in out


def test_secrets_are_masked():
    assert (
        mask_sensitive("Authorization: Bearer cdt_abcdefghijklmnopqrst")
        == "Authorization: Bearer [secret]"
    )
    assert mask_sensitive("key sk-proj-ABCDEFGHIJKLMNOP1234 used") == "key [secret] used"
    assert mask_sensitive("password=hunter2hunter") == "password=[secret]"
    uuid = "reply 3f1c2a4e-1234-4abc-9def-0123456789ab failed: timeout"
    assert mask_sensitive(uuid) == uuid  # ids stay readable


def test_message_bodies_are_left_out_unless_enabled(settings):
    assert body_for_log("my secret question") == "<18 chars>"
    settings.LOG_MESSAGE_BODIES = True
    assert body_for_log("my secret question") == "my secret question"


def test_a_record_is_masked_once_even_with_two_handlers():
    record = logging.LogRecord("x", logging.INFO, __file__, 1, "mail %s", ("a@b.com",), None)
    first, second = PIIMaskingFilter(), PIIMaskingFilter()
    assert first.filter(record) and second.filter(record)
    assert record.getMessage() == "mail [email]"


def test_celery_worker_handlers_get_the_filter():
    from chatbot.celery import _mask_pii_in_worker_logs

    logger = logging.getLogger("test.worker.root")
    handler = logging.StreamHandler(io.StringIO())
    logger.addHandler(handler)
    try:
        _mask_pii_in_worker_logs(logger=logger)
        assert any(isinstance(f, PIIMaskingFilter) for f in handler.filters)
    finally:
        logger.removeHandler(handler)


@pytest.mark.django_db
def test_blocked_message_log_line_has_no_body(settings, caplog):
    from chatbot.moderation.services import message_moderate
    from tests.factories import MessageFactory

    settings.MODERATION_BLOCKED_TERMS = ["forbidden-word"]
    message = MessageFactory(content="secret stuff forbidden-word jane@example.com")
    with caplog.at_level(logging.INFO, logger="chatbot.moderation"):
        assert message_moderate(message=message).blocked
    text = caplog.text
    assert "term:forbidden-word" in text and "<44 chars>" in text
    assert "secret stuff" not in text
