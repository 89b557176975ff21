"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests: chat completions (JSON and SSE
streaming), embeddings and a model list, with scripted replies and faults.

The `openai` client and langchain-openai talk to it over a real socket, so their request building,
SSE parsing, timeouts and error mapping are exercised exactly as against vLLM or Ollama. Every
request body is recorded, so tests can inspect the prompt the tutor sent.

    server.enqueue(Reply.rate_limited(retry_after=1), Reply("Encoding comes first [1]."))

Replies are used in order, one per chat request; when the queue is empty the default reply is sent.
Run standalone (for manual checks or a child process): `python -m tests.support.fake_llm_server --port 8099`.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import math
import re
import struct
import sys
import threading
import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

DEFAULT_REPLY_TEXT = "Memory works in three stages: encoding, storage and retrieval [1]."
EMBEDDING_DIMENSION = 64
# How long a held stream waits for the test to release it before giving up (never hang a test run).
_HOLD_LIMIT = 30.0


@dataclass
class Reply:
    """What the server does for one chat-completions request."""

    text: str = DEFAULT_REPLY_TEXT
    status: int = 200
    delay: float = 0.0  # seconds before anything is sent (longer than the client timeout = a timeout)
    retry_after: str | None = None  # Retry-After header value on an error status
    chunk_delay: float = 0.0  # seconds between streamed chunks
    cut_after: int | None = None  # streaming: stop after this many content chunks, without [DONE]
    abrupt: bool = True  # with cut_after: drop the socket (True) or end the body cleanly (False)
    hold_after: int | None = None  # streaming: after this many chunks wait until the test calls release()
    finish_reason: str = "stop"
    keepalive: float = 0.0  # streaming: seconds of SSE comment lines (": keep-alive") before the first token
    keepalive_interval: float = 0.05
    pieces: list[str] | None = None  # streaming: these deltas instead of the text split into words

    @classmethod
    def rate_limited(cls, retry_after: float | str = 1) -> Reply:
        return cls(status=429, retry_after=str(retry_after))

    @classmethod
    def server_error(cls, status: int = 500) -> Reply:
        return cls(status=status)

    @classmethod
    def hang(cls, seconds: float) -> Reply:
        return cls(delay=seconds)


@dataclass
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]
    body: dict[str, Any]
    received_at: float = field(default_factory=time.monotonic)


def tokens_of(text: str) -> list[str]:
    """Split a reply into stream deltas the way models do: words with their following space."""
    return re.findall(r"\S+\s*|\s+", text)


