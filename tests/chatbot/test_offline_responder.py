# ruff: noqa: RUF001 - Chinese text with Chinese (full-width) punctuation
"""The offline responder (chatbot/llm/offline.py) answers in the customer's language."""

import pytest

from chatbot.llm import ChatMessage, ChatRequest, OfflineResponder


def _answer(*user_messages: str) -> tuple[str, list[str]]:
    messages = []
    for content in user_messages:
        messages += [ChatMessage("user", content), ChatMessage("assistant", "…")]
    request = ChatRequest(model="offline-responder", messages=messages[:-1])
    deltas: list[str] = []
    completion = OfflineResponder().stream(request, deltas.append)
    assert "".join(deltas) == completion.text
    return completion.text, deltas


def test_a_chinese_message_gets_a_chinese_answer_streamed_in_small_pieces():
    text, deltas = _answer("我的包裹在哪里？")
    assert "离线演示应答程序" in text and "我的包裹在哪里？" in text
    assert "I'm the" not in text and "You asked" not in text
    assert "OPENAI_API_KEY" in text  # names stay as they are
    assert len(deltas) > 20 and max(len(d) for d in deltas) <= 20


@pytest.mark.parametrize("greeting", ["你好", "您好，请问运费多少？", "你好吗"])
def test_a_chinese_greeting_is_answered_in_chinese(greeting):
    text, _ = _answer(greeting)
    assert text.startswith("您好！")


def test_english_stays_english():
    text, _ = _answer("Hello, where is my parcel?")
    assert text.startswith("Hello! I'm the **offline demo responder**")
    assert "离线" not in text


def test_the_last_customer_message_decides():
    assert "You asked" in _answer("你好", "Where is my order #1042?")[0]
    assert "您的问题" in _answer("Hello", "订单 #1042 到哪了")[0]


def test_japanese_is_not_taken_for_chinese():
    text, _ = _answer("注文はどこですか")
    assert "You asked" in text
