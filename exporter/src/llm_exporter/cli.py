"""`llm-exporter`: parse settings, load configuration, serve until SIGTERM."""

from __future__ import annotations

import logging
import sys
from collections.abc import Sequence

import uvicorn

from .app import create_app
from .config import ConfigError
from .logs import configure_logging
from .runtime import build_runtime
from .settings import parse_settings

log = logging.getLogger("llm_exporter")


def main(argv: Sequence[str] | None = None) -> int:
    settings = parse_settings(argv)
    configure_logging(settings.env)
    try:
        runtime = build_runtime(settings)
    except ConfigError as exc:
        log.error("invalid configuration", extra={"event": "config_error", "file": exc.path, "key": exc.key,
                                                  "problem": exc.problem})
        print(f"llm-exporter: configuration error: {exc}", file=sys.stderr)
        return 2
    # uvicorn handles SIGINT/SIGTERM: it stops accepting, drains, then runs our lifespan shutdown.
    uvicorn.run(create_app(runtime), host=settings.host, port=settings.port, log_config=None,
                access_log=False, timeout_graceful_shutdown=5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
