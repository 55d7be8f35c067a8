"""The HTTP surface, per mode: each mode serves only its own routes.

| route                                   | mock | real | proxy | config |
|-----------------------------------------|------|------|-------|--------|
| GET /metrics, /healthz, /readyz, /      | yes  | yes  | yes   | yes    |
| GET, POST /mock/scenario                | yes  |      |       |        |
| GET /sources, /sources/{name}/metrics   | yes  |      |       |        |
| POST /alertmanager/webhook              | yes  | yes  |       | yes    |
| GET /alertmanager/notifications         | yes  | yes  |       | yes    |
| POST /v1/chat/completions, /v1/completions, /v1/embeddings | | | yes | |
| GET /docs, /openapi.json                | yes  | `--docs on` | `--docs on` | `--docs on` |

Every route answers bad input with a 4xx JSON error and records nothing from it; refusals are
counted in llm_rejected_requests_total{route,reason} (request_body.py has the limits).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from fastapi_offline import FastAPIOffline
from pydantic import ValidationError
from starlette.exceptions import HTTPException

from . import __version__
from .alert_webhook import WebhookPayload
from .instrument.exposition import render_metrics
from .mock.dialects import CONTENT_TYPE as DIALECT_CONTENT_TYPE
from .mock.dialects import UnknownDialectError
from .mock.scenarios import SCENARIOS, UnknownScenarioError
from .openapi import DOCS_STATIC_URL, install_openapi
from .request_body import BodyGuard, InvalidPayload, Rejected, Unauthorized, parse_json, read_body
from .runtime import Runtime
from .settings import ALERT_WEBHOOK_MODES

log = logging.getLogger(__name__)

SCENARIO_MAX_BYTES = 4 * 1024  # POST /mock/scenario
WEBHOOK_MAX_BYTES = 1024 * 1024  # POST /alertmanager/webhook (the shipped max_alerts keeps it far below)
_logged_rejections: set[tuple[str, str]] = set()
_logged_lock = threading.Lock()


def _error(status: int, message: str, headers: dict[str, str] | None = None, **details: Any) -> JSONResponse:
    return JSONResponse({"error": message, **details}, status_code=status, headers=headers)


def create_app(runtime: Runtime) -> FastAPI:
    settings = runtime.settings
    app = _new_app(runtime)
    app.state.runtime = runtime

    def reject(route: str, rejection: Rejected, **details: Any) -> Response:
        """Count and answer a refused request (on the proxy's routes, in the OpenAI format)."""
        if runtime.proxy is not None and route in runtime.proxy.targets:
            return runtime.proxy.reject(route, rejection)
        runtime.recorder.request_rejected(route, rejection.reason)
        _log_first_rejection(route, rejection)
        return _error(rejection.status, str(rejection), rejection.headers(), reason=rejection.reason, **details)

    _add_common_routes(app, runtime)
    if runtime.simulator is not None:
        _add_mock_routes(app, runtime, reject)
    if runtime.dialects is not None:
        _add_source_routes(app, runtime)
    if settings.mode in ALERT_WEBHOOK_MODES:
        _add_alert_routes(app, runtime, reject)
    if runtime.proxy is not None:  # POST /v1/chat/completions, /v1/completions, /v1/embeddings
        app.add_middleware(runtime.proxy.middleware)
    if settings.docs_enabled:
        install_openapi(app, runtime)

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        """Unknown routes and methods: the same JSON error shape as every other refusal."""
        message = str(exc.detail)
        if exc.status_code == 404:
            message = f"no route {request.url.path[:200]!r} in {settings.mode} mode"
        return _error(exc.status_code, message, exc.headers, mode=settings.mode)

    # outermost: body timeout, memory budget and quiet client disconnects for every request
    app.add_middleware(BodyGuard, body_timeout_s=settings.body_timeout,
                       max_in_flight_bytes=settings.max_body_bytes_in_flight, reject=reject)
    return app


def _new_app(runtime: Runtime) -> FastAPI:
    """The application, with /docs served from local files (no CDN) when the docs are on."""
    simulator = runtime.simulator

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(simulator.run(), name="mock-simulator") if simulator else None
        settings = runtime.settings  # the port is bound by now (cli.listen): "started" means listening
        log.info("exporter started", extra={"event": "startup", "mode": settings.mode, "version": __version__,
                                             "host": settings.host, "port": settings.port})
        yield
        if task:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if runtime.proxy is not None:
            await runtime.proxy.aclose()
        log.info("exporter stopped", extra={"event": "shutdown"})

    if not runtime.settings.docs_enabled:
        return FastAPI(title="llm-exporter", version=__version__, lifespan=lifespan,
                       docs_url=None, redoc_url=None, openapi_url=None)
    return FastAPIOffline(title="llm-exporter", version=__version__, lifespan=lifespan, redoc_url=None,
                          static_url=DOCS_STATIC_URL, swagger_ui_parameters={"validatorUrl": None})


def _log_first_rejection(route: str, rejection: Rejected) -> None:
    """One warning per route and reason (a flood of bad requests is one line, and a count)."""
    key = (route, rejection.reason)
    with _logged_lock:
        if key in _logged_rejections:
            return
        _logged_rejections.add(key)
    log.warning("request refused: %s", rejection, extra={
        "event": "request_rejected", "route": route, "reason": rejection.reason, "status": rejection.status})


def _add_common_routes(app: FastAPI, runtime: Runtime) -> None:
    settings = runtime.settings

    @app.get("/metrics")
    def metrics(request: Request) -> Response:
        """Prometheus text by default, OpenMetrics (with exemplars) when the scraper asks for it."""
        body, content_type = render_metrics(runtime.registry, request.headers.get("accept", ""))
        return Response(content=body, headers={"Content-Type": content_type})

    @app.get("/healthz")
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz")
    async def readyz() -> JSONResponse:
        """Ready to serve; in proxy mode only while the upstream accepts TCP connections (503 otherwise)."""
        mode = runtime.settings.mode
        if runtime.proxy is not None:
            problem = await runtime.proxy.upstream_problem()
            if problem is not None:
                return JSONResponse({"status": "not ready", "mode": mode, "upstream": runtime.proxy.base_url,
                                     "reason": problem}, status_code=503)
        return JSONResponse({"status": "ready", "mode": mode})

    @app.get("/")
    def index() -> dict[str, Any]:
        links = {"metrics": "/metrics", "health": "/healthz", "ready": "/readyz"}
        if settings.docs_enabled:
            links["docs"] = "/docs"
        if runtime.simulator is not None:
            links["scenario"] = "/mock/scenario"
        if runtime.dialects is not None:
            links["sources"] = "/sources"
        if settings.mode in ALERT_WEBHOOK_MODES:
            links.update(alert_webhook="/alertmanager/webhook", notifications="/alertmanager/notifications")
        if runtime.proxy is not None:
            links.update(proxy_chat="/v1/chat/completions", proxy_completions="/v1/completions",
                         proxy_embeddings="/v1/embeddings", upstream=runtime.proxy.base_url)
        return {"name": "llm-exporter", "version": __version__, "mode": settings.mode, "links": links}


def _add_mock_routes(app: FastAPI, runtime: Runtime, reject: Any) -> None:
    simulator = runtime.simulator
    assert simulator is not None
    route = "/mock/scenario"
    valid = list(SCENARIOS)

    @app.get(route)
    def get_scenario() -> JSONResponse:
        return JSONResponse({"active": simulator.scenario.name,
                             "scenarios": {name: s.description for name, s in SCENARIOS.items()}})

    @app.post(route)
    async def set_scenario(request: Request) -> Response:
        try:
            body = parse_json(await read_body(request, SCENARIO_MAX_BYTES))
            if not isinstance(body, dict) or set(body) != {"scenario"}:
                raise InvalidPayload('body must be a JSON object {"scenario": "<name>"}')
            previous = simulator.scenario.name
            try:
                scenario = simulator.set_scenario(body["scenario"])
            except UnknownScenarioError as exc:
                raise InvalidPayload(str(exc), status=422) from None
        except Rejected as rejection:
            return reject(route, rejection, valid_scenarios=valid)
        log.info("mock scenario switched", extra={"event": "scenario_switched", "previous": previous,
                                                  "scenario": scenario.name})
        return JSONResponse({"active": scenario.name, "previous": previous, "description": scenario.description})


def _add_source_routes(app: FastAPI, runtime: Runtime) -> None:
    """Mock mode: the simulated fleet in other projects' exposition formats."""
    dialects = runtime.dialects
    assert dialects is not None

    @app.get("/sources")
    def sources_index() -> JSONResponse:
        return JSONResponse(dialects.index())

    @app.get("/sources/{name}/metrics")
    def source_metrics(name: str) -> Response:
        """The mock fleet as the named source (vllm, litellm, dcgm, ...) would expose it."""
        try:
            body = dialects.render(name)
        except UnknownDialectError as exc:
            return _error(404, exc.message, valid_sources=sorted(dialects.by_name))
        return Response(content=body, headers={"Content-Type": DIALECT_CONTENT_TYPE})


def _add_alert_routes(app: FastAPI, runtime: Runtime, reject: Any) -> None:
    route = "/alertmanager/webhook"
    token = runtime.webhook_token
    if token is None and runtime.settings.host not in ("127.0.0.1", "localhost", "::1"):
        log.warning("the alert webhook accepts notifications from anyone who can reach %s:%d; give it a "
                    "token with --webhook-token-file", runtime.settings.host, runtime.settings.port,
                    extra={"event": "webhook_without_token"})

    @app.post(route)
    async def alert_webhook(request: Request) -> Response:
        if token is not None and not token.accepts(request.headers.get("authorization")):
            return reject(route, Unauthorized("a valid bearer token is required (Authorization: Bearer <token>)"))
        try:
            body = parse_json(await read_body(request, WEBHOOK_MAX_BYTES))
            try:
                payload = WebhookPayload.model_validate(body)
            except ValidationError as exc:
                raise InvalidPayload(f"not an Alertmanager webhook payload: {_validation_message(exc)}") from None
        except Rejected as rejection:
            return reject(route, rejection)
        entries = runtime.notifications.add(payload, time.time())
        for entry in entries:
            runtime.recorder.alert_notification(payload.receiver, str(entry["status"]), str(entry["alertname"]))
        return JSONResponse({"received": len(entries)})

    @app.get("/alertmanager/notifications")
    def notifications() -> list[dict[str, Any]]:
        return runtime.notifications.recent()


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part)[:64] for part in first["loc"]) or "(body)"  # a key may be a client's long string
    return f"{where[:256]}: {first['msg']}"
