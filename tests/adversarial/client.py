"""A hostile HTTP client on raw sockets (half-sent bodies, lies about Content-Length, endless
chunks, hang-ups), and what a test reads back from the exporter: its metrics, its log, its memory."""

from __future__ import annotations

import json
import socket
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from tests.support.metrics_text import families, sample_sum
from tests.support.processes import Running

PROXY_ROUTES = ("/v1/chat/completions", "/v1/completions", "/v1/embeddings")


@dataclass
class RawAnswer:
    status: int | None  # None: no answer at all
    headers: dict[str, str]
    body: bytes
    closed: bool  # the server closed the connection after answering
    elapsed_s: float

    def json(self) -> object:
        return json.loads(self.body)


def _address(url: str) -> tuple[str, int]:
    host, port = url.removeprefix("http://").split(":")
    return host, int(port)


def raw_exchange(url: str, head: str, parts: list[bytes] = (), *, hang_up: bool = False,
                 timeout: float = 20.0) -> RawAnswer:
    """Send a request head (lines without the final blank line) and body parts; then either hang
    up (`hang_up`) or read the answer and whether the server closes the connection after it."""
    start = time.monotonic()
    with socket.create_connection(_address(url), timeout=timeout) as sock:
        sock.sendall(head.encode("latin-1") + b"\r\n")
        for part in parts:
            try:
                sock.sendall(part)
            except (BrokenPipeError, ConnectionResetError):  # refused early: read what it said
                break
        if hang_up:
            return RawAnswer(None, {}, b"", True, time.monotonic() - start)
        return _read_answer(sock, start)


def _read_answer(sock: socket.socket, start: float) -> RawAnswer:
    received = b""
    status, headers, body = None, {}, b""
    while True:
        try:
            data = sock.recv(65536)
        except (ConnectionResetError, TimeoutError):
            data = b""
        if not data:
            return RawAnswer(status, headers, body, True, time.monotonic() - start)
        received += data
        head, found, body = received.partition(b"\r\n\r\n")
        if not found:
            continue
        lines = head.decode("latin-1").split("\r\n")
        status = int(lines[0].split()[1])
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
        length = int(headers.get("content-length", "0"))
        if len(body) >= length:
            body = body[:length]
            sock.settimeout(2.0)  # does the server close the connection now?
            try:
                closed = sock.recv(1) == b""
            except ConnectionResetError:  # closed with unread request bytes pending: the kernel resets
                closed = True
            except TimeoutError:
                closed = False
            return RawAnswer(status, headers, body, closed, time.monotonic() - start)


def post_head(path: str, length: int | None, *extra: str) -> str:
    lines = [f"POST {path} HTTP/1.1", "Host: 127.0.0.1", "Content-Type: application/json", *extra]
    lines.append(f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked")
    return "\r\n".join(lines) + "\r\n"


def chunk(data: bytes) -> bytes:
    return b"%x\r\n%s\r\n" % (len(data), data)


def error_reason(path: str, answer: object) -> str:
    """The refusal reason in the route's own error format (OpenAI's on the proxy's routes)."""
    assert isinstance(answer, dict) and "error" in answer, answer
    if path in PROXY_ROUTES:
        return answer["error"]["type"]
    return answer["reason"]


def scrape(running: Running) -> dict:
    return families(requests.get(running.url + "/metrics", timeout=10).text)


def rejected(running: Running, route: str, reason: str) -> float:
    fams = scrape(running)
    return sample_sum(fams["llm_rejected_requests"], "_total", route=route, reason=reason) \
        if "llm_rejected_requests" in fams else 0.0


def recorded_calls(running: Running) -> float:
    return sample_sum(scrape(running)["llm_requests"], "_total")


def log_problems(running: Running) -> list[str]:
    """Log lines that must never appear: tracebacks and anything at error level or above."""
    bad = []
    for line in running.log().splitlines():
        if "Traceback" in line or '"level":"error"' in line or '"level":"critical"' in line:
            bad.append(line[:300])
    return bad


def memory_kib(pid: int, field: str = "VmRSS") -> int:
    """VmRSS (now) or VmHWM (peak) of a process, in KiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise AssertionError(f"no {field} for {pid}")
