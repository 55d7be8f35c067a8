"""What the OpenTelemetry SDK's OTLP exporters log, kept quiet and free of secrets, and why an
export failed, told once.

The SDK's exporters log a warning for every retry and an error for every failed batch: during an
outage that is two or more lines every few seconds per signal, for as long as it lasts, each with
the endpoint URL (query string included). Instead, while one of our export workers runs an
export, whatever the `opentelemetry.exporter` loggers say is captured (not printed), and the
worker logs one `telemetry_export_failing` warning per outage with a short reason from a fixed
vocabulary ("connection refused", "timeout", "HTTP 401"...; telemetry/export.py). The reason
comes from the exporter's HTTP session (`OutcomeSession`, handed to the SDK exporter through its
public `session` argument), else from the captured SDK messages. What those loggers say outside
an export (construction, shutdown) goes to the root handlers as usual.

Secrets: `safe_endpoint()` masks the userinfo and query values of an endpoint before it is
logged; the SDK's "Header format invalid" warning about `OTEL_EXPORTER_OTLP_HEADERS` loses the
header it quotes (the value is usually a credential); reasons never quote a URL or a message.
"""

from __future__ import annotations

import contextlib
import logging
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from ..extras import MissingExtraError

try:
    import requests
except ImportError as exc:  # the OTLP exporter's HTTP client comes with the `tracing` extra
    raise MissingExtraError("tracing", "OTLP export") from exc

SDK_EXPORTER_LOGGER = "opentelemetry.exporter"
SDK_HEADERS_LOGGER = "opentelemetry.util.re"  # parse_env_headers() quotes malformed headers verbatim
MASK = "[REDACTED]"
_KEEP = 8  # records kept per export: the first ones say why, the rest repeat it

# Fallback when the session saw no failed request (the batch never left): the SDK's messages,
# reduced to fixed text (or a status code). Tried in order on each captured message.
_REASONS: tuple[tuple[re.Pattern[str], str], ...] = (
    (re.compile(r"batch code: (\d{3})"), "HTTP {0}"),
    (re.compile(r"max_request_size"), "batch too large"),
    (re.compile(r"[Ff]ailed to encode"), "encoding failed"),
    (re.compile(r"[Ss]hutdown"), "shutting down"),
)


class OutcomeSession(requests.Session):
    """The SDK exporter's HTTP session: notes how the latest request ended (`take_outcome()`),
    as fixed text, so a failed export can say why without quoting the URL."""

    def __init__(self) -> None:
        super().__init__()
        self._outcome: str | None = None

    def request(self, method: str | bytes, url: str | bytes, *args: Any, **kwargs: Any) -> requests.Response:
        try:
            response = super().request(method, url, *args, **kwargs)
        except Exception as exc:
            self._outcome = describe_error(exc)
            raise
        self._outcome = None if response.status_code < 400 else f"HTTP {response.status_code}"
        return response

    def take_outcome(self) -> str | None:
        outcome, self._outcome = self._outcome, None
        return outcome


def describe_error(exc: BaseException) -> str:
    """A transport error as fixed text: its class decides, and a few words of the errno chain."""
    if isinstance(exc, requests.exceptions.SSLError):
        return "TLS error"
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connect timeout"
    if isinstance(exc, requests.exceptions.Timeout):
        return "timeout"
    if isinstance(exc, requests.exceptions.ConnectionError):
        text = str(exc)
        if "refused" in text.lower():
            return "connection refused"
        if re.search(r"NameResolution|Name or service not known|nodename nor servname|getaddrinfo", text):
            return "name resolution failed"
        if re.search(r"reset by peer|RemoteDisconnected|aborted", text, re.IGNORECASE):
            return "connection reset"
        return "connection error"
    return type(exc).__name__


def safe_endpoint(url: str | None) -> str | None:
    """`url` with the user:password part and every query and fragment value masked: what may be
    logged of an endpoint (`http://[REDACTED]@host:4318/v1/logs?api_key=[REDACTED]`)."""
    if not url:
        return url
    try:
        parts = urlsplit(url)
    except ValueError:
        return MASK
    netloc = parts.netloc
    if "@" in netloc:
        netloc = f"{MASK}@{netloc.rpartition('@')[2]}"
    query = "&".join(f"{piece.partition('=')[0]}={MASK}" if "=" in piece else MASK
                     for piece in parts.query.split("&") if piece)
    fragment = MASK if parts.fragment else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, fragment))


def failure_reason(records: list[logging.LogRecord]) -> str:
    """Why an export failed, from what the SDK logged during it (first recognised message)."""
    for record in records:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record must not hide the others
            continue
        for pattern, reason in _REASONS:
            match = pattern.search(message)
            if match:
                return reason.format(*match.groups())
    return "unknown"


class _ExportLogCapture(logging.Handler):
    """Handler of the `opentelemetry.exporter` logger (which no longer propagates): inside
    `capture()` it keeps the records for the calling thread; outside, it hands them to the root
    logger's handlers as if they had propagated."""

    def __init__(self) -> None:
        super().__init__(logging.NOTSET)
        self._local = threading.local()

    @contextlib.contextmanager
    def capture(self) -> Iterator[list[logging.LogRecord]]:
        records: list[logging.LogRecord] = []
        self._local.records = records
        try:
            yield records
        finally:
            self._local.records = None

    def emit(self, record: logging.LogRecord) -> None:
        records = getattr(self._local, "records", None)
        if records is None:
            logging.getLogger().handle(record)
        elif len(records) < _KEEP:
            records.append(record)


class _MaskHeaderValues(logging.Filter):
    """The SDK's header-parsing warnings quote the malformed header: keep the warning, mask it."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(MASK for _ in record.args) if isinstance(record.args, tuple) else (MASK,)
        return True


_CAPTURE = _ExportLogCapture()
_MASK_HEADERS = _MaskHeaderValues()
_install_lock = threading.Lock()


def install() -> None:
    """Route the SDK exporter loggers through the capture and mask header values (idempotent)."""
    with _install_lock:
        exporter_logger = logging.getLogger(SDK_EXPORTER_LOGGER)
        if _CAPTURE not in exporter_logger.handlers:
            exporter_logger.addHandler(_CAPTURE)
        exporter_logger.propagate = False
        headers_logger = logging.getLogger(SDK_HEADERS_LOGGER)
        if _MASK_HEADERS not in headers_logger.filters:
            headers_logger.addFilter(_MASK_HEADERS)


def capture_export_logs() -> contextlib.AbstractContextManager[list[logging.LogRecord]]:
    """Within the block, what the SDK exporters log on this thread is collected, not printed."""
    return _CAPTURE.capture()
