"""Bench: do input tokens per turn level off as a conversation grows? And what does a turn
cost in time next to a direct SDK call of the same stub?

    .venv/bin/python bench/context_trimming.py [--turns 50] [--ttft 0.03]

Plays a scripted 50-turn conversation through the real code path: `message_send` stores
the message and (Celery in eager mode) runs `reply_generate` -> `chatbot.prompt.context.
context_build` (token-budget trimming) -> the real `openai` SDK, streaming from the
OpenAI-compatible stub server (`tests.stub_llm.StubLLMServer`, started in-process on
loopback). Storage is a throw-away SQLite file (no services needed; migrations run first);
cache and event bus are in-process. Two scenarios:

* defaults: CHAT_CONTEXT_TOKEN_BUDGET=4000 and CHAT_HISTORY_MESSAGES=20 as shipped;
* token budget only: the message-count cap lifted (1000), budget 1500 tokens, so the
  levelling-off is the token trimming's doing.

Input tokens of a turn = tiktoken count (o200k_base, shipped offline) of every message the
stub received, plus the per-message wire overhead. The direct call replays the very same
messages with one reused SDK client (`chatbot.llm.openai_provider.OpenAIProvider`, the only
module that imports `openai`), so the time ratio is "our turn" / "bare SDK call".
"""

import argparse
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

_VOCABULARY = (
    "order parcel delivery refund invoice account password shipping address return "
    "warranty size colour discount coupon payment card tracking number store "
    "opening hours exchange damaged missing late weekend express international"
)
WORDS = _VOCABULARY.split()


def sentence(rng: random.Random, words: int) -> str:
    return " ".join(rng.choice(WORDS) for _ in range(words)).capitalize() + "."


def configure(stub_url: str, database_url: str) -> None:
    from bench.common import django_in_process

    django_in_process(
        database_url,
        {
            "CELERY_EAGER_IN_BACKGROUND": "false",  # the turn is done when turn_start returns
            "OPENAI_BASE_URL": stub_url,
            "OPENAI_API_KEY": "sk-bench",
            "LLM_MODEL": "gpt-4o-mini",
            "LLM_MAX_RETRIES": "0",
            "CHAT_DEBOUNCE_SECONDS": "0",
        },
    )


def play(stub, *, turns: int, ttft: float, seed: int = 4) -> dict:
    from django.test.utils import CaptureQueriesContext  # noqa: F401 - keeps Django warm

    from accounts.models import User
    from chatbot.llm import ChatMessage, ChatRequest
    from chatbot.llm.openai_provider import OpenAIProvider
    from chatbot.prompt.tokens import TOKENS_REPLY_PRIMING, count_tokens, message_tokens
    from chatbot.replies.turn import turn_start
    from conversations.models import Conversation, Message
    from tests.stub_llm import Reply

    rng = random.Random(seed)
    user = User.objects.create(username=f"bench-{time.monotonic_ns()}")
    conversation = Conversation.objects.create(customer=user)
    direct = OpenAIProvider(
        base_url=stub.base_url,
        api_key="sk-bench",
        connect_timeout=5,
        read_timeout=30,
    )
    tokens, ours, bare = [], [], []
    for _turn in range(turns):
        answer = sentence(rng, rng.randint(40, 120))
        reply = Reply(text=answer, chunks=8, ttft=ttft)
        stub.script(reply)
        before = len(stub.requests)
        started = time.perf_counter()
        result = turn_start(conversation=conversation, content=sentence(rng, rng.randint(8, 60)))
        ours.append(time.perf_counter() - started)
        done = Message.objects.get(pk=result.reply.id)
        assert done.status == "completed", (done.status, done.error_code)
        sent = [r for r in stub.requests[before:] if r.path.endswith("/chat/completions")][-1]
        tokens.append(
            sum(
                message_tokens(count_tokens(m["content"], "gpt-4o-mini").tokens)
                for m in sent.messages
            )
            + TOKENS_REPLY_PRIMING
        )
        # The same request, straight through the SDK.
        stub.script(reply)
        request = ChatRequest(
            model=sent.body["model"],
            messages=[ChatMessage(m["role"], m["content"]) for m in sent.messages],
            temperature=sent.body.get("temperature"),
            max_tokens=sent.body.get("max_tokens"),
        )
        started = time.perf_counter()
        direct.stream(request, lambda _text: None)
        bare.append(time.perf_counter() - started)
    return {"tokens": tokens, "ours": ours, "bare": bare}


def report(name: str, result: dict) -> float:
    tokens = result["tokens"]
    ratio = tokens[49] / tokens[9] if len(tokens) >= 50 else float("nan")
    print(f"\n== {name}")
    print(
        "input tokens at turn "
        + ", ".join(f"{t}: {tokens[t - 1]}" for t in (1, 5, 10, 20, 30, 40, 50) if t <= len(tokens))
    )
    print(
        f"turn 50 / turn 10 = {ratio:.2f} (target <= 1.20) -> {'PASS' if ratio <= 1.2 else 'FAIL'}"
    )
    # Turn 1 includes one-off warm-up (tiktoken load, first connection): left out.
    ours, bare = result["ours"][1:], result["bare"][1:]
    p50_ours, p50_bare = statistics.median(ours), statistics.median(bare)
    print(
        f"time per turn p50: {p50_ours * 1000:.1f} ms through Chatdesk vs "
        f"{p50_bare * 1000:.1f} ms direct SDK call -> ratio {p50_ours / p50_bare:.2f}, "
        f"overhead {(p50_ours - p50_bare) * 1000:.1f} ms"
    )
    return ratio


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--turns", type=int, default=50)
    parser.add_argument(
        "--ttft",
        type=float,
        default=0.03,
        help="stub's time to first token, seconds (default 0.03)",
    )
    parser.add_argument(
        "--database-url",
        default="",
        help="e.g. postgres://postgres@127.0.0.1:5432/chatdesk_bench (an "
        "existing, migratable database); default: a temporary SQLite file",
    )
    args = parser.parse_args()

    from tests.stub_llm import StubLLMServer

    with StubLLMServer() as stub, tempfile.TemporaryDirectory() as tmp:
        configure(stub.base_url, args.database_url or f"sqlite:///{Path(tmp) / 'bench.sqlite3'}")
        from django.conf import settings

        engine = settings.DATABASES["default"]["ENGINE"].rsplit(".", 1)[-1]
        print(
            f"{args.turns} turns, stub ttft {args.ttft * 1000:.0f} ms, {engine}, eager "
            f"tasks, model {settings.LLM_MODEL}"
        )
        ratios = [
            report(
                f"defaults (budget {settings.CHAT_CONTEXT_TOKEN_BUDGET} tokens, "
                f"history cap {settings.CHAT_HISTORY_MESSAGES} messages)",
                play(stub, turns=args.turns, ttft=args.ttft),
            )
        ]
        settings.CHAT_HISTORY_MESSAGES = 1000
        settings.CHAT_CONTEXT_TOKEN_BUDGET = 1500
        ratios.append(
            report(
                "token budget only (budget 1500 tokens, history cap lifted)",
                play(stub, turns=args.turns, ttft=args.ttft),
            )
        )
    return 0 if all(r <= 1.2 for r in ratios) else 1


if __name__ == "__main__":
    sys.exit(main())
