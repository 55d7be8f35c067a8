"""A real OTLP/HTTP receiver (and a hanging one) on 127.0.0.1 for the telemetry tests.

`OtlpReceiver` decodes what it is sent with the opentelemetry-proto messages
(ExportTraceServiceRequest / ExportLogsServiceRequest) and keeps flat, easy-to-assert views of
spans and log records. `HangingServer` accepts connections and never answers.
"""

from __future__ import annotations

import contextlib
import gzip
import socket
import threading
import zlib
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from opentelemetry.proto.collector.logs.v1.logs_service_pb2 import (
    ExportLogsServiceRequest,
    ExportLogsServiceResponse,
)
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
    ExportMetricsServiceResponse,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import (
    ExportTraceServiceRequest,
    ExportTraceServiceResponse,
)
from opentelemetry.proto.common.v1.common_pb2 import AnyValue

SPAN_KINDS = {0: "UNSPECIFIED", 1: "INTERNAL", 2: "SERVER", 3: "CLIENT", 4: "PRODUCER", 5: "CONSUMER"}
STATUS_CODES = {0: "UNSET", 1: "OK", 2: "ERROR"}


def any_value(value: AnyValue) -> Any:
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_value(kv.value) for kv in value.kvlist_value.values}
    return getattr(value, kind)


def attributes(kvs: Any) -> dict[str, Any]:
    return {kv.key: any_value(kv.value) for kv in kvs}


@dataclass
class Span:
    trace_id: str
    span_id: str
    parent_span_id: str
    name: str
    kind: str
    attributes: dict[str, Any]
    status: str
    status_message: str
    events: list[tuple[str, dict[str, Any]]]
    start_ns: int
    end_ns: int
    resource: dict[str, Any]


@dataclass
class LogRecord:
    trace_id: str
    span_id: str
    severity_text: str
    severity_number: int
    body: Any
    attributes: dict[str, Any]
    time_ns: int
    resource: dict[str, Any]


@dataclass
class Received:
    paths: list[str] = field(default_factory=list)
    spans: list[Span] = field(default_factory=list)
    logs: list[LogRecord] = field(default_factory=list)
    counts: dict[str, int] = field(default_factory=dict)  # spans, log records or metric points per path


def _decode_body(handler: BaseHTTPRequestHandler) -> bytes:
    body = handler.rfile.read(int(handler.headers.get("Content-Length", "0")))
    encoding = (handler.headers.get("Content-Encoding") or "").lower()
    if encoding == "gzip":
        return gzip.decompress(body)
    if encoding == "deflate":
        return zlib.decompress(body)
    return body


class OtlpReceiver:
    """OTLP/HTTP protobuf receiver: traces on any path ending in /v1/traces, logs on /v1/logs,
    metrics on /v1/metrics (counted only). With `count_only`, spans and log records are counted
    per path (`counts()`) and not kept: a sink for benchmarks."""

    def __init__(self, port: int = 0, *, count_only: bool = False) -> None:
        self.received = Received()
        self.count_only = count_only
        self.lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:  # keep pytest output clean
                pass

            def do_POST(self) -> None:
                data = _decode_body(self)
                if self.path.endswith("/v1/traces"):
                    receiver._traces(self.path, ExportTraceServiceRequest.FromString(data))
                    reply = ExportTraceServiceResponse().SerializeToString()
                elif self.path.endswith("/v1/logs"):
                    receiver._logs(self.path, ExportLogsServiceRequest.FromString(data))
                    reply = ExportLogsServiceResponse().SerializeToString()
                elif self.path.endswith("/v1/metrics"):
                    receiver._metrics(self.path, ExportMetricsServiceRequest.FromString(data))
                    reply = ExportMetricsServiceResponse().SerializeToString()
                else:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Type", "application/x-protobuf")
                self.send_header("Content-Length", str(len(reply)))
                self.end_headers()
                self.wfile.write(reply)

        ThreadingHTTPServer.allow_reuse_address = True
        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def _count(self, path: str, count: int) -> None:
        with self.lock:
            self.received.paths.append(path)
            self.received.counts[path] = self.received.counts.get(path, 0) + count

    def _traces(self, path: str, request: ExportTraceServiceRequest) -> None:
        if self.count_only:
            self._count(path, sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans))
            return
        spans = []
        for resource_spans in request.resource_spans:
            resource = attributes(resource_spans.resource.attributes)
            for scope_spans in resource_spans.scope_spans:
                for s in scope_spans.spans:
                    spans.append(Span(
                        s.trace_id.hex(), s.span_id.hex(), s.parent_span_id.hex(), s.name, SPAN_KINDS[s.kind],
                        attributes(s.attributes), STATUS_CODES[s.status.code], s.status.message,
                        [(e.name, attributes(e.attributes)) for e in s.events], s.start_time_unix_nano,
                        s.end_time_unix_nano, resource,
                    ))
        with self.lock:
            self.received.paths.append(path)
            self.received.spans.extend(spans)

    def _logs(self, path: str, request: ExportLogsServiceRequest) -> None:
        if self.count_only:
            self._count(path, sum(len(s.log_records) for r in request.resource_logs for s in r.scope_logs))
            return
        logs = []
        for resource_logs in request.resource_logs:
            resource = attributes(resource_logs.resource.attributes)
            for scope_logs in resource_logs.scope_logs:
                for r in scope_logs.log_records:
                    logs.append(LogRecord(
                        r.trace_id.hex(), r.span_id.hex(), r.severity_text, r.severity_number,
                        any_value(r.body), attributes(r.attributes), r.time_unix_nano, resource,
                    ))
        with self.lock:
            self.received.paths.append(path)
            self.received.logs.extend(logs)

    def _metrics(self, path: str, request: ExportMetricsServiceRequest) -> None:
        points = 0
        for resource_metrics in request.resource_metrics:
            for scope_metrics in resource_metrics.scope_metrics:
                for metric in scope_metrics.metrics:
                    kind = metric.WhichOneof("data")
                    points += len(getattr(metric, kind).data_points) if kind else 0
        self._count(path, points)

    def counts(self) -> dict[str, int]:
        """Items received per request path (spans, log records or metric data points)."""
        with self.lock:
            return dict(self.received.counts)

    def spans(self) -> list[Span]:
        with self.lock:
            return list(self.received.spans)

    def logs(self) -> list[LogRecord]:
        with self.lock:
            return list(self.received.logs)

    def paths(self) -> list[str]:
        with self.lock:
            return list(self.received.paths)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class HangingServer:
    """Accepts TCP connections on 127.0.0.1 and never reads or answers (a hung backend)."""

    def __init__(self, port: int = 0) -> None:
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", port))
        self.sock.listen(128)
        self.port = self.sock.getsockname()[1]
        self.connections: list[socket.socket] = []
        self._closed = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)
        self._thread.start()

    def _accept(self) -> None:
        while not self._closed.is_set():
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.connections.append(conn)

    def close(self) -> None:
        self._closed.set()
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_RDWR)
        self.sock.close()
        for conn in self.connections:
            conn.close()
        self._thread.join(5)


def traces_by_id(spans: list[Span]) -> dict[str, list[Span]]:
    out: dict[str, list[Span]] = {}
    for span in spans:
        out.setdefault(span.trace_id, []).append(span)
    return out
