"""Logs and traces for every recorded call, wired onto the Recorder's one recording path.

`Telemetry.install()` gives the Recorder its trace policy (which calls keep their trace, and
with it their exemplars) and a listener that, for each recorded call, writes the call's log
line and queues its spans. Mock calls, proxied calls and instrumented calls all pass here.

The listener runs on the thread that made the call, so it only queues: the recorded call goes
to the export queues as a `Deferred`, and its OTLP log record and spans are built (and encoded)
on the export worker threads. The call's line goes through Python logging only when a handler
other than the OTLP one would take it (the JSON line on stdout of the exporter service, or a
service's own logging setup).

The OpenTelemetry SDK (the `tracing` extra) is loaded only when an OTLP endpoint is configured:
without one, the trace policy and the call log lines on stdout need nothing beyond the core.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .. import __version__
from ..extras import require
from ..recorder import RecordedCall, Recorder
from . import calllog
from .config import DEFAULT_SERVICE_NAME, QueueSettings, TelemetryConfig
from .sampling import TracePolicy

if TYPE_CHECKING:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from .export import BoundedExporter
    from .otlp_logs import OtlpLogHandler

log = logging.getLogger("llm_exporter.telemetry")
PACKAGE_LOGGER = "llm_exporter"


def build_resource(environment: str | None = None, mode: str | None = None) -> Resource:
    """service.name from OTEL_SERVICE_NAME / OTEL_RESOURCE_ATTRIBUTES, else llm-exporter."""
    require("tracing", "OTLP export of traces and logs", "opentelemetry.sdk")
    from opentelemetry.sdk.resources import SERVICE_NAME, Resource

    attributes: dict[str, str] = {"service.version": __version__}
    if environment:
        attributes["deployment.environment.name"] = environment
    if mode:
        attributes["llm_exporter.mode"] = mode
    resource = Resource.create(attributes)
    if str(resource.attributes.get(SERVICE_NAME, "")).startswith("unknown_service"):
        resource = resource.merge(Resource({SERVICE_NAME: DEFAULT_SERVICE_NAME}))
    return resource


def _not_call_records(record: logging.LogRecord) -> bool:
    return record.name != calllog.CALL_LOGGER


class Telemetry:
    """The per-process logs and traces pipeline; `install()` once, `shutdown()` at exit."""

    def __init__(self, recorder: Recorder, config: TelemetryConfig, *, environment: str | None = None,
                 mode: str | None = None) -> None:
        self.recorder = recorder
        self.config = config
        self.policy = TracePolicy(config.sample_ratio, config.slow_seconds)
        self._environment, self._mode = environment, mode
        # the mock's successful calls are simulated: debug on stdout (a line per call would drown the
        # exporter's own messages), still exported over OTLP so the logs dashboards have them
        self.success_level = logging.DEBUG if mode == "mock" else logging.INFO
        self._call_logger_level: int | None = None  # to restore at shutdown
        self.spans: BoundedExporter | None = None
        self.logs: BoundedExporter | None = None
        self._log_handler: OtlpLogHandler | None = None
        self._export_parts: tuple[Any, ...] = ()  # (Deferred, build_spans, span_count) once exporting
        self._installed = False

    @functools.cached_property
    def resource(self) -> Resource:
        """The OpenTelemetry resource of this process's spans and log records (needs `tracing`)."""
        return build_resource(self._environment, self._mode)

    @functools.cached_property
    def scope(self) -> InstrumentationScope:
        require("tracing", "OTLP export of traces and logs", "opentelemetry.sdk")
        from opentelemetry.sdk.util.instrumentation import InstrumentationScope

        return InstrumentationScope("llm_exporter", __version__)

    @classmethod
    def from_env(cls, recorder: Recorder, *, environment: str | None = None, mode: str | None = None,
                 environ: Mapping[str, str] | None = None) -> Telemetry:
        return cls(recorder, TelemetryConfig.from_env(environ), environment=environment, mode=mode)

    def install(self) -> Telemetry:
        """Start the export queues (for the signals with an endpoint) and hook into the Recorder.
        Raises MissingExtraError when an endpoint is set but the `tracing` extra is not installed."""
        if self._installed:
            return self
        config = self.config
        if config.traces_endpoint or config.logs_endpoint:
            self._start_export()
        self._installed = True
        self.recorder.trace_policy = self.policy
        self.recorder.listeners.append(self.on_call)
        log.info("telemetry configured", extra={
            "event": "telemetry_configured", "service_name": self.service_name(),
            # userinfo and query values masked; OTEL_EXPORTER_OTLP_HEADERS is never logged
            "traces_endpoint": _masked(config.traces_endpoint), "logs_endpoint": _masked(config.logs_endpoint),
            "trace_sample_ratio": config.sample_ratio, "trace_slow_seconds": config.slow_seconds,
        })
        log.debug("telemetry export queues", extra={
            "event": "telemetry_queues", "traces": vars(config.traces_queue) if self.spans else None,
            "logs": vars(config.logs_queue) if self.logs else None, "preview_chars": config.preview_chars,
        })
        return self

    def service_name(self) -> Any:
        """service.name of the exported records; None when nothing is exported."""
        if self.spans is None and self.logs is None:
            return None
        from opentelemetry.sdk.resources import SERVICE_NAME

        return self.resource.attributes.get(SERVICE_NAME)

    def _start_export(self) -> None:
        require("tracing", "OTLP export of traces and logs (an OTEL_EXPORTER_OTLP_*ENDPOINT is set)",
                "opentelemetry.sdk", "opentelemetry.exporter.otlp.proto.http", "requests")
        from . import sdk_logs
        from .export import Deferred
        from .otlp_logs import OtlpLogHandler
        from .spans import build_spans, span_count

        # on_call's per-call needs, bound once: an import inside on_call would cost each call more
        # than the queueing itself
        self._export_parts = (Deferred, build_spans, span_count)
        config = self.config
        sdk_logs.install()  # before the SDK exporters parse OTEL_EXPORTER_OTLP_HEADERS
        if config.traces_endpoint:
            from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

            self.spans = self._queue("traces", OTLPSpanExporter, config.traces_endpoint, config.traces_queue)
        if config.logs_endpoint:
            from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter

            self.logs = self._queue("logs", OTLPLogExporter, config.logs_endpoint, config.logs_queue)
            package_logger = logging.getLogger(PACKAGE_LOGGER)
            for handler in list(package_logger.handlers):  # one pipeline per process: replace an older one
                if isinstance(handler, OtlpLogHandler):
                    package_logger.removeHandler(handler)
            self._log_handler = OtlpLogHandler(self.logs, self.resource, self.scope)
            self._log_handler.addFilter(_not_call_records)  # on_call queues those itself
            package_logger.addHandler(self._log_handler)
            call_logger = logging.getLogger(calllog.CALL_LOGGER)
            if self.success_level < call_logger.getEffectiveLevel():  # export the debug call lines too
                self._call_logger_level = call_logger.level
                call_logger.setLevel(self.success_level)

    def on_call(self, recorded: RecordedCall) -> None:
        """Recorder listener: the call's log line, and its spans when its trace is kept. Runs on
        the calling thread: the OTLP log record and the spans are built on the export workers."""
        end_ns = time.time_ns()
        kept = recorded.trace_kept
        try:
            level = logging.WARNING if recorded.error_type is not None else self.success_level
            if calllog.log.isEnabledFor(level):  # the llm_exporter loggers' levels apply to OTLP too
                other_handlers, otlp_handler = self._call_line_handlers(level)
                if otlp_handler and self.logs is not None:
                    deferred = self._export_parts[0]
                    self.logs.put(deferred(functools.partial(
                        calllog.otlp_call_record, recorded, kept, self.config.preview_chars, end_ns,
                        self.resource, self.scope, self.success_level)))
                if other_handlers:
                    calllog.log_call(recorded, trace_kept=kept, preview_chars=self.config.preview_chars,
                                     success_level=self.success_level)
            if kept and self.spans is not None:
                deferred, build_spans, span_count = self._export_parts
                self.spans.put(deferred(functools.partial(build_spans, recorded, end_ns, self.resource, self.scope),
                                        span_count(recorded)))
        except Exception:  # telemetry must never fail the recording of a call
            log.exception("could not emit telemetry for a call", extra={"event": "telemetry_error"})

    def _call_line_handlers(self, level: int) -> tuple[bool, bool]:
        """Where a call line at `level` would go, walking the handlers as `Logger.callHandlers`
        does: (a handler other than this pipeline's OTLP one takes it, the OTLP one does). With no
        handler at all, Python's last-resort handler prints warnings."""
        logger: logging.Logger | None = calllog.log
        found = others = otlp = False
        while logger is not None:
            for handler in logger.handlers:
                found = True
                if level >= handler.level:
                    if handler is self._log_handler:
                        otlp = True
                    else:
                        others = True
            if not logger.propagate:
                break
            logger = logger.parent
        if not found and logging.lastResort is not None and level >= logging.lastResort.level:
            others = True
        return others, otlp

    def _queue(self, signal: str, exporter_class: type, endpoint: str, settings: QueueSettings) -> BoundedExporter:
        """One signal's OTLP/HTTP exporter behind its bounded queue; drops count on the Recorder."""
        from . import sdk_logs
        from .export import BoundedExporter

        session = sdk_logs.OutcomeSession()
        exporter = exporter_class(endpoint=endpoint, timeout=settings.timeout_s, session=session)
        return BoundedExporter(signal, exporter, settings, self.recorder.telemetry_dropped, endpoint=endpoint,
                               outcome=session.take_outcome)

    def flush(self, timeout: float = 3.0) -> bool:
        """Send what the export queues hold now (bounded by `timeout`); True when both emptied."""
        deadline = time.monotonic() + timeout
        return all([queue.flush(max(deadline - time.monotonic(), 0.0))
                    for queue in (self.spans, self.logs) if queue is not None])

    def shutdown(self, timeout: float = 3.0) -> None:
        """Flush what is queued (bounded by `timeout`) and stop the export threads."""
        if self._log_handler is not None:
            logging.getLogger(PACKAGE_LOGGER).removeHandler(self._log_handler)
            self._log_handler = None
        if self._call_logger_level is not None:
            logging.getLogger(calllog.CALL_LOGGER).setLevel(self._call_logger_level)
            self._call_logger_level = None
        queues = [queue for queue in (self.spans, self.logs) if queue is not None]
        for queue in queues:
            queue.shutdown(timeout / len(queues))
        if self.on_call in self.recorder.listeners:
            self.recorder.listeners.remove(self.on_call)


def _masked(url: str | None) -> str | None:
    """An endpoint as it may be logged (sdk_logs.safe_endpoint), loaded only when there is one."""
    if not url:
        return url
    from .sdk_logs import safe_endpoint

    return safe_endpoint(url)
