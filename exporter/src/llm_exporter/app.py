"""The HTTP surface: /metrics, health, the mock's scenario switch and the alert webhook."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic import ValidationError

from . import __version__
from .alert_webhook import WebhookPayload
from .instrument.exposition import render_metrics
from .mock.dialects import CONTENT_TYPE as DIALECT_CONTENT_TYPE
from .mock.dialects import UnknownDialectError
from .mock.scenarios import SCENARIOS, UnknownScenarioError
from .runtime import Runtime

log = logging.getLogger(__name__)


def _error(status: int, message: str, **details: Any) -> JSONResponse:
    return JSONResponse({"error": message, **details}, status_code=status)


async def _json_body(request: Request) -> Any:
    """The request body as JSON, or raise ValueError with a message fit for the caller."""
    raw = await request.body()
    try:
        return json.loads(raw)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"body is not valid JSON: {exc}") from None


def create_app(runtime: Runtime) -> FastAPI:
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

    app = FastAPI(title="llm-exporter", version=__version__, lifespan=lifespan)
    app.state.runtime = runtime
    if runtime.proxy is not None:  # proxy mode: POST /v1/chat/completions, /v1/completions, /v1/embeddings
        app.add_middleware(runtime.proxy.middleware)

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
        links = {"metrics": "/metrics", "health": "/healthz", "ready": "/readyz", "docs": "/docs",
                 "alert_webhook": "/alertmanager/webhook", "notifications": "/alertmanager/notifications"}
        if simulator:
            links["scenario"] = "/mock/scenario"
        if runtime.dialects is not None:
            links["sources"] = "/sources"
        if runtime.proxy is not None:
            links.update(proxy_chat="/v1/chat/completions", proxy_completions="/v1/completions",
                         proxy_embeddings="/v1/embeddings", upstream=runtime.proxy.base_url)
        return {"name": "llm-exporter", "version": __version__, "mode": runtime.settings.mode, "links": links}

    @app.get("/mock/scenario")
    def get_scenario() -> JSONResponse:
        if simulator is None:
            return _error(404, "scenarios exist only in mock mode", mode=runtime.settings.mode)
        return JSONResponse({"active": simulator.scenario.name,
                             "scenarios": {name: s.description for name, s in SCENARIOS.items()}})

    @app.post("/mock/scenario")
    async def set_scenario(request: Request) -> JSONResponse:
        if simulator is None:
            return _error(404, "scenarios exist only in mock mode", mode=runtime.settings.mode)
        valid = list(SCENARIOS)
        try:
            body = await _json_body(request)
        except ValueError as exc:
            return _error(400, str(exc), valid_scenarios=valid)
        if not isinstance(body, dict) or set(body) != {"scenario"}:
            return _error(400, 'body must be a JSON object {"scenario": "<name>"}', valid_scenarios=valid)
        try:
            previous = simulator.scenario.name
            scenario = simulator.set_scenario(body["scenario"])
        except UnknownScenarioError as exc:
            return _error(422, str(exc), valid_scenarios=valid)
        log.info("mock scenario switched", extra={"event": "scenario_switched", "previous": previous,
                                                  "scenario": scenario.name})
        return JSONResponse({"active": scenario.name, "previous": previous, "description": scenario.description})

    @app.get("/sources")
    def sources_index() -> JSONResponse:
        if runtime.dialects is None:
            return _error(404, "source dialects exist only in mock mode", mode=runtime.settings.mode)
        return JSONResponse(runtime.dialects.index())

    @app.get("/sources/{name}/metrics")
    def source_metrics(name: str) -> Response:
        """The mock fleet as the named source (vllm, litellm, dcgm, ...) would expose it."""
        if runtime.dialects is None:
            return _error(404, "source dialects exist only in mock mode", mode=runtime.settings.mode)
        try:
            body = runtime.dialects.render(name)
        except UnknownDialectError as exc:
            return _error(404, exc.message, valid_sources=sorted(runtime.dialects.by_name))
        return Response(content=body, headers={"Content-Type": DIALECT_CONTENT_TYPE})

    @app.post("/alertmanager/webhook")
    async def alert_webhook(request: Request) -> JSONResponse:
        try:
            payload = WebhookPayload.model_validate(await _json_body(request))
        except ValueError as exc:  # ValidationError is a ValueError too
            message = _validation_message(exc) if isinstance(exc, ValidationError) else str(exc)
            return _error(400, f"not an Alertmanager webhook payload: {message}")
        entries = runtime.notifications.add(payload, time.time())
        for entry in entries:
            runtime.recorder.alert_notification(payload.receiver, str(entry["status"]), str(entry["alertname"]))
        return JSONResponse({"received": len(entries)})

    @app.get("/alertmanager/notifications")
    def notifications() -> list[dict[str, Any]]:
        return runtime.notifications.recent()

    return app


def _validation_message(exc: ValidationError) -> str:
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first["loc"]) or "(body)"
    return f"{where}: {first['msg']}"
