"""The metering proxy: OpenAI-compatible POST endpoints forwarded to one configured upstream.

What reaches the caller is what the upstream sent: the status, the headers (less hop-by-hop and
encoding headers) and the body bytes unchanged; streams are relayed chunk by chunk as they arrive.
What the proxy changes on the way up: `traceparent` (this call's span), `Accept-Encoding:
identity` (so the body can be metered), and, for a stream that did not ask for usage,
`stream_options.include_usage = true` (the caller then also receives the final usage chunk).
Requests the proxy cannot meter are refused here and never reach the upstream: a body that is
not JSON (400 `malformed_body`), a JSON body that is not an object with a non-empty string
`model` (400 `invalid_payload`), one larger than `max_request_bytes` (413 `body_too_large`,
16 MiB by default, `--max-request-bytes`, refused before more than that is read). They are not
LLM calls: they are counted in llm_rejected_requests_total{route,reason}, never as calls to a
model "unknown" (which would have no price and raise the unpriced-model alert).

Metering never stands between the caller and the upstream's bytes: a response whose JSON has odd
types (`"choices": 5`, `"usage": "x"`, a token count of `Infinity`) is relayed unchanged and
recorded as a success with whatever usage could be read (unreadable counts are unknown, i.e. 0);
a 2xx body that cannot be parsed at all (not JSON, or nested deeper than the parser goes) is
relayed unchanged and recorded as error_type "other", finish_reason "malformed_response"; and if
the metering code itself fails, the bytes still reach the caller, the call is recorded as
error_type "other" with finish_reason "metering_failed", and one warning is logged
(`event: proxy_metering_failed`). In every case the call is recorded once and
llm_active_requests goes back down.

Only `upstream_url` is ever contacted: the target of each route is fixed at start-up, and nothing
in a request (path, Host, absolute URLs, headers) can change it. Redirects are not followed.
The caller's Authorization header is forwarded and otherwise never read, logged or stored.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import sys
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from yarl import URL

from ..instrument.errors import OTHER, TIMEOUT, classify_http
from ..instrument.extract import ask_for_stream_usage
from ..instrument.providers import provider_from_url
from ..instrument.tracker import CallTracker, warn_once
from ..recorder import Recorder
from ..request_body import InvalidPayload, Rejected, parse_json, read_body
from ..settings import validate_upstream
from ..telemetry.context import mint_trace_context
from .sse import SSEMeter

log = logging.getLogger(__name__)

APP_ID_HEADER = "x-llm-app-id"
DEPARTMENT_HEADER = "x-llm-department"

# path on the proxy -> (path under the upstream base URL, GenAI operation name)
ROUTES = {
    "/v1/chat/completions": ("chat/completions", "chat"),
    "/v1/completions": ("completions", "text_completion"),
    "/v1/embeddings": ("embeddings", "embeddings"),
}

_HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"te", b"trailer", b"transfer-encoding",
               b"upgrade", b"proxy-authenticate", b"proxy-authorization"}
_DROP_UP = frozenset(_HOP_BY_HOP | {b"host", b"content-length", b"accept-encoding", b"expect", b"traceparent",
                                    APP_ID_HEADER.encode(), DEPARTMENT_HEADER.encode()})
_DROP_DOWN = frozenset(_HOP_BY_HOP | {b"content-length", b"content-encoding", b"date", b"server"})
_LARGE_BODY = 64 * 1024
DEFAULT_MAX_REQUEST_BYTES = 16 * 1024 * 1024


class UpstreamStreamBroken(Exception):
    """The upstream stream failed after the response had started: the caller's connection is
    closed without the end-of-body marker, as a direct connection would have been."""


class _QuietBrokenStreams(logging.Filter):
    """uvicorn logs a traceback for an exception after the response started; the proxy has
    already logged one line for a broken upstream stream, so that traceback is dropped."""

    def filter(self, record: logging.LogRecord) -> bool:
        exc = record.exc_info[1] if record.exc_info else None
        return not isinstance(exc, UpstreamStreamBroken)


_QUIET = _QuietBrokenStreams()


@dataclass(frozen=True)
class ProxyConfig:
    upstream_url: str
    provider: str | None = None
    default_app_id: str = "unknown"
    default_department: str = "unknown"
    timeout_s: float = 300.0
    connect_timeout_s: float = 10.0
    # request bodies above this are refused with 413 (and never read further)
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES


class UpstreamReachability:
    """Whether a TCP connection to the upstream's host and port opens (within CHECK_TIMEOUT_S).
    A success is remembered for REACHABLE_TTL_S, so readiness probes cost the upstream one
    connection every few seconds at most; a failure for UNREACHABLE_TTL_S, so a recovery is seen
    soon. Only TCP: no TLS handshake, no HTTP request, no credentials."""

    REACHABLE_TTL_S = 5.0
    UNREACHABLE_TTL_S = 1.0
    CHECK_TIMEOUT_S = 2.0

    def __init__(self, base_url: str, address: tuple[str, int]) -> None:
        self.base_url = base_url
        self.address = address
        self._problem: str | None = None
        self._checked_until = 0.0
        self._lock = asyncio.Lock()

    async def problem(self) -> str | None:
        if time.monotonic() < self._checked_until:
            return self._problem
        async with self._lock:  # concurrent probes share one check
            if time.monotonic() >= self._checked_until:
                problem = await self._connect()
                if problem != self._problem:
                    self._announce(problem)
                ttl = self.REACHABLE_TTL_S if problem is None else self.UNREACHABLE_TTL_S
                self._problem, self._checked_until = problem, time.monotonic() + ttl
        return self._problem

    async def _connect(self) -> str | None:
        host, port = self.address
        try:
            _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), self.CHECK_TIMEOUT_S)
        except TimeoutError:
            return f"no TCP connection to {host}:{port} within {self.CHECK_TIMEOUT_S:g} s"
        except OSError as exc:
            return f"cannot connect to {host}:{port}: {connection_error(exc)}"
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()
        return None

    def _announce(self, problem: str | None) -> None:
        if problem is None:
            log.info("upstream reachable again; ready", extra={"event": "proxy_upstream_reachable",
                                                              "upstream": self.base_url})
        else:
            log.warning("upstream unreachable; /readyz answers 503: %s", problem,
                        extra={"event": "proxy_upstream_unreachable", "upstream": self.base_url, "reason": problem})


class ProxyMiddleware:
    """ASGI middleware answering POST on the proxy's paths before the web framework's routing
    (fewer layers per request); every other request goes on to the wrapped app."""

    def __init__(self, app: ASGIApp, service: ProxyService) -> None:
        self.app = app
        self.service = service

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] == "POST":
            path = scope["path"]
            target = self.service.targets.get(path)
            if target is not None:
                response = await self.service.forward(Request(scope, receive), target, self.service.operations[path])
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


class ProxyService:
    """Forwards the three OpenAI routes to one upstream and records every call.

    The upstream client is aiohttp (its C HTTP parser keeps the added latency under a
    millisecond; httpx measured ~0.6 ms more per request here, see docs/performance.md).
    """

    def __init__(self, recorder: Recorder, config: ProxyConfig) -> None:
        self.recorder = recorder
        self.config = config
        base = validate_upstream(config.upstream_url)
        self.base_url = base
        self.provider = config.provider or provider_from_url(base)
        self.targets = {path: f"{base}/{suffix}" for path, (suffix, _) in ROUTES.items()}
        self.operations = {path: operation for path, (_, operation) in ROUTES.items()}
        self._session: aiohttp.ClientSession | None = None
        parts = urlsplit(base)
        self._address = (parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80))
        self._reachability = UpstreamReachability(base, self._address)
        logging.getLogger("uvicorn.error").addFilter(_QUIET)
        if urlsplit(base).path in ("", "/"):
            log.warning("upstream URL has no path: requests go to %s/chat/completions; OpenAI-compatible "
                        "servers usually expect a base ending in /v1", base,
                        extra={"event": "proxy_upstream_without_path", "upstream": base})

    def session(self) -> aiohttp.ClientSession:
        """The pooled upstream client, created on first use inside the server's event loop."""
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=1000, keepalive_timeout=60, ttl_dns_cache=60),
                timeout=aiohttp.ClientTimeout(total=None, sock_connect=min(self.config.connect_timeout_s,
                                                                           self.config.timeout_s),
                                              sock_read=self.config.timeout_s),
                trust_env=False,  # no proxy or netrc settings picked up from the environment
                auto_decompress=True,
                skip_auto_headers=("User-Agent", "Content-Type"),  # send what the caller sent
            )
        return self._session

    async def upstream_problem(self) -> str | None:
        """Why the upstream cannot be reached now (None when it can): readiness, cached briefly."""
        return await self._reachability.problem()

    def middleware(self, app: ASGIApp) -> ProxyMiddleware:
        return ProxyMiddleware(app, self)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    # -- one request -------------------------------------------------------------------------

    async def forward(self, request: Request, target: str, operation: str) -> Response:
        start = time.perf_counter()
        try:
            model, stream, body = _inspect_body(await read_body(request, self.config.max_request_bytes), operation)
        except ClientDisconnect:  # the caller gave up while sending: nothing to answer, nothing sent on
            return Response(status_code=400)
        except Rejected as rejection:  # not sent upstream, not an LLM call: counted as rejected
            return self.reject(request.scope["path"], rejection)
        trace_header = None
        app_id = department = None
        headers: list[tuple[str, str]] = []
        for key, value in request.headers.raw:
            lower = key.lower()
            if lower in _DROP_UP:
                if lower == b"traceparent":
                    trace_header = value.decode("latin-1")
                elif lower == b"x-llm-app-id":
                    app_id = value.decode("latin-1")
                elif lower == b"x-llm-department":
                    department = value.decode("latin-1")
                continue
            headers.append((key.decode("latin-1"), value.decode("latin-1")))
        trace = mint_trace_context(trace_header, use_current_span=False)
        headers.append(("traceparent", trace.traceparent))
        headers.append(("Accept-Encoding", "identity"))
        tracker = CallTracker(
            self.recorder, provider=self.provider, model=model,
            app_id=app_id or self.config.default_app_id, department=department or self.config.default_department,
            operation=operation, streaming=stream, trace=trace, start=start,
        )
        query = request.scope.get("query_string") or b""
        url = URL(f"{target}?{query.decode('latin-1')}" if query else target, encoded=True)
        try:
            upstream = await self.session().request("POST", url, data=body, headers=headers,
                                                    allow_redirects=False, compress=None)
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return _upstream_failed(tracker, exc, f"the upstream {self.base_url} did not answer in time",
                                    f"the upstream {self.base_url} could not be reached")
        except BaseException:
            tracker.cancel()
            raise
        request_id = upstream.headers.get("x-request-id")
        if request_id:
            tracker.request_id = request_id
        down_headers = [(k, v) for k, v in upstream.raw_headers if k.lower() not in _DROP_DOWN]
        if upstream.status < 400 and upstream.content_type == "text/event-stream":
            response = StreamingResponse(self._relay(upstream, tracker), status_code=upstream.status)
            response.raw_headers = down_headers
            return response
        try:
            content = await upstream.read()
        except (TimeoutError, aiohttp.ClientError, OSError) as exc:
            return _upstream_failed(tracker, exc, f"the response of the upstream {self.base_url} did not complete "
                                    "in time", f"the response of the upstream {self.base_url} broke off")
        except BaseException:
            tracker.cancel()
            raise
        finally:
            upstream.release()
        try:
            _meter_body(tracker, upstream.status, content)
        except Exception:
            _metering_failed(tracker)
        response = Response(content, status_code=upstream.status)
        response.raw_headers = [*down_headers, (b"content-length", str(len(content)).encode())]
        return response

    def reject(self, path: str, rejection: Rejected) -> Response:
        """Count a request refused before it reached the upstream (llm_rejected_requests_total;
        the first of each reason is logged) and answer it in the OpenAI error format."""
        self.recorder.request_rejected(path, rejection.reason)
        warn_once(("proxy_rejected", rejection.reason), "request refused by the proxy, not sent upstream: %s",
                  rejection, event="proxy_request_rejected", reason=rejection.reason, status=rejection.status)
        response = _proxy_error(rejection.status, rejection.reason, str(rejection))
        response.headers.update(rejection.headers())
        return response

    async def _relay(self, upstream: aiohttp.ClientResponse, tracker: CallTracker) -> AsyncIterator[bytes]:
        meter: SSEMeter | None = SSEMeter(tracker)
        complete = False
        try:
            async for chunk in upstream.content.iter_any():
                if meter is not None:
                    try:
                        meter.feed(chunk)
                    except Exception:  # metering stops; the bytes keep flowing
                        meter = None
                        _metering_failed(tracker, finish=False)
                yield chunk
            complete = True
            if meter is not None:
                try:
                    meter.close()
                except Exception:
                    meter = None
                    _metering_failed(tracker, finish=False)
            tracker.finish()
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            error_type = TIMEOUT if isinstance(exc, TimeoutError) else OTHER
            tracker.finish(error_type)
            log.warning("upstream stream broke off after the response started; closing the caller's connection",
                        extra={"event": "proxy_stream_broken", "error_type": error_type,
                               "error": type(exc).__name__, "trace_id": tracker.trace_id})
            raise UpstreamStreamBroken(type(exc).__name__) from exc
        finally:
            if not tracker.finished:  # the caller went away mid-stream
                tracker.cancel()
            if complete:
                upstream.release()  # the connection goes back to the pool
            else:
                upstream.close()
            if meter is not None and meter.malformed:
                log.warning("upstream stream had events that are not JSON",
                            extra={"event": "proxy_malformed_events", "count": meter.malformed,
                                   "trace_id": tracker.trace_id})
            if meter is not None and meter.overflowed:
                log.warning("upstream stream had an event over %d bytes; usage was not read from the rest "
                            "of the stream (its bytes were passed on)", meter.max_event_bytes,
                            extra={"event": "proxy_event_too_large", "trace_id": tracker.trace_id})


