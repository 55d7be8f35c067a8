"""A real OpenAI-compatible HTTP server on 127.0.0.1 for tests and benchmarks.

It speaks the wire format of POST /v1/chat/completions, /v1/completions and /v1/embeddings
(JSON and server-sent-event streams, with the final usage chunk when the request asks for
`stream_options.include_usage`), and misbehaves on request, chosen by the model name:

    fail-429        429 rate_limit_exceeded (with retry-after)
    fail-quota      429 insufficient_quota (out of credit)
    fail-401        401 invalid_api_key
    fail-500        500 server_error
    fail-context    400 context_length_exceeded
    fail-filter     400 content_filter
    filtered        200 whose choice finished with "content_filter"
    malformed       200 application/json whose body is not JSON
    hang            reads the request and never answers (until the client hangs up)
    hang-stream     starts a stream, sends two chunks, then goes silent
    reset           reads the request and resets the connection (TCP RST) without answering
    reset-stream    sends a few stream chunks, then resets the connection
    stream-error    a stream carrying an {"error": ...} event after the first token
    gated-stream    sends the role chunk and the first token, then waits for `release()` (so a
                    test can prove the first token reached it before the upstream went on)
    odd-*           structurally odd but parseable JSON (see ODD_BODIES): `choices` a number,
                    `usage` a string, token counts of Infinity or 1e400, nesting 20,000 and 100,000 deep;
                    as the whole body, or with `stream` as the first and the last-but-one event
    sse-cr          a normal stream whose lines end in a lone CR (sse-crlf: in CRLF)
    sse-unbroken    a stream that sends 2 MiB of data lines with no blank line, then a normal stream

Any other model succeeds: `max_tokens` output tokens (default 5), one token per stream chunk
with `chunk_delay_s` between chunks. Usage carries OpenAI's `prompt_tokens_details` and
`completion_tokens_details`: cached tokens when the request sets `prompt_cache_key`, reasoning
tokens when it sets `reasoning_effort` (see `_usage`). Every request is kept (`requests`), with the exact body
bytes sent back (`Exchange.response_body`, without HTTP chunk framing), so a test can compare
what reached its client through a proxy byte for byte.
"""

from __future__ import annotations

import contextlib
import json
import select
import socket
import struct
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

CREATED = 1_700_000_000
HANG_LIMIT_S = 60.0


