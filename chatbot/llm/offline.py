# ruff: noqa: RUF001 - the Chinese answer uses Chinese (full-width) punctuation on purpose
"""A clearly labelled responder that needs no network, so the demo works anywhere.

It answers in the customer's language as far as it can: Chinese when the last customer
message is written in Chinese characters, English otherwise. When the turn was given
knowledge-base sources (`ChatRequest.sources`), it answers from them: the best source
quoted and cited as [1], so the demo helps without any model.

When the demo's `order_status` tool is offered and the customer's message names an order
number ("order 1234", "#1234", "订单 1234"), it calls that tool, deterministically, and
then answers from the tool's result: the demo shows a tool call with no LLM at all."""

import json
import re
import time

from .types import (
    ChatRequest,
    Completion,
    DeltaCallback,
    KnowledgeSource,
    ToolCallRequest,
    estimate_tokens,
)

OFFLINE_MODEL = "offline-responder"

_GREETING = re.compile(r"\b(hi|hello|hey)\b", re.IGNORECASE)
_GREETING_ZH = re.compile(r"你好|您好|嗨|哈喽")
_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"  # CJK ideographs (and extension A)
_CHINESE = re.compile(f"[{_HAN}]")
_KANA = re.compile(r"[\u3040-\u30ff]")  # Japanese also writes with Han: not Chinese then
# Pieces to stream: words with their trailing space, or up to two Chinese characters (and
# CJK punctuation), which have no spaces between them. Lossless: "".join(pieces) == text.
_CJK_RUN = f"{_HAN}\u3000-\u303f\uff00-\uffef"
_PIECES = re.compile(f"[{_CJK_RUN}]{{1,2}}|[^\\s{_CJK_RUN}]+\\s*|\\s+")
# The longest quote from a source, in characters (a chunk is a few hundred tokens).
QUOTE_MAX_CHARS = 700


_WORDS = re.compile(r"[a-z0-9]{3,}")
_HAN_RUN = re.compile(f"[{_HAN}]+")
# Words too common to tell two passages apart.
_COMMON = frozenset(
    [
        "the",
        "and",
        "are",
        "can",
        "could",
        "did",
        "does",
        "for",
        "from",
        "get",
        "got",
        "had",
        "has",
        "have",
        "how",
        "into",
        "its",
        "may",
        "not",
        "our",
        "out",
        "should",
        "than",
        "that",
        "the",
        "their",
        "them",
        "then",
        "there",
        "this",
        "use",
        "was",
        "what",
        "when",
        "where",
        "which",
        "who",
        "why",
        "will",
        "with",
        "would",
        "you",
        "your",
        "yours",
        "about",
        "after",
        "also",
        "any",
    ]
)
_SUFFIX = re.compile(r"(?<=[a-z]{3})(ing|ed|(?<!s)s)$")


def _terms(text: str) -> set[str]:
    """Latin words (3+ letters, common ones dropped, crudely stemmed) and Chinese character
    pairs: enough to tell which of a few passages a question is about."""
    text = text.lower()
    pairs = {run[i : i + 2] for run in _HAN_RUN.findall(text) for i in range(len(run) - 1)}
    words = {_SUFFIX.sub("", w) for w in _WORDS.findall(text) if w not in _COMMON}
    return words | pairs


def best_source(question: str, sources: tuple[KnowledgeSource, ...]) -> KnowledgeSource:
    """The source sharing the most terms with the question; the search's order breaks ties.

    The search ranks articles; several chunks of the best article often score alike (same
    title and tags), so this picks the one whose own heading and text fit the question."""
    asked = _terms(question)
    return max(
        sources,
        key=lambda s: (len(asked & _terms(f"{s.heading} {s.text}")), -s.number),
    )


ORDER_TOOL = "order_status"
_ORDER_NUMBER = re.compile(r"(?:\border\b|订单)\D{0,15}?(\d{3,12})\b|#(\d{3,12})\b", re.I)
_ORDER_STATES = {
    "processing": ("is being prepared", "正在备货"),
    "shipped": ("has shipped", "已发货"),
    "out_for_delivery": ("is out for delivery", "正在派送"),
    "delivered": ("was delivered", "已送达"),
}


def order_number_in(text: str) -> str | None:
    match = _ORDER_NUMBER.search(text)
    return (match.group(1) or match.group(2)) if match else None


def is_chinese(text: str) -> bool:
    return bool(_CHINESE.search(text)) and not _KANA.search(text)


