"""One structured log line per recorded LLM call, and the same record for OTLP export.

Prompts and completions never reach a log: when a caller supplies them in
`LLMCall.extra["prompt"]` / `extra["completion"]` (a string, or chat messages as a list of
dicts), the line carries only their length and SHA-256 (`prompt_chars`, `prompt_sha256`, ...).
With LLM_EXPORTER_LOG_PREVIEW_CHARS > 0 it also carries a preview, redacted then truncated.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from .redact import digest, preview, redact

if TYPE_CHECKING:
    from opentelemetry.sdk._logs import ReadableLogRecord
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope

    from ..recorder import RecordedCall

CALL_LOGGER = "llm_exporter.calls"
CONTENT_KEYS = ("prompt", "completion")

log = logging.getLogger(CALL_LOGGER)


def error_message(recorded: RecordedCall) -> str | None:
    """The call's error message, redacted and cut to 500 characters (None when there is none)."""
    message = recorded.call.extra.get("error_message")
    if not isinstance(message, str) or not message:
        return None
    return redact(message)[:500]


def call_fields(recorded: RecordedCall, *, trace_kept: bool, preview_chars: int = 0) -> dict[str, object]:
    """The fields of a call's log line (besides timestamp, level, logger and message)."""
    call = recorded.call
    fields: dict[str, object] = {
        "event": "llm_call",
        "request_id": call.request_id,
        "trace_id": call.trace_id,
        "span_id": call.span_id,
        "trace_sampled": trace_kept,
        "app_id": recorded.app_id,
        "department": recorded.department,
        "provider": recorded.provider,
        "model": recorded.model,
        "operation": call.operation,
        "streaming": call.streaming,
        "tokens": {"input": call.input_tokens, "output": call.output_tokens},
        "latency_ms": round(call.duration_s * 1000, 1),
        "ttft_ms": None if call.ttft_s is None else round(call.ttft_s * 1000, 1),
        "cost_usd": None if recorded.cost_usd is None else round(recorded.cost_usd, 8),
        "finish_reason": call.finish_reason,
        "error": recorded.error_type,
    }
    message = error_message(recorded)
    if message:
        fields["error_message"] = message
    for key in CONTENT_KEYS:
        content = call.extra.get(key)
        if content is None:
            continue
        length, sha256 = digest(content)
        fields[f"{key}_chars"] = length
        fields[f"{key}_sha256"] = sha256
        if preview_chars > 0:
            fields[f"{key}_preview"] = preview(content, preview_chars)
    return fields


def level_and_message(recorded: RecordedCall, success_level: int = logging.INFO) -> tuple[int, str]:
    """`success_level` (info; debug for the mock's simulated calls) for a successful call,
    warning for a failed one."""
    if recorded.error_type is not None:
        return logging.WARNING, "llm call failed"
    return success_level, "llm call completed"


def log_call(recorded: RecordedCall, *, trace_kept: bool, preview_chars: int = 0,
             success_level: int = logging.INFO) -> None:
    """The call's line, through Python logging (the service's handlers: the JSON line on stdout)."""
    level, message = level_and_message(recorded, success_level)
    if not log.isEnabledFor(level):
        return
    fields = call_fields(recorded, trace_kept=trace_kept, preview_chars=preview_chars)
    log.log(level, message, extra=fields)


def otlp_call_record(recorded: RecordedCall, trace_kept: bool, preview_chars: int, time_ns: int,
                     resource: Resource, scope: InstrumentationScope,
                     success_level: int = logging.INFO) -> list[ReadableLogRecord]:
    """The call's line as an OTLP log record, the same one the `llm_exporter` OTLP handler makes
    of the Python log record (built on the export worker thread, from the recorded call)."""
    from .otlp_logs import otlp_record  # needs the `tracing` extra, loaded with the OTLP exporter

    level, message = level_and_message(recorded, success_level)
    fields = call_fields(recorded, trace_kept=trace_kept, preview_chars=preview_chars)
    return [otlp_record(CALL_LOGGER, level, message, fields, time_ns, None, resource, scope)]