def hashed_embedding(text: str, dimension: int = EMBEDDING_DIMENSION) -> list[float]:
    """Deterministic bag-of-words vector: texts sharing words are close, unrelated texts are not.
    Never all zeros (that would make cosine similarity undefined)."""
    vector = [0.0] * dimension
    for word in re.findall(r"\w+", text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        vector[int.from_bytes(digest[:4], "little") % dimension] += 1.0
    norm = math.sqrt(sum(v * v for v in vector))
    if norm == 0:
        vector[0], norm = 1.0, 1.0
    return [v / norm for v in vector]


class FakeLLMServer:
    """The server, its script and its record. Start with `start()` (or the `fake_llm` fixture)."""

    def __init__(self, model: str = "fake-model", default: Reply | None = None) -> None:
        self.model = model
        self.default = default or Reply()
        self.requests: list[RecordedRequest] = []
        self._script: deque[Reply] = deque()
        self._lock = threading.Lock()
        self._released = threading.Event()
        self.holding = threading.Event()  # set while a stream waits for release()
        self._stopping = threading.Event()
        self._httpd: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # --- control ------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """Base URL as OPENAI_BASE_URL expects it (ends in /v1)."""
        if self._httpd is None:
            raise RuntimeError("the fake LLM server is not running")
        host, port = self._httpd.server_address[:2]
        return f"http://{host}:{port}/v1"

    def enqueue(self, *replies: Reply | str) -> None:
        with self._lock:
            self._script.extend(Reply(r) if isinstance(r, str) else r for r in replies)

    def release(self) -> None:
        """Let a stream held by `hold_after` continue (and any later hold pass straight through)."""
        self._released.set()

    @property
    def chat_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/chat/completions")]

    @property
    def embedding_requests(self) -> list[RecordedRequest]:
        return [r for r in self.requests if r.path.endswith("/embeddings")]

    def start(self, port: int = 0) -> FakeLLMServer:
        self._httpd = _QuietServer(("127.0.0.1", port), _make_handler(self))
        # serve_forever checks for shutdown() between polls: 0.5 s by default, paid by every test's teardown.
        self._thread = threading.Thread(target=self._httpd.serve_forever, kwargs={"poll_interval": 0.02},
                                        name="fake-llm", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()
        self._released.set()
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)

    # --- used by the handler ------------------------------------------------------------------

    def _record(self, request: RecordedRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def _next_reply(self) -> Reply:
        with self._lock:
            return self._script.popleft() if self._script else self.default

    def _pause(self, seconds: float) -> None:
        """Sleep, but wake at once when the server stops (so stop() never waits on a fault)."""
        if seconds > 0:
            self._stopping.wait(seconds)

    def _hold(self) -> None:
        self.holding.set()
        self._released.wait(_HOLD_LIMIT)
        self.holding.clear()


class _QuietServer(ThreadingHTTPServer):
    daemon_threads = True  # a handler still sleeping in a fault must not block shutdown

    def handle_error(self, request: Any, client_address: Any) -> None:
        """Clients hanging up (their timeout fired, or a cut stream) are expected here; anything
        else is a bug in this server and is printed as usual."""
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _make_handler(server: FakeLLMServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive and chunked streaming, as uvicorn-based servers do

        def log_message(self, format: str, *args: Any) -> None:
            """Quiet: test output should show test failures, not access logs."""

        def do_GET(self) -> None:
            if self.path.rstrip("/").endswith("/models"):
                self._send_json(200, {"object": "list", "data": [{"id": server.model, "object": "model"}]})
            else:
                self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length") or 0)
            try:
                body = json.loads(self.rfile.read(length) or b"{}")
            except json.JSONDecodeError:
                self._send_json(400, {"error": {"message": "body is not JSON", "type": "invalid_request_error"}})
                return
            server._record(RecordedRequest("POST", self.path, dict(self.headers.items()), body))
            try:
                if self.path.endswith("/chat/completions"):
                    self._chat(body, server._next_reply())
                elif self.path.endswith("/embeddings"):
                    self._embeddings(body)
                else:
                    self._send_json(404, {"error": {"message": f"no route {self.path}", "type": "not_found"}})
            except (BrokenPipeError, ConnectionResetError):
                # The client gave up (its timeout fired): expected in fault tests, nothing to report.
                self.close_connection = True

        # --- chat completions -----------------------------------------------------------------

        def _chat(self, body: dict[str, Any], reply: Reply) -> None:
            server._pause(reply.delay)
            if reply.status != 200:
                headers = {"Retry-After": reply.retry_after} if reply.retry_after else {}
                self._send_json(reply.status, {"error": {"message": f"scripted HTTP {reply.status}",
                                                         "type": "server_error", "code": reply.status}}, headers)
                return
            model = body.get("model") or server.model
            if body.get("stream"):
                self._stream(model, reply)
            else:
                self._send_json(200, {
                    "id": "chatcmpl-fake", "object": "chat.completion", "created": int(time.time()), "model": model,
                    "choices": [{"index": 0, "message": {"role": "assistant", "content": reply.text},
                                 "finish_reason": reply.finish_reason}],
                    "usage": {"prompt_tokens": 1, "completion_tokens": 1, "total_tokens": 2},
                })

        def _stream(self, model: str, reply: Reply) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "text/event-stream")
            self.send_header("Cache-Control", "no-cache")
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()

            def chunk(delta: dict[str, Any], finish_reason: str | None) -> dict[str, Any]:
                return {"id": "chatcmpl-fake", "object": "chat.completion.chunk", "created": int(time.time()),
                        "model": model, "choices": [{"index": 0, "delta": delta, "finish_reason": finish_reason}]}

            self._event(chunk({"role": "assistant", "content": ""}, None))
            # Comment lines keep a connection busy without sending anything: SSE clients skip them,
            # and every byte resets a per-read timeout.
            kept_until = time.monotonic() + reply.keepalive
            while time.monotonic() < kept_until and not server._stopping.is_set():
                self._write_chunk(b": keep-alive\n\n")
                server._pause(reply.keepalive_interval)
            pieces = reply.pieces if reply.pieces is not None else tokens_of(reply.text)
            for sent, piece in enumerate(pieces):
                if reply.cut_after is not None and sent >= reply.cut_after:
                    if reply.abrupt:
                        self.close_connection = True
                        self.connection.shutdown(2)  # mid-body: the client sees an incomplete chunked read
                    else:
                        self._write_chunk(b"")  # a well-formed end without finish_reason or [DONE]
                    return
                if reply.hold_after is not None and sent == reply.hold_after:
                    server._hold()
                server._pause(reply.chunk_delay)
                self._event(chunk({"content": piece}, None))
            self._event(chunk({}, reply.finish_reason))
            self._write_chunk(b"data: [DONE]\n\n")
            self._write_chunk(b"")

        def _event(self, payload: dict[str, Any]) -> None:
            self._write_chunk(f"data: {json.dumps(payload)}\n\n".encode())

        def _write_chunk(self, data: bytes) -> None:
            self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
            self.wfile.flush()

        # --- embeddings -----------------------------------------------------------------------

        def _embeddings(self, body: dict[str, Any]) -> None:
            inputs = body.get("input", [])
            texts = [inputs] if isinstance(inputs, str) else list(inputs)
            data = []
            for index, text in enumerate(texts):
                vector = hashed_embedding(text if isinstance(text, str) else " ".join(map(str, text)))
                if body.get("encoding_format") == "base64":  # the openai client's default request
                    encoded: Any = base64.b64encode(struct.pack(f"<{len(vector)}f", *vector)).decode()
                else:
                    encoded = vector
                data.append({"object": "embedding", "index": index, "embedding": encoded})
            self._send_json(200, {"object": "list", "data": data, "model": body.get("model", server.model),
                                  "usage": {"prompt_tokens": len(texts), "total_tokens": len(texts)}})

        def _send_json(self, status: int, payload: dict[str, Any], headers: dict[str, str] | None = None) -> None:
            data = json.dumps(payload).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()

    return Handler


@pytest.fixture
def fake_llm() -> Iterator[FakeLLMServer]:
    """A running fake server for one test; import this fixture into a test module to use it."""
    server = FakeLLMServer().start()
    try:
        yield server
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, default=8099)
    parser.add_argument("--reply", default=DEFAULT_REPLY_TEXT, help="Text of every chat reply.")
    args = parser.parse_args()
    server = FakeLLMServer(default=Reply(args.reply)).start(args.port)
    print(f"fake LLM at {server.url}", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        server.stop()


if __name__ == "__main__":
    main()