def _inspect_body(body: bytes, operation: str) -> tuple[str, bool, bytes]:
    """(model, streaming, body to send); MalformedBody or InvalidPayload when the body cannot be
    metered. The body is rewritten only to ask a stream for usage."""
    payload = parse_json(body)
    if not isinstance(payload, dict):
        raise InvalidPayload("the request body must be a JSON object")
    model = payload.get("model")
    if not isinstance(model, str) or not model.strip():
        raise InvalidPayload("the request body must name the model: a non-empty string `model`")
    stream = payload.get("stream") is True
    if stream and operation != "embeddings" and ask_for_stream_usage(payload):
        try:
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        except UnicodeEncodeError:  # a lone surrogate escape (\ud800) in a string: keep it escaped
            body = json.dumps(payload, separators=(",", ":")).encode()
        except (ValueError, RecursionError):  # not expected for what json.loads made; send it as it came
            pass
    return model, stream, body


def _metering_failed(tracker: CallTracker, *, finish: bool = True) -> None:
    """The metering code failed (a bug, or input it did not foresee): the call is recorded as
    error_type "other" with finish_reason "metering_failed" (now, or when the stream ends) and
    the first failure of each kind is logged with its traceback."""
    error = sys.exc_info()[1]
    warn_once(("proxy_metering_failed", type(error).__name__), "metering a proxied call failed; its bytes were "
              "passed on unchanged and it is recorded as error_type other", exc_info=True,
              event="proxy_metering_failed", trace_id=tracker.trace_id)
    tracker.fail(OTHER)
    tracker.finish_reason = "metering_failed"
    if finish:
        tracker.finish()


