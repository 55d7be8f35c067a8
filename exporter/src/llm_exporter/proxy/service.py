"""The metering proxy: OpenAI-compatible POST endpoints forwarded to one configured upstream.

What reaches the caller is what the upstream sent: the status, the headers (less hop-by-hop and
encoding headers) and the body bytes unchanged; streams are relayed chunk by chunk as they arrive.
What the proxy changes on the way up: `traceparent` (this call's span), `Accept-Encoding:
identity` (so the body can be metered), and, for a stream that did not ask for usage,
`stream_options.include_usage = true` (the caller then also receives the final usage chunk).
A request body that is not JSON is forwarded unchanged and metered with model "unknown".

Only `upstream_url` is ever contacted: the target of each route is fixed at start-up, and nothing
in a request (path, Host, absolute URLs, headers) can change it. Redirects are not followed.
The caller's Authorization header is forwarded and otherwise never read, logged or stored.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse
from starlette.types import ASGIApp, Receive, Scope, Send
from yarl import URL

from ..instrument.errors import OTHER, TIMEOUT, classify_http
from ..instrument.providers import provider_from_url
from ..instrument.tracecontext import mint_trace_context
from ..instrument.tracker import CallTracker
from ..recorder import Recorder
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


def validate_upstream(url: str) -> str:
    """The base URL without a trailing slash; ValueError unless it is an absolute http(s) URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"upstream URL must be an absolute http(s) URL, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise ValueError("upstream URL must not carry a query, a fragment or credentials")
    return url.rstrip("/")


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

    def middleware(self, app: ASGIApp) -> ProxyMiddleware:
        return ProxyMiddleware(app, self)

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()

    # -- one request -------------------------------------------------------------------------

    async def forward(self, request: Request, target: str, operation: str) -> Response:
        start = time.perf_counter()
        body = await request.body()
        model, stream, body = _inspect_body(body, operation)
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
        except TimeoutError:
            tracker.finish(TIMEOUT)
            return _proxy_error(504, "upstream_timeout", "the upstream did not answer in time")
        except (aiohttp.ClientError, OSError) as exc:
            tracker.finish(OTHER)
            return _proxy_error(502, "upstream_unavailable", f"the upstream could not be reached: {type(exc).__name__}")
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
        except TimeoutError:
            tracker.finish(TIMEOUT)
            return _proxy_error(504, "upstream_timeout", "the upstream response did not complete in time")
        except (aiohttp.ClientError, OSError) as exc:
            tracker.finish(OTHER)
            return _proxy_error(502, "upstream_unavailable", f"the upstream response broke off: {type(exc).__name__}")
        except BaseException:
            tracker.cancel()
            raise
        finally:
            upstream.release()
        _meter_body(tracker, upstream.status, content)
        response = Response(content, status_code=upstream.status)
        response.raw_headers = [*down_headers, (b"content-length", str(len(content)).encode())]
        return response

    async def _relay(self, upstream: aiohttp.ClientResponse, tracker: CallTracker) -> AsyncIterator[bytes]:
        meter = SSEMeter(tracker)
        complete = False
        try:
            async for chunk in upstream.content.iter_any():
                meter.feed(chunk)
                yield chunk
            complete = True
            meter.close()
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
            if meter.malformed:
                log.warning("upstream stream had events that are not JSON",
                            extra={"event": "proxy_malformed_events", "count": meter.malformed,
                                   "trace_id": tracker.trace_id})


def _inspect_body(body: bytes, operation: str) -> tuple[str, bool, bytes]:
    """(model, streaming, body to send). The body is rewritten only to ask a stream for usage."""
    try:
        payload = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        return "unknown", False, body
    if not isinstance(payload, dict):
        return "unknown", False, body
    model = payload.get("model")
    model = model if isinstance(model, str) and model else "unknown"
    stream = payload.get("stream") is True
    if stream and operation != "embeddings":
        options = payload.get("stream_options")
        if options is None:
            payload["stream_options"] = {"include_usage": True}
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
        elif isinstance(options, dict) and "include_usage" not in options:
            options["include_usage"] = True
            body = json.dumps(payload, separators=(",", ":"), ensure_ascii=False).encode()
    return model, stream, body


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
            except ValueError:
                usage = None
            if isinstance(usage, dict):
                return {"usage": usage}
    try:
        parsed = json.loads(content)
    except (ValueError, UnicodeDecodeError):
        return None
    return parsed if isinstance(parsed, dict) else None


def _proxy_error(status: int, kind: str, message: str) -> Response:
    """An error produced by the proxy itself (the upstream gave no response), OpenAI-shaped."""
    body = json.dumps({"error": {"message": message, "type": kind, "param": None, "code": kind}}).encode()
    return Response(body, status_code=status, media_type="application/json")
