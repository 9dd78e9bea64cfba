"""bench/embedding_server.py (bench tooling): its HTTP contract, with a small deterministic
backend instead of a model, reached through the application's own embedding client (the real
openai SDK), as the benches reach it."""

import json
import threading
import urllib.error
import urllib.request

import numpy as np
import pytest

from bench.embedding_server import make_handler
from chatbot.llm import LLMError, openai_provider


class Backend:
    """A vector from the text's length and its first character's code point."""

    name = "fake-embedding"
    batch_size = 2

    def __init__(self):
        self.embedded: list[str] = []

    def tokens(self, text: str) -> int:
        return len(text.split())

    def embed(self, texts):
        self.embedded += texts
        vectors = np.asarray([[len(t), ord(t[0]), 0.5] for t in texts], dtype=np.float32)
        return vectors, sum(self.tokens(t) for t in texts)


@pytest.fixture
def server():
    from http.server import ThreadingHTTPServer

    backend = Backend()
    httpd = ThreadingHTTPServer(
        ("127.0.0.1", 0), make_handler(backend, threading.Lock(), cache_size=100)
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield backend, f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()


def _post(url: str, body: bytes):
    request = urllib.request.Request(url, data=body, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # nosec B310
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_the_applications_client_gets_one_vector_per_input_in_order(server):
    backend, base_url = server
    texts = ["hello there", "a", "退货 怎么办", "a"]
    vectors = openai_provider.embed(
        texts, model="fake-embedding", base_url=base_url, api_key="local", timeout=5
    )
    assert vectors == [[11.0, 104.0, 0.5], [1.0, 97.0, 0.5], [6.0, 36864.0, 0.5], [1.0, 97.0, 0.5]]
    # Cached: each distinct text embedded once, in batches of at most 2.
    assert backend.embedded == ["hello there", "a", "退货 怎么办"]


def test_usage_and_float_encoding(server):
    _, base_url = server
    status, body = _post(
        f"{base_url}/embeddings",
        json.dumps({"model": "fake-embedding", "input": "two words"}).encode(),
    )
    assert status == 200 and body["model"] == "fake-embedding"
    assert body["data"] == [{"object": "embedding", "index": 0, "embedding": [9.0, 116.0, 0.5]}]
    assert body["usage"] == {"prompt_tokens": 2, "total_tokens": 2}


@pytest.mark.parametrize(
    ("body", "status", "param"),
    [
        (b"not json", 400, None),
        (b"[]", 400, None),
        (json.dumps({"model": "other", "input": "x"}).encode(), 404, "model"),
        (json.dumps({"model": "fake-embedding", "input": []}).encode(), 400, "input"),
        (json.dumps({"model": "fake-embedding", "input": ["ok", ""]}).encode(), 400, "input"),
        (json.dumps({"model": "fake-embedding", "input": [1, 2]}).encode(), 400, "input"),
        (
            json.dumps(
                {"model": "fake-embedding", "input": "x", "encoding_format": "int8"}
            ).encode(),
            400,
            "encoding_format",
        ),
    ],
)
def test_bad_requests_get_an_openai_shaped_4xx(server, body, status, param):
    backend, base_url = server
    got_status, got = _post(f"{base_url}/embeddings", body)
    assert got_status == status and got["error"]["param"] == param and got["error"]["message"]
    assert backend.embedded == []


def test_an_unknown_model_is_an_error_for_the_client(server):
    _, base_url = server
    with pytest.raises(LLMError):
        openai_provider.embed(["x"], model="other", base_url=base_url, api_key="k", timeout=5)


def test_models_lists_the_served_model(server):
    _, base_url = server
    with urllib.request.urlopen(f"{base_url}/models", timeout=5) as response:  # nosec B310
        body = json.loads(response.read())
    assert [m["id"] for m in body["data"]] == ["fake-embedding"]
