"""Bench: what one tool round (model → tool → model) adds beyond the tool's own latency,
side by side with the same round done by hand with a direct SDK call of the same stub.

    .venv/bin/python bench/tool_round.py [--turns 60] [--ttft 0.02] [--tool-ms 20]

Each iteration runs, on a fresh conversation of an HMAC-verified customer:

* a plain turn through Chatdesk (`turn_start` → eager `reply_generate`: context, router,
  the real `openai` SDK streaming from the stub `tests.stub_llm.StubLLMServer`, output
  guard, persistence, ledger);
* a tool turn through Chatdesk: the stub streams a `lookup_orders` call, chatbot.tools runs
  the HTTP tool (SSRF guard, identity header, JSON Schema check, ledger row) on the tool
  stub (`tests.tool_stub.ToolStub`, answering after --tool-ms), and the model answers;
* the same two by hand: one direct streamed SDK call (`OpenAIProvider.stream`, the only
  module that imports `openai`), and the direct tool flow: the streamed tool-call request,
  one reused `httpx` GET of the tool stub, then the answer request.

The tool round's cost = (tool turn - plain turn) - (direct tool flow - direct plain call):
what Chatdesk spends on a round beyond the extra model call and the tool's own latency that
any client pays. Storage: a throw-away SQLite file; cache and event bus in-process.
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def configure(stub_url: str, database_url: str) -> None:
    from bench.common import django_in_process

    django_in_process(
        database_url,
        {
            "CELERY_EAGER_IN_BACKGROUND": "false",
            "OPENAI_BASE_URL": stub_url,
            "OPENAI_API_KEY": "sk-bench",
            "LLM_MODEL": "gpt-4o-mini",
            "LLM_MAX_RETRIES": "0",
            "CHAT_DEBOUNCE_SECONDS": "0",
            "RESPONSE_CACHE_TTL_SECONDS": "0",
            "RATE_LIMIT_USER": "100000/minute",
            "TOOLS_BUILTINS": "",
            "TOOLS_SSRF_ALLOWED_NETWORKS": "127.0.0.1/32",
        },
    )


SCHEMA = {
    "type": "object",
    "properties": {"order_number": {"type": "string", "pattern": "^[0-9]{1,12}$"}},
    "required": ["order_number"],
    "additionalProperties": False,
}
ANSWER = "Your order 1234 left the warehouse this morning and arrives on Thursday."


def run(stub, tools, *, turns: int, ttft: float, tool_ms: int) -> dict:
    import httpx

    from accounts.services import (
        identity_hash,
        visitor_session_create,
        widget_key_create,
        widget_key_rotate_identity_secret,
    )
    from chatbot.llm import ChatMessage, ChatRequest, ToolSpec
    from chatbot.llm.openai_provider import OpenAIProvider
    from chatbot.replies.turn import turn_start
    from chatbot.tools.models import Tool, ToolCall
    from conversations.models import Conversation, Message
    from tests.stub_llm import Reply, ToolCalls
    from tests.stub_llm import ToolCall as Call
    from tests.tool_stub import ToolReply

    tools.route(
        "/orders", ToolReply(body={"order": "1234", "status": "shipped"}, delay=tool_ms / 1000)
    )
    key = widget_key_create(name="Bench shop")
    secret = widget_key_rotate_identity_secret(widget_key=key)
    customer = visitor_session_create(
        public_key=key.public_key,
        origin=None,
        external_user_id="cust-1",
        user_hash=identity_hash(secret=secret, external_user_id="cust-1"),
    ).user
    tool = Tool.objects.create(
        name="lookup_orders",
        description="The customer's orders",
        parameters=SCHEMA,
        url=tools.url("/orders"),
        method="GET",
    )
    tool.widget_keys.add(key)
    direct = OpenAIProvider(
        base_url=stub.base_url, api_key="sk-bench", connect_timeout=5, read_timeout=30
    )
    plain_http = httpx.Client()
    spec = ToolSpec("lookup_orders", "The customer's orders", SCHEMA)
    results = {k: [] for k in ("plain", "tool", "direct_plain", "direct_tool", "tool_latency")}

    def ours(script) -> float:
        for action in script:
            stub.script(action)
        conversation = Conversation.objects.create(customer=customer, widget_key=key)
        started = time.perf_counter()
        result = turn_start(conversation=conversation, content="Where is my order 1234?")
        elapsed = time.perf_counter() - started
        done = Message.objects.get(pk=result.reply.id)
        assert done.status == "completed" and done.content == ANSWER, (done.status, done.content)
        return elapsed

    for _ in range(turns):
        answer = Reply(text=ANSWER, chunks=8, ttft=ttft)
        calls = ToolCalls([Call("lookup_orders", {"order_number": "1234"})], ttft=ttft)
        results["plain"].append(ours([answer]))
        results["tool"].append(ours([calls, answer]))
        results["tool_latency"].append(ToolCall.objects.latest("created_at").latency_ms / 1000)

        request = ChatRequest(
            model="gpt-4o-mini",
            messages=[ChatMessage("system", "You help."), ChatMessage("user", "Order 1234?")],
        )
        stub.script(answer)
        started = time.perf_counter()
        direct.stream(request, lambda _t: None)
        results["direct_plain"].append(time.perf_counter() - started)

        stub.script(calls)
        stub.script(answer)
        started = time.perf_counter()
        first = direct.stream(
            ChatRequest(model="gpt-4o-mini", messages=request.messages, tools=(spec,)),
            lambda _t: None,
        )
        data = plain_http.get(tools.url("/orders"), params={"order_number": "1234"}).text
        follow = [
            *request.messages,
            ChatMessage("assistant", "", tool_calls=first.tool_calls),
            ChatMessage("tool", data, tool_call_id=first.tool_calls[0].id),
        ]
        direct.stream(ChatRequest(model="gpt-4o-mini", messages=follow), lambda _t: None)
        results["direct_tool"].append(time.perf_counter() - started)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=60)
    parser.add_argument("--ttft", type=float, default=0.02, help="stub's TTFT, s (0.02)")
    parser.add_argument("--tool-ms", type=int, default=20, help="the tool's own latency (20)")
    args = parser.parse_args()

    from tests.stub_llm import StubLLMServer
    from tests.tool_stub import ToolStub

    tools = ToolStub().start()
    with StubLLMServer() as stub, tempfile.TemporaryDirectory() as tmp:
        configure(stub.base_url, f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        print(
            f"{args.turns} iterations, stub ttft {args.ttft * 1000:.0f} ms per call, tool "
            f"{args.tool_ms} ms, SQLite, eager tasks, in-process event bus"
        )
        r = run(stub, tools, turns=args.turns, ttft=args.ttft, tool_ms=args.tool_ms)
    tools.stop()
    skip = 2  # warm-up: first connections, first queries
    med = {k: statistics.median(v[skip:]) * 1000 for k, v in r.items()}
    per_round = sorted(
        ((t - p) - (dt - dp)) * 1000
        for t, p, dt, dp in zip(
            r["tool"][skip:],
            r["plain"][skip:],
            r["direct_tool"][skip:],
            r["direct_plain"][skip:],
            strict=True,
        )
    )
    p50_round = med["tool"] - med["plain"] - (med["direct_tool"] - med["direct_plain"])
    print(f"\n{'':34}{'Chatdesk':>10}{'direct SDK':>12}{'ratio':>8}")
    print(
        f"{'turn without tools, p50 (ms)':34}{med['plain']:>10.1f}{med['direct_plain']:>12.1f}"
        f"{med['plain'] / med['direct_plain']:>8.2f}"
    )
    print(
        f"{'turn with one tool round, p50':34}{med['tool']:>10.1f}{med['direct_tool']:>12.1f}"
        f"{med['tool'] / med['direct_tool']:>8.2f}"
    )
    print(
        f"{'the round (with - without)':34}{med['tool'] - med['plain']:>10.1f}"
        f"{med['direct_tool'] - med['direct_plain']:>12.1f}"
    )
    print(f"tool's own latency (ledger) p50: {med['tool_latency']:.1f} ms")
    print(
        f"a tool round adds beyond the tool and the extra model call: p50 {p50_round:.1f} ms "
        f"(per-iteration p50 {statistics.median(per_round):.1f} ms, p90 "
        f"{per_round[int(len(per_round) * 0.9)]:.1f} ms); budget p50 <= 20 ms -> "
        f"{'PASS' if p50_round <= 20 else 'FAIL'}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
