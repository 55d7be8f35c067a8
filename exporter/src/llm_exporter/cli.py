"""`llm-exporter`: parse settings, load configuration, serve until SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import AsyncIterator, Sequence
from typing import Any

import uvicorn
from fastapi import FastAPI

from .app import create_app
from .config import ConfigError
from .logs import configure_logging
from .runtime import Runtime, build_runtime
from .settings import parse_settings
from .telemetry.config import log_level

log = logging.getLogger("llm_exporter")


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    level_error: ConfigError | None = None
    try:
        level = log_level(settings.env)  # LLM_EXPORTER_LOG_LEVEL may override the environment's level
    except ConfigError as exc:  # reported once logging is set up
        level, level_error = None, exc
    configure_logging(settings.env, level)
    if level_error is not None:
        return _config_error(level_error)
    try:
        runtime = build_runtime(settings)
    except ConfigError as exc:
        return _config_error(exc)
    # uvicorn handles SIGINT/SIGTERM: it stops accepting, drains, then runs our lifespan shutdown.
    app = create_app(runtime)
    _flush_telemetry_at_shutdown(app, runtime)
    uvicorn.run(app, host=settings.host, port=settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=5)
    return 0


def _config_error(exc: ConfigError) -> int:
    log.error("invalid configuration", extra={"event": "config_error", "file": exc.path, "key": exc.key,
                                              "problem": exc.problem})
    print(f"llm-exporter: configuration error: {exc}", file=sys.stderr)
    return 2


def _flush_telemetry_at_shutdown(app: FastAPI, runtime: Runtime) -> None:
    """After the app's own lifespan shutdown, flush queued spans and logs (3 s at most: a dead
    backend cannot hold the exit). It must run inside the lifespan: uvicorn re-raises SIGTERM
    once it has shut down, so nothing after `uvicorn.run` runs."""
    telemetry = runtime.telemetry
    if telemetry is None:
        return
    inner = app.router.lifespan_context

    @contextlib.asynccontextmanager
    async def lifespan(application: Any) -> AsyncIterator[Any]:
        try:
            async with inner(application) as state:
                yield state
        finally:
            await asyncio.to_thread(telemetry.shutdown, 3.0)

    app.router.lifespan_context = lifespan


if __name__ == "__main__":
    sys.exit(main())
