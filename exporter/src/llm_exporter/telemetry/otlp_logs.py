"""Python log records of the `llm_exporter` loggers as OTLP log records, into the bounded queue.

The record carries the same fields as the JSON line on stdout: `trace_id`/`span_id` become the
OTLP record's trace context (Loki stores them as structured metadata), everything else becomes
an attribute (nested objects flattened with dots: tokens.input, tokens.output).

Attached to the `llm_exporter` logger only, so the OpenTelemetry SDK's own loggers can never
feed their export errors back into the export queue. The per-call records (`llm_exporter.calls`)
do not come through here: the telemetry pipeline queues them itself, built on the export worker
from the recorded call (`calllog.otlp_call_record`), so the handler it installs leaves them out.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

from ..extras import MissingExtraError

try:
    from opentelemetry import trace
    from opentelemetry._logs import LogRecord, SeverityNumber
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import NonRecordingSpan, SpanContext, TraceFlags
except ImportError as exc:  # the core install: OpenTelemetry is the `tracing` extra
    raise MissingExtraError("tracing", "OTLP log export") from exc

from ..logs import extra_fields
from .context import valid_span_id, valid_trace_id
from .export import BoundedExporter

_SEVERITY = {
    logging.DEBUG: SeverityNumber.DEBUG,
    logging.INFO: SeverityNumber.INFO,
    logging.WARNING: SeverityNumber.WARN,
    logging.ERROR: SeverityNumber.ERROR,
    logging.CRITICAL: SeverityNumber.FATAL,
}
_SEVERITY_TEXT = {logging.WARNING: "WARN", logging.CRITICAL: "FATAL"}
_SCALARS = (str, bool, int, float)


def _flatten(prefix: str, value: object) -> Iterator[tuple[str, object]]:
    if value is None:
        return
    if isinstance(value, _SCALARS):
        yield prefix, value
    elif isinstance(value, Mapping):
        for key, inner in value.items():
            yield from _flatten(f"{prefix}.{key}", inner)
    elif isinstance(value, list | tuple) and all(isinstance(v, str) for v in value):
        yield prefix, tuple(value)
    else:
        yield prefix, str(value)


def to_otlp(record: logging.LogRecord, resource: Resource, scope: InstrumentationScope) -> ReadableLogRecord:
    exception = record.exc_info[1] if record.exc_info else None
    return otlp_record(record.name, record.levelno, record.getMessage(), extra_fields(record),
                       int(record.created * 1e9), exception, resource, scope)


def otlp_record(logger: str, level: int, message: str, fields: dict[str, Any], time_ns: int,
                exception: BaseException | None, resource: Resource, scope: InstrumentationScope) -> ReadableLogRecord:
    """The OTLP log record of a log line: `fields` are its structured fields (`extra=`; the dict is
    consumed), `trace_id`/`span_id` among them become the record's trace context."""
    trace_id = fields.pop("trace_id", None)
    span_id = fields.pop("span_id", None)
    attributes: dict[str, object] = {"logger": logger}
    for key, value in fields.items():
        attributes.update(_flatten(key, value))
    if exception is not None:
        attributes["exception.type"] = type(exception).__name__
        attributes["exception.message"] = str(exception)
    context = None
    if valid_trace_id(trace_id) and valid_span_id(span_id):
        sampled = fields.get("trace_sampled") is True
        span_context = SpanContext(int(trace_id, 16), int(span_id, 16), is_remote=False,  # type: ignore[arg-type]
                                   trace_flags=TraceFlags(TraceFlags.SAMPLED if sampled else TraceFlags.DEFAULT))
        context = trace.set_span_in_context(NonRecordingSpan(span_context))
    severity = _SEVERITY.get(level) or (SeverityNumber.ERROR if level > logging.WARNING else SeverityNumber.INFO)
    log_record = LogRecord(
        timestamp=time_ns,
        context=context or trace.set_span_in_context(trace.INVALID_SPAN),
        severity_text=_SEVERITY_TEXT.get(level) or logging.getLevelName(level),
        severity_number=severity,
        body=message,
        attributes=attributes,  # type: ignore[arg-type]
        event_name=str(fields["event"]) if isinstance(fields.get("event"), str) else None,
    )
    return ReadableLogRecord(log_record=log_record, resource=resource, instrumentation_scope=scope)


class OtlpLogHandler(logging.Handler):
    """Queues each record for OTLP export; never blocks, never raises into the logging call."""

    def __init__(self, queue: BoundedExporter, resource: Resource, scope: InstrumentationScope,
                 level: int = logging.NOTSET) -> None:
        super().__init__(level)
        self.queue = queue
        self.resource = resource
        self.scope = scope

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.queue.put(to_otlp(record, self.resource, self.scope))
        except Exception:  # pragma: no cover - logging must never fail the caller
            self.handleError(record)
