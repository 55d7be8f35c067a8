"""Structured logs: one JSON object per line on stdout, so Loki and `jq` read them alike.

Every line has `timestamp` (UTC, RFC 3339 with milliseconds), `level`, `logger`, `event` and
`message`; anything passed with `extra=` is added as it is. The per-call line and its fields are
described in docs/logs-and-traces.md (see telemetry/calllog.py).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any

# Attributes every LogRecord has; anything else on a record came from `extra=` and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName", "color_message"}
_RESERVED = ("timestamp", "level", "logger", "event", "message")
QUIET_LIBRARIES = ("urllib3", "httpx", "httpcore")
LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "error": logging.ERROR}


def extra_fields(record: logging.LogRecord) -> dict[str, Any]:
    """What the caller passed with `extra=` (the structured fields of the line)."""
    return {key: value for key, value in vars(record).items() if key not in _STANDARD}


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        entry: dict[str, object] = {
            "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "event": getattr(record, "event", None) or message,
            "message": message,
        }
        for key, value in extra_fields(record).items():
            if key not in _RESERVED:
                entry[key] = value
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str, separators=(",", ":"), ensure_ascii=False)


def configure_logging(env: str, level: str | None = None) -> None:
    """development: debug and up; production: info and up; `level` (debug|info|warning|error)
    overrides both. Replaces any earlier handlers of the root logger."""
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(JsonFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    if level is None:
        level = "debug" if env == "development" else "info"
    root.setLevel(LEVELS[level])
    # stdout keeps this level even for a logger set lower to feed another handler (the OTLP export
    # of simulated calls, see telemetry/pipeline.py)
    handler.setLevel(LEVELS[level])
    # HTTP client libraries log every request (URL included, and some providers take the API key
    # as a query parameter); the per-call line already records each call. Their warnings stay.
    for name in QUIET_LIBRARIES:
        logging.getLogger(name).setLevel(logging.WARNING)