def _meter_body(tracker: CallTracker, status: int, content: bytes) -> None:
    """Usage and outcome of a buffered (non-stream) response."""
    if status >= 400:
        tracker.finish(classify_http(status, content))
        return
    parsed = _parse_json(content)
    if parsed is None:  # a 2xx the caller's client cannot read either
        tracker.finish(OTHER, finish_reason="malformed_response")
        return
    tracker.observe_response(parsed)
    tracker.finish()


def _parse_json(content: bytes) -> dict | None:
    """The response object; for a large body (embeddings) only its trailing usage block is read."""
    if len(content) > _LARGE_BODY:
        index = content.rfind(b'"usage"')
        if index >= 0:
            colon = content.find(b":", index + 7)
            try:
                usage, _ = json.JSONDecoder().raw_decode(content[colon + 1:].decode("utf-8", "replace").lstrip())
            except (ValueError, RecursionError):
                usage = None
            if isinstance(usage, dict):
                return {"usage": usage}
    try:
        parsed = json.loads(content)
    except (ValueError, UnicodeDecodeError, RecursionError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _upstream_failed(tracker: CallTracker, exc: BaseException, timed_out: str, broken: str) -> Response:
    """Record the call as failed and answer as a gateway does: 504 on a timeout, else 502 saying
    why in the operating system's words. The message names the upstream's base URL, which holds no
    credentials (validate_upstream refuses them); it also goes on the call's log line and span."""
    if isinstance(exc, TimeoutError):
        message = timed_out
        tracker.extra["error_message"] = message
        tracker.finish(TIMEOUT)
        return _proxy_error(504, "upstream_timeout", message)
    message = f"{broken}: {connection_error(exc)}"
    tracker.extra["error_message"] = message
    tracker.finish(OTHER)
    return _proxy_error(502, "upstream_unavailable", message)


def connection_error(exc: BaseException) -> str:
    """What went wrong with a connection, as the OS says it: `Connection refused
    (ClientConnectorError)`, `Name or service not known (ClientConnectorDNSError)`; the exception's
    class alone when no OS error is behind it."""
    cause: BaseException | None = exc
    while cause is not None:
        os_error = getattr(cause, "os_error", None) or cause  # aiohttp keeps the OSError in .os_error
        if isinstance(os_error, OSError) and (os_error.errno or os_error.strerror):
            if isinstance(os_error, socket.gaierror) or not os_error.errno or os_error.errno < 0:
                text = os_error.strerror or str(os_error)
            else:
                text = os.strerror(os_error.errno)
            return f"{text} ({type(exc).__name__})"
        cause = cause.__cause__ or cause.__context__
    return type(exc).__name__


def _proxy_error(status: int, kind: str, message: str) -> Response:
    """An error produced by the proxy itself (the upstream gave no response), OpenAI-shaped."""
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}}).encode()
    return Response(body, status_code=status, media_type="application/json")
