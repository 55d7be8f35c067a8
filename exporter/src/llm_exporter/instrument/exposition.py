"""One line to expose the service's own /metrics for Prometheus to scrape.

    start_metrics_server(9464)              # any Python program: a background thread serves /metrics
    mount_metrics(app)                      # FastAPI/Starlette: GET /metrics on the app itself
    app = metrics_asgi_app()                # any other ASGI server or router

All of them negotiate the format: Prometheus asking for OpenMetrics gets the exemplars (trace_id).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableMapping
from typing import Any

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.exposition import choose_encoder

from ._state import get_recorder

Scope = MutableMapping[str, Any]
ASGIApp = Callable[[Scope, Callable[[], Awaitable[Any]], Callable[[Any], Awaitable[None]]], Awaitable[None]]


def _registry(registry: CollectorRegistry | None) -> CollectorRegistry:
    """The given registry as is, else prometheus_client's default one with the process-wide
    recorder registered in it (configured from the environment if `configure()` was not called)."""
    if registry is not None:
        return registry
    from prometheus_client import REGISTRY

    get_recorder()
    return REGISTRY


def start_metrics_server(port: int, addr: str = "0.0.0.0", registry: CollectorRegistry | None = None) -> Any:
    """Serve /metrics on `addr:port` from a daemon thread (prometheus_client's server); returns
    (server, thread). Call `server.shutdown()` to stop it."""
    return start_http_server(port, addr=addr, registry=_registry(registry))


def render_metrics(registry: CollectorRegistry | None = None, accept: str = "") -> tuple[bytes, str]:
    """(body, content type) for a scrape with this Accept header."""
    encoder, content_type = choose_encoder(accept)
    return encoder(_registry(registry)), content_type


def metrics_asgi_app(registry: CollectorRegistry | None = None) -> ASGIApp:
    """A bare ASGI app answering every GET with the metrics (mount it where you like)."""
    registry = _registry(registry)

    async def app(scope: Scope, receive: Callable[[], Awaitable[Any]], send: Callable[[Any], Awaitable[None]]) -> None:
        if scope["type"] == "lifespan":
            while True:
                message = await receive()
                if message["type"] == "lifespan.startup":
                    await send({"type": "lifespan.startup.complete"})
                elif message["type"] == "lifespan.shutdown":
                    await send({"type": "lifespan.shutdown.complete"})
                    return
        if scope["type"] != "http":
            return
        if scope.get("method", "GET") not in ("GET", "HEAD"):
            await send({"type": "http.response.start", "status": 405,
                        "headers": [(b"allow", b"GET, HEAD"), (b"content-length", b"0")]})
            await send({"type": "http.response.body", "body": b""})
            return
        accept = ""
        for key, value in scope.get("headers", ()):
            if key.lower() == b"accept":
                accept = value.decode("latin-1")
        body, content_type = render_metrics(registry, accept)
        await send({"type": "http.response.start", "status": 200,
                    "headers": [(b"content-type", content_type.encode()),
                                (b"content-length", str(len(body)).encode())]})
        await send({"type": "http.response.body", "body": b"" if scope.get("method") == "HEAD" else body})

    return app


def mount_metrics(app: Any, path: str = "/metrics", registry: CollectorRegistry | None = None) -> None:
    """Add GET `path` to a FastAPI or Starlette app, as a route (a mounted sub-app would answer
    /metrics with a 307 redirect to /metrics/)."""
    if not hasattr(app, "add_route"):
        raise TypeError(f"{type(app).__name__} has no add_route(); serve metrics_asgi_app() or use "
                        "prometheus_client.make_wsgi_app() for WSGI frameworks")
    registry = _registry(registry)

    from starlette.responses import Response

    def metrics(request: Any) -> Response:
        body, content_type = render_metrics(registry, request.headers.get("accept", ""))
        return Response(body, headers={"Content-Type": content_type})

    try:
        app.add_route(path, metrics, methods=["GET"], include_in_schema=False)
    except TypeError:  # plain Starlette before include_in_schema
        app.add_route(path, metrics, methods=["GET"])