@dataclass
class Exchange:
    """One request as the upstream received it, and what it answered."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    status: int | None = None
    response_body: bytearray = field(default_factory=bytearray)
    complete: threading.Event = field(default_factory=threading.Event)
    aborted: bool = False  # the client went away before the whole response was written

    @property
    def json(self) -> Any:
        return json.loads(self.body)


def prompt_tokens(payload: dict[str, Any]) -> int:
    """A deterministic stand-in for tokenisation: words plus 4 per chat message."""
    if "messages" in payload:
        messages = payload.get("messages") or []
        return sum(len(str(m.get("content", "")).split()) + 4 for m in messages if isinstance(m, dict))
    source = payload.get("prompt", payload.get("input", ""))
    items = source if isinstance(source, list) else [source]
    return max(1, sum(len(str(item).split()) for item in items))


def _error_body(message: str, kind: str, code: str | None, param: str | None = None) -> bytes:
    return json.dumps({"error": {"message": message, "type": kind, "param": param, "code": code}}).encode()


_DEEP = 100_000
ODD_BODIES = {
    "odd-choices": b'{"id":"x","choices":5,"usage":{"prompt_tokens":3,"completion_tokens":2}}',
    "odd-choice-items": b'{"id":"x","choices":[5,"a",null,{"delta":7,"message":[],"finish_reason":{"x":1}}]}',
    "odd-usage": b'{"id":"x","choices":[],"usage":"x","model":{"name":1}}',
    "odd-infinity": b'{"id":"x","choices":[],"usage":{"prompt_tokens":Infinity,"completion_tokens":NaN}}',
    "odd-huge": b'{"id":"x","choices":[],"usage":{"prompt_tokens":1e400,"completion_tokens":-1e400}}',
    "odd-bigint": b'{"id":"x","choices":[],"usage":{"prompt_tokens":' + b"9" * 400 + b',"completion_tokens":4}}',
    # over 64 KiB (the proxy reads only the trailing usage of a body that large) and under
    "odd-nesting": b'{"id":"x","choices":' + b"[" * _DEEP + b"]" * _DEEP + b',"usage":{"prompt_tokens":1}}',
    "odd-nesting-small": b'{"id":"x","choices":' + b"[" * 20_000 + b"]" * 20_000 + b"}",
}
REASONING_TOKENS = {"low": 8, "medium": 16, "high": 32}
SSE_LINE_ENDINGS = {"sse-cr": "\r", "sse-crlf": "\r\n"}
UNBROKEN_BYTES = 2 * 1024 * 1024

ERRORS = {
    "fail-429": (429, _error_body("Rate limit reached for requests", "requests", "rate_limit_exceeded")),
    "fail-quota": (429, _error_body("You exceeded your current quota, please check your plan and billing details.",
                                    "insufficient_quota", "insufficient_quota")),
    "fail-401": (401, _error_body("Incorrect API key provided", "invalid_request_error", "invalid_api_key")),
    "fail-500": (500, _error_body("The server had an error while processing your request.", "server_error", None)),
    "fail-context": (400, _error_body("This model's maximum context length is 128000 tokens.",
                                      "invalid_request_error", "context_length_exceeded", "messages")),
    "fail-filter": (400, _error_body("The response was filtered due to the prompt triggering a content policy.",
                                     "invalid_request_error", "content_filter", "prompt")),
}


MAX_TOKENS = 4096  # larger max_tokens / dimensions are refused, as a model's limit would


def _count(value: Any) -> bool:
    return type(value) is int and 0 < value <= MAX_TOKENS


def invalid_request(payload: dict[str, Any], path: str) -> str | None:
    """Why OpenAI's API would refuse this request body (wrong types, missing fields), or None."""
    checks: list[tuple[str, bool]] = [
        ("model must be a non-empty string", isinstance(payload.get("model"), str) and bool(payload["model"])),
        ("stream must be a boolean", "stream" not in payload or isinstance(payload["stream"], bool)),
        ("stream_options must be an object", payload.get("stream_options") is None
         or isinstance(payload["stream_options"], dict)),
    ]
    checks += [(f"{key} must be an integer from 1 to {MAX_TOKENS}", key not in payload or _count(payload[key]))
               for key in ("max_tokens", "max_completion_tokens", "dimensions")]
    if path.endswith("/chat/completions"):
        messages = payload.get("messages")
        checks.append(("messages must be an array of objects", isinstance(messages, list)
                       and all(isinstance(m, dict) for m in messages)))
    elif path.endswith("/embeddings"):
        checks.append(("input must be a string or an array", isinstance(payload.get("input"), str | list)))
    else:
        checks.append(("prompt must be a string or an array", isinstance(payload.get("prompt"), str | list)))
    return next((message for message, ok in checks if not ok), None)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # like any real server: no 40 ms Nagle/delayed-ACK stalls
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path.rstrip("/").endswith("/models"):
            self._send(200, json.dumps({"object": "list", "data": []}).encode(), None)
        else:
            self._send(404, _error_body("not found", "invalid_request_error", None), None)

    def do_POST(self) -> None:
        length = int(self.headers.get("content-length") or 0)
        body = self.rfile.read(length) if length else b""
        exchange = Exchange("POST", self.path, {k.lower(): v for k, v in self.headers.items()}, body)
        self.server.record(exchange)
        try:
            self._answer(exchange)
        except (BrokenPipeError, ConnectionResetError):
            exchange.aborted = True
            self.close_connection = True
        finally:
            exchange.complete.set()

    # -- answering ---------------------------------------------------------------------------

    def _answer(self, exchange: Exchange) -> None:
        path = self.path.split("?", 1)[0]
        if not path.endswith(("/chat/completions", "/completions", "/embeddings")):
            self._send(404, _error_body(f"unknown path {path}", "invalid_request_error", None), exchange)
            return
        try:
            payload = json.loads(exchange.body)
            if not isinstance(payload, dict):
                raise ValueError("not an object")
        except (ValueError, RecursionError):
            self._send(400, _error_body("We could not parse the JSON body of your request.",
                                        "invalid_request_error", None), exchange)
            return
        problem = invalid_request(payload, path)
        if problem:  # what OpenAI's API refuses, it refuses here too (400 invalid_request_error)
            self._send(400, _error_body(problem, "invalid_request_error", None), exchange)
            return
        model = str(payload.get("model", ""))
        if model in ERRORS:
            status, error = ERRORS[model]
            extra = {"retry-after": "1"} if status == 429 else {}
            self._send(status, error, exchange, extra)
        elif model == "malformed":
            self._send(200, b'{"id": "chatcmpl-1", "choices": [ this is not json', exchange)
        elif model in ODD_BODIES and payload.get("stream") is not True:
            self._send(200, ODD_BODIES[model], exchange)
        elif model == "hang":
            self._wait(exchange, threading.Event())
            self.close_connection = True
        elif model == "reset":
            self._reset()
        elif path.endswith("/embeddings"):
            self._embeddings(payload, exchange)
        elif payload.get("stream") is True:
            self._stream(payload, exchange, legacy=not path.endswith("/chat/completions"))
        else:
            self._complete(payload, exchange, legacy=not path.endswith("/chat/completions"))

    def _send(self, status: int, body: bytes, exchange: Exchange | None, extra: dict[str, str] | None = None,
              content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("content-type", content_type)
        self.send_header("content-length", str(len(body)))
        self.send_header("x-request-id", f"req-{self.server.count}")
        for key, value in (extra or {}).items():
            self.send_header(key, value)
        self.end_headers()
        if exchange is not None:  # recorded before it is sent: the client may look as soon as it has it
            exchange.status = status
            exchange.response_body += body
        self.wfile.write(body)
        self.wfile.flush()

    def _wait(self, exchange: Exchange, event: threading.Event) -> bool:
        """Wait for `event`; False when the client hung up first (or the server stops, or a minute
        passes). A hung-up client marks the exchange aborted."""
        deadline = time.monotonic() + HANG_LIMIT_S
        while not event.is_set():
            if self.server.stopping.is_set() or time.monotonic() > deadline:
                return False
            readable, _, _ = select.select([self.connection], [], [], 0.05)
            if readable:
                try:
                    gone = self.connection.recv(1, socket.MSG_PEEK) == b""
                except OSError:
                    gone = True
                if gone:
                    exchange.aborted = True
                    return False
        return True

    def _reset(self) -> None:
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.connection.close()
        self.close_connection = True

    def _tokens(self, payload: dict[str, Any]) -> list[str]:
        count = payload.get("max_tokens") or payload.get("max_completion_tokens") or 5
        return [f"tok{i} " for i in range(int(count))]

    def _usage(self, payload: dict[str, Any], output: int) -> dict[str, Any]:
        """Chat/completions usage with OpenAI's detail blocks. With `prompt_cache_key`, every
        message but the last counts as read from the prompt cache; with `reasoning_effort`, the
        model reasons for REASONING_TOKENS[effort] tokens, part of completion_tokens."""
        prompt = prompt_tokens(payload)
        cached = 0
        if payload.get("prompt_cache_key") and isinstance(payload.get("messages"), list):
            cached = prompt - prompt_tokens({"messages": payload["messages"][-1:]})
        reasoning = REASONING_TOKENS.get(str(payload.get("reasoning_effort")), 0)
        completion = output + reasoning
        return {"prompt_tokens": prompt, "completion_tokens": completion, "total_tokens": prompt + completion,
                "prompt_tokens_details": {"cached_tokens": cached, "audio_tokens": 0},
                "completion_tokens_details": {"reasoning_tokens": reasoning, "audio_tokens": 0,
                                              "accepted_prediction_tokens": 0, "rejected_prediction_tokens": 0}}

    def _complete(self, payload: dict[str, Any], exchange: Exchange, legacy: bool) -> None:
        tokens = self._tokens(payload)
        finish = "content_filter" if payload.get("model") == "filtered" else "stop"
        text = "".join(tokens)
        if legacy:
            choice: dict[str, Any] = {"text": text, "index": 0, "logprobs": None, "finish_reason": finish}
        else:
            choice = {"index": 0, "message": {"role": "assistant", "content": text, "refusal": None},
                      "logprobs": None, "finish_reason": finish}
        body = {"id": f"cmpl-{self.server.count}", "object": "text_completion" if legacy else "chat.completion",
                "created": CREATED, "model": payload.get("model"), "choices": [choice],
                "usage": self._usage(payload, len(tokens))}
        self._send(200, json.dumps(body).encode(), exchange)

    def _embeddings(self, payload: dict[str, Any], exchange: Exchange) -> None:
        source = payload.get("input", "")
        items = source if isinstance(source, list) else [source]
        dimensions = int(payload.get("dimensions") or 8)
        data = [{"object": "embedding", "index": i,
                 "embedding": [round((i + 1) / (d + 1), 6) for d in range(dimensions)]} for i in range(len(items))]
        tokens = prompt_tokens(payload)
        body = {"object": "list", "data": data, "model": payload.get("model"),
                "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}
        self._send(200, json.dumps(body).encode(), exchange)

    def _stream(self, payload: dict[str, Any], exchange: Exchange, legacy: bool) -> None:
        model = payload.get("model")
        include_usage = bool((payload.get("stream_options") or {}).get("include_usage"))
        ident = f"chatcmpl-{self.server.count}"
        base = {"id": ident, "object": "text_completion" if legacy else "chat.completion.chunk",
                "created": CREATED, "model": model}
        if include_usage:
            base["usage"] = None

        def choice(content: str | None, finish: str | None, role: bool = False) -> dict[str, Any]:
            if legacy:
                return {"text": content or "", "index": 0, "logprobs": None, "finish_reason": finish}
            delta: dict[str, Any] = {}
            if role:
                delta["role"] = "assistant"
            if content is not None:
                delta["content"] = content
            return {"index": 0, "delta": delta, "logprobs": None, "finish_reason": finish}

        tokens = self._tokens(payload)
        events: list[dict[str, Any] | str] = []
        if not legacy:
            events.append({**base, "choices": [choice("", None, role=True)]})
        events.extend({**base, "choices": [choice(token, None)]} for token in tokens)
        events.append({**base, "choices": [choice(None if not legacy else "", "stop")]})
        if include_usage:
            events.append({**base, "choices": [], "usage": self._usage(payload, len(tokens))})
        events.append("[DONE]")
        if model == "stream-error":
            events[2:] = [{"error": {"message": "The server had an error while processing your request.",
                                     "type": "server_error", "code": None}}, "[DONE]"]
        if model in ODD_BODIES:
            odd = ODD_BODIES[model].decode()
            events.insert(0, odd)
            events.insert(len(events) - 1, odd)
        newline = SSE_LINE_ENDINGS.get(str(model), "\n")

        self.send_response(200)
        self.send_header("content-type", "text/event-stream; charset=utf-8")
        self.send_header("transfer-encoding", "chunked")
        self.send_header("cache-control", "no-cache")
        self.send_header("x-request-id", f"req-{self.server.count}")
        exchange.status = 200
        self.end_headers()
        if model == "sse-unbroken":  # one "event" that never ends, sent in 64 KiB pieces
            line = b"data: " + b"x" * 1018 + b"\n"
            piece = line * 64
            for _ in range(UNBROKEN_BYTES // len(piece)):
                exchange.response_body += piece
                self.wfile.write(b"%x\r\n%s\r\n" % (len(piece), piece))
            self.wfile.flush()
        delay = self.server.chunk_delay_s
        for number, event in enumerate(events):
            if number and delay:
                time.sleep(delay)
            if model == "hang-stream" and number == 2:
                self._wait(exchange, threading.Event())
                self.close_connection = True
                return
            if model == "reset-stream" and number == 3:
                self._reset()
                return
            if model == "gated-stream" and number == 2 and not self._wait(exchange, self.server.gate):
                self.close_connection = True
                return
            data = event if isinstance(event, str) else json.dumps(event, separators=(",", ":"))
            chunk = f"data: {data}{newline}{newline}".encode()
            exchange.response_body += chunk
            self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            self.wfile.flush()
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 256

    def __init__(self, chunk_delay_s: float, port: int = 0) -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.chunk_delay_s = chunk_delay_s
        self.stopping = threading.Event()
        self.exchanges: list[Exchange] = []
        self.keep = True
        self.count = 0
        self.gate = threading.Event()
        self._lock = threading.Lock()

    def handle_error(self, request: Any, client_address: Any) -> None:
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return  # a client that hung up or reset (tests do that on purpose): nothing to report
        super().handle_error(request, client_address)

    def record(self, exchange: Exchange) -> None:
        with self._lock:
            self.count += 1
            if self.keep:
                self.exchanges.append(exchange)


class OpenAIUpstream:
    """`with OpenAIUpstream() as upstream:` serves on `upstream.url` (a base URL ending in /v1)."""

    def __init__(self, chunk_delay_s: float = 0.0, keep_requests: bool = True, port: int = 0) -> None:
        self._server = _Server(chunk_delay_s, port)
        self._server.keep = keep_requests
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.05},
                                        name="openai-upstream", daemon=True)
        host, port = self._server.server_address[:2]
        self.port = port
        self.url = f"http://{host}:{port}/v1"

    @property
    def requests(self) -> list[Exchange]:
        with self._server._lock:
            return list(self._server.exchanges)

    @property
    def request_count(self) -> int:
        return self._server.count

    def release(self) -> None:
        """Let gated streams go on (and every later one, until `hold()`)."""
        self._server.gate.set()

    def hold(self) -> None:
        self._server.gate.clear()

    def clear(self) -> None:
        with self._server._lock:
            self._server.exchanges.clear()

    def last(self, wait: bool = True) -> Exchange:
        """The latest request; with `wait`, once the upstream has finished answering it."""
        exchanges = self.requests
        if not exchanges:
            raise AssertionError("the upstream received no request")
        if wait and not exchanges[-1].complete.wait(30):
            raise AssertionError("the upstream is still answering the latest request")
        return exchanges[-1]

    def start(self) -> OpenAIUpstream:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.stopping.set()
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> OpenAIUpstream:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


if __name__ == "__main__":  # python -m tests.support.openai_upstream: serve until interrupted
    delay = float(sys.argv[1]) if len(sys.argv) > 1 else 0.0
    with OpenAIUpstream(chunk_delay_s=delay, keep_requests=False) as upstream:
        print(upstream.url, flush=True)
        with contextlib.suppress(KeyboardInterrupt):
            threading.Event().wait()