class OfflineResponder:
    name = "offline"

    def __init__(self, *, word_delay_ms: int = 0):
        self.word_delay = word_delay_ms / 1000

    def compose(self, question: str) -> str:
        question = " ".join(question.split())
        quoted = question if len(question) <= 200 else question[:197] + "..."
        if is_chinese(question):
            opening = "您好！" if _GREETING_ZH.search(question) else ""
            return (
                f"{opening}我是**离线演示应答程序**：这台服务器没有配置语言模型，"
                "所以我暂时无法真正回答您的问题。\n\n"
                f"您的问题：“{quoted}”\n\n"
                "如需真正的回答，请管理员设置 `OPENAI_API_KEY`（使用其他兼容 OpenAI 的服务时"
                "还需设置 `OPENAI_BASE_URL`），然后重启 Chatdesk。"
            )
        opening = "Hello! " if _GREETING.search(question) else ""
        return (
            f"{opening}I'm the **offline demo responder**: no language model is configured "
            f"on this server, so I can't really answer yet.\n\n"
            f'You asked: "{quoted}"\n\n'
            "To get real answers, an operator sets `OPENAI_API_KEY` (and `OPENAI_BASE_URL` "
            "for any OpenAI-compatible server) and restarts Chatdesk."
        )

    def order_lookup(self, request: ChatRequest) -> ToolCallRequest | None:
        """The order_status call for the customer's last message, if it names an order."""
        last = request.messages[-1] if request.messages else None
        if last is None or last.role != "user":
            return None  # tool results are already in: answer from them
        if ORDER_TOOL not in {t.name for t in request.tools}:
            return None
        if (number := order_number_in(last.content)) is None:
            return None
        return ToolCallRequest(
            id=f"offline_order_{number}",
            name=ORDER_TOOL,
            arguments=json.dumps({"order_number": number}),
        )

    def compose_order_answer(self, question: str, result: str) -> str:
        chinese = is_chinese(question)
        try:
            envelope = json.loads(result)
        except ValueError:
            envelope = {}
        data = envelope.get("data") if isinstance(envelope, dict) else None
        if envelope.get("status") != "ok" or not isinstance(data, dict):
            if chinese:
                return "抱歉，我现在查不到这个订单（离线演示应答程序）。"
            return "Sorry, I could not look that order up just now (offline demo responder)."
        state = _ORDER_STATES.get(str(data.get("status")), (str(data.get("status")),) * 2)
        number, carrier, when = (
            data.get("order_number"),
            data.get("carrier"),
            data.get("delivery_date"),
        )
        if chinese:
            return (
                f"订单 {number}{state[1]}（承运商：{carrier}，预计送达：{when}）。\n\n"
                "这是演示商店的虚构数据，由离线演示应答程序通过订单查询工具获取。"
            )
        return (
            f"Order {number} {state[0]} (carrier: {carrier}, delivery date: {when}).\n\n"
            "This is made-up data from the demo shop, looked up by the offline demo "
            "responder through the order-status tool."
        )

    def quote(self, question: str, source: KnowledgeSource) -> str:
        """The best source, quoted and cited: the demo's answer from the knowledge base."""
        text = source.text.strip()
        if len(text) > QUOTE_MAX_CHARS:
            text = text[: QUOTE_MAX_CHARS - 3].rstrip() + "..."
        quoted = "\n".join(f"> {line}" if line.strip() else ">" for line in text.splitlines())
        where = f"{source.title} \u203a {source.heading}" if source.heading else source.title
        if is_chinese(question):
            return (
                f"根据我们的帮助文章《{where}》[{source.number}]：\n\n{quoted}\n\n"
                "（离线演示应答程序：直接引用知识库，未使用语言模型。）"
            )
        return (
            f"From our help article **{where}** [{source.number}]:\n\n{quoted}\n\n"
            "_(Offline demo responder: quoted from the knowledge base, no language model.)_"
        )

    def stream(self, request: ChatRequest, on_delta: DeltaCallback) -> Completion:
        started = time.monotonic()
        question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
        if (call := self.order_lookup(request)) is not None:
            return Completion(
                text="",
                model=OFFLINE_MODEL,
                prompt_tokens=max(1, sum(estimate_tokens(m.content) for m in request.messages)),
                completion_tokens=1,
                finish_reason="tool_calls",
                latency_ms=int((time.monotonic() - started) * 1000),
                ttft_ms=0,
                tool_calls=(call,),
            )
        last = request.messages[-1] if request.messages else None
        if last is not None and last.role == "tool":
            text = self.compose_order_answer(question, last.content)
        elif request.sources:
            text = self.quote(question, best_source(question, request.sources))
        else:
            text = self.compose(question)
        for piece in _PIECES.findall(text):
            if self.word_delay:
                time.sleep(self.word_delay)
            on_delta(piece)
        return Completion(
            text=text,
            model=OFFLINE_MODEL,
            prompt_tokens=max(1, sum(estimate_tokens(m.content) for m in request.messages)),
            completion_tokens=max(1, estimate_tokens(text)),
            finish_reason="stop",
            latency_ms=int((time.monotonic() - started) * 1000),
            ttft_ms=0,
        )
