"""`llm-exporter`: parse settings, load configuration, listen, serve until SIGTERM.

Start-up refusals (bad configuration, a missing extra, a port already in use) print one
`llm-exporter: ...` line on stderr, log it, and exit with status 2 before anything is served.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import sys
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from .config import ConfigError
from .extras import MissingExtraError, require
from .logs import configure_logging
from .settings import Settings, parse_settings
from .telemetry.config import log_level

if TYPE_CHECKING:
    from fastapi import FastAPI

    from .runtime import Runtime

log = logging.getLogger("llm_exporter")
STARTUP_FAILED = 2


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
        require("server", "the llm-exporter service", "fastapi", "uvicorn", "fastapi_offline")
        from .runtime import build_runtime

        runtime = build_runtime(settings)
    except ConfigError as exc:
        return _config_error(exc)
    except MissingExtraError as exc:
        return _refuse(str(exc), event="missing_extra", extra=exc.extra)
    try:
        sock = listen(settings.host, settings.port)
    except OSError as exc:
        return _refuse(f"cannot listen on {settings.host}:{settings.port}: {exc.strerror or exc}"
                       " (is another process using that port? choose one with --port)",
                       event="listen_failed", host=settings.host, port=settings.port)
    serve(runtime, settings, sock)
    return 0


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, bound before anything says the exporter started."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM,
                                                         flags=socket.AI_PASSIVE)[0]
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a restart need not wait out TIME_WAIT
        if family == socket.AF_INET6:
            sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
        sock.bind(address)
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    return sock


def serve(runtime: Runtime, settings: Settings, sock: socket.socket) -> None:
    """Serve the app on `sock` until SIGINT/SIGTERM. uvicorn then stops accepting, lets calls in
    flight finish for up to --shutdown-timeout seconds, and runs the lifespan shutdown."""
    import uvicorn

    from .app import create_app

    app = create_app(runtime)
    _flush_telemetry_at_shutdown(app, runtime)
    config = uvicorn.Config(app, log_config=None, access_log=False,
                            timeout_graceful_shutdown=settings.shutdown_timeout)
    uvicorn.Server(config).run(sockets=[sock])


def _config_error(exc: ConfigError) -> int:
    log.error("invalid configuration", extra={"event": "config_error", "file": exc.path, "key": exc.key,
                                              "problem": exc.problem})
    print(f"llm-exporter: configuration error: {exc}", file=sys.stderr)
    return STARTUP_FAILED


def _refuse(message: str, *, event: str, **fields: Any) -> int:
    log.error(message, extra={"event": event, **fields})
    print(f"llm-exporter: {message}", file=sys.stderr)
    return STARTUP_FAILED


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
