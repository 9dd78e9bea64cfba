"""CPU of one streamed model call in the worker: the openai SDK's own stream against
`OpenAIProvider.stream`, on the same stub, back to back.

Both send the same request through the same SDK client class to the HTTP stub of
tests/stub_llm (in this process, on its own threads): "SDK stream" iterates
`client.chat.completions.create(..., stream=True)` (a `ChatCompletionChunk` pydantic object
per chunk, `messages=` through the SDK's TypedDict transform), as the provider did before;
"provider" is `chatbot.llm.openai_provider.OpenAIProvider.stream` (the SDK sends the request,
the provider reads the events with orjson). Measured with `time.thread_time()` of the
calling thread only, so the stub's own work is not counted; medians of --calls calls.

    .venv/bin/python bench/provider_stream_cpu.py [--chunks 20] [--chunk-ms 5] [--history 20]
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatbot.settings.base")

from chatbot.llm import ChatMessage, ChatRequest  # noqa: E402
from chatbot.llm.openai_provider import OpenAIProvider, _wire_message  # noqa: E402
from tests.stub_llm import Reply, StubLLMServer  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100)
    parser.add_argument("--chunks", type=int, default=20)
    parser.add_argument("--chunk-ms", type=float, default=5.0)
    parser.add_argument("--history", type=int, default=20, help="earlier messages sent")
    args = parser.parse_args()

    request = ChatRequest(
        model="gpt-test",
        temperature=0.2,
        max_tokens=300,
        user="customer-1",
        messages=[ChatMessage("system", "You are a helpful support assistant. " * 20)]
        + [
            ChatMessage("user" if n % 2 else "assistant", "An earlier message of the chat. " * 4)
            for n in range(args.history)
        ]
        + [ChatMessage("user", "Where is my parcel?")],
    )
    reply = Reply(text="word " * 60, chunks=args.chunks, chunk_delay=args.chunk_ms / 1000)
    with StubLLMServer(default=reply) as stub:
        provider = OpenAIProvider(
            base_url=stub.base_url, api_key="bench", connect_timeout=2, read_timeout=10
        )
        client = provider._client  # the same pooled SDK client

        def sdk_stream() -> None:
            stream = client.chat.completions.create(
                model=request.model,
                messages=[_wire_message(m) for m in request.messages],
                stream=True,
                stream_options={"include_usage": True},
                temperature=request.temperature,
                max_tokens=request.max_tokens,
                user=request.user,
            )
            with stream:
                for chunk in stream:
                    for choice in chunk.choices:
                        if choice.delta and choice.delta.content:
                            pass

        def provider_stream() -> None:
            provider.stream(request, lambda _text: None)

        def cpu_ms(call) -> float:
            samples = []
            for _ in range(args.calls):
                started = time.thread_time()
                call()
                samples.append((time.thread_time() - started) * 1000)
            return statistics.median(samples)

        for call in (sdk_stream, provider_stream):  # warm-up: imports, connections
            for _ in range(10):
                call()
        print(
            f"{args.chunks} chunks {args.chunk_ms:g} ms apart, {len(request.messages)} "
            f"messages sent, {args.calls} calls each; CPU of the calling thread, median"
        )
        for round_number in (1, 2):
            sdk, ours = cpu_ms(sdk_stream), cpu_ms(provider_stream)
            print(
                f"round {round_number}: SDK stream {sdk:6.2f} ms   provider {ours:6.2f} ms"
                f"   ratio {sdk / ours:4.1f}x"
            )


if __name__ == "__main__":
    main()
