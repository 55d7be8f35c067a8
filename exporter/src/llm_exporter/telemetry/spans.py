"""The span tree of one recorded LLM call, built with the call's own ids and real times.

Spans are built after the fact from the `RecordedCall` (the call has ended when it is recorded),
as OpenTelemetry SDK `ReadableSpan`s with explicit ids, parents and timestamps, on the export
worker thread of the bounded OTLP span queue (the calling thread queues the recorded call).
Tree (GenAI semantic conventions for the LLM span):

    llm_request                    SERVER  the request; only when the call starts the trace
    ├── retrieval                  INTERNAL  when the call reports extra["retrieval_s"] (mock RAG apps)
    ├── execute_tool {tool}        INTERNAL  when the call reports extra["tool"] (mock agents)
    └── {operation} {model}        CLIENT  the LLM call itself: span_id = call.span_id

Retrieval and the tool run before the LLM call (the model answers with their results), so the
root starts `retrieval_s + tool_s` before the LLM call and ends with it. When the call continues
a caller's trace (extra["parent_span_id"]), the caller's span is the parent and no root is made.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING

from ..extras import MissingExtraError

try:
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import Event, ReadableSpan
    from opentelemetry.sdk.util.instrumentation import InstrumentationScope
    from opentelemetry.trace import SpanContext, SpanKind, Status, StatusCode, TraceFlags
except ImportError as exc:  # the core install: OpenTelemetry is the `tracing` extra
    raise MissingExtraError("tracing", "span export") from exc

from .calllog import error_message
from .context import derived_span_id, valid_span_id

if TYPE_CHECKING:
    from ..recorder import RecordedCall

ROOT_NAME = "llm_request"
RETRIEVAL_NAME = "retrieval"
_NS = 1_000_000_000
_SAMPLED = TraceFlags(TraceFlags.SAMPLED)


def _context(trace_id: int, span_id: str, *, remote: bool = False) -> SpanContext:
    return SpanContext(trace_id, int(span_id, 16), is_remote=remote, trace_flags=_SAMPLED)


def _seconds(extra: Mapping[str, object], key: str) -> float:
    value = extra.get(key)
    if isinstance(value, int | float) and not isinstance(value, bool) and 0 < value < 3600:
        return float(value)
    return 0.0


def _caller_span(extra: Mapping[str, object]) -> str | None:
    """The caller's span id when the call continues a caller's trace (then no root is made)."""
    parent_id = extra.get("parent_span_id")
    if isinstance(parent_id, str) and valid_span_id(parent_id.lower()):
        return parent_id.lower()
    return None


def _before_llm(extra: Mapping[str, object]) -> tuple[int, str | None, int]:
    """(retrieval ns, tool name, tool ns) of the work done before the LLM call (0 / None: none)."""
    retrieval_ns = round(_seconds(extra, "retrieval_s") * _NS)
    tool = extra.get("tool") if isinstance(extra.get("tool"), str) else None
    tool_ns = round(_seconds(extra, "tool_s") * _NS) if tool else 0
    return retrieval_ns, tool, tool_ns  # type: ignore[return-value]


def span_count(recorded: RecordedCall) -> int:
    """How many spans `build_spans` makes of this call (cheap: what the export queue counts)."""
    extra = recorded.call.extra
    if not extra:
        return 2  # the LLM span and the root
    retrieval_ns, _, tool_ns = _before_llm(extra)
    return 1 + (_caller_span(extra) is None) + (retrieval_ns > 0) + (tool_ns > 0)


def build_spans(recorded: RecordedCall, end_ns: int, resource: Resource,
                scope: InstrumentationScope) -> list[ReadableSpan]:
    """All spans of one call (root last), ending at `end_ns`."""
    call = recorded.call
    extra = call.extra
    trace_id = int(call.trace_id, 16)  # type: ignore[arg-type]  # ids were normalised by TracePolicy
    llm_start = end_ns - round(max(call.duration_s, 0.0) * _NS)
    retrieval_ns, tool, tool_ns = _before_llm(extra)
    root_start = llm_start - retrieval_ns - tool_ns
    failed = recorded.error_type is not None
    common: dict[str, object] = {"app_id": recorded.app_id, "department": recorded.department}
    if call.request_id:
        common["request_id"] = str(call.request_id)

    parent_id = _caller_span(extra)
    if parent_id is not None:
        parent = _context(trace_id, parent_id, remote=True)
        root_span = None
    else:
        root_id = derived_span_id(call.trace_id, call.span_id, ROOT_NAME)  # type: ignore[arg-type]
        root_attributes = dict(common)
        if failed:
            root_attributes["error.type"] = recorded.error_type
        root_span = ReadableSpan(
            ROOT_NAME, context=_context(trace_id, root_id), parent=None, resource=resource,
            attributes=root_attributes, kind=SpanKind.SERVER, instrumentation_scope=scope,
            status=Status(StatusCode.ERROR, recorded.error_type) if failed else Status(StatusCode.UNSET),
            start_time=root_start, end_time=end_ns,
        )
        parent = root_span.context

    spans: list[ReadableSpan] = []
    cursor = root_start
    if retrieval_ns:
        attributes = dict(common)
        documents = extra.get("retrieval_documents")
        if isinstance(documents, int):
            attributes["retrieval.documents"] = documents
        spans.append(ReadableSpan(
            RETRIEVAL_NAME, context=_context(trace_id, derived_span_id(call.trace_id, call.span_id, RETRIEVAL_NAME)),
            parent=parent, resource=resource, attributes=attributes, kind=SpanKind.INTERNAL,
            instrumentation_scope=scope, start_time=cursor, end_time=cursor + retrieval_ns,
        ))
        cursor += retrieval_ns
    if tool_ns:
        attributes = {**common, "gen_ai.operation.name": "execute_tool", "gen_ai.tool.name": tool}
        spans.append(ReadableSpan(
            f"execute_tool {tool}", context=_context(trace_id, derived_span_id(call.trace_id, call.span_id, "tool")),
            parent=parent, resource=resource, attributes=attributes, kind=SpanKind.INTERNAL,
            instrumentation_scope=scope, start_time=cursor, end_time=cursor + tool_ns,
        ))

    spans.append(_llm_span(recorded, trace_id, parent, llm_start, end_ns, common, resource, scope))
    if root_span is not None:
        spans.append(root_span)
    return spans


def _llm_span(recorded: RecordedCall, trace_id: int, parent: SpanContext, start_ns: int, end_ns: int,
              common: Mapping[str, object], resource: Resource, scope: InstrumentationScope) -> ReadableSpan:
    call = recorded.call
    response_model = call.extra.get("response_model")
    attributes: dict[str, object] = {
        "gen_ai.operation.name": call.operation,
        "gen_ai.provider.name": recorded.provider,
        "gen_ai.request.model": recorded.model,
        "gen_ai.response.model": str(response_model) if response_model else recorded.model,
        "gen_ai.usage.input_tokens": call.input_tokens,
        "gen_ai.usage.output_tokens": call.output_tokens,
        "llm.streaming": call.streaming,
        **common,
    }
    if call.finish_reason:
        attributes["gen_ai.response.finish_reasons"] = (call.finish_reason,)
    if recorded.cost_usd is not None:
        attributes["llm.cost_usd"] = recorded.cost_usd
    events: list[Event] = []
    if call.ttft_s is not None:
        attributes["llm.time_to_first_token_s"] = call.ttft_s
        events.append(Event("gen_ai.first_token", {}, start_ns + round(call.ttft_s * _NS)))
    status = Status(StatusCode.UNSET)
    if recorded.error_type is not None:
        attributes["error.type"] = recorded.error_type
        message = error_message(recorded) or recorded.error_type
        events.append(Event("exception", {"exception.type": recorded.error_type, "exception.message": message},
                            end_ns))
        status = Status(StatusCode.ERROR, message)
    return ReadableSpan(
        f"{call.operation} {recorded.model}", context=_context(trace_id, call.span_id),  # type: ignore[arg-type]
        parent=parent, resource=resource, attributes=attributes, events=events, kind=SpanKind.CLIENT,
        instrumentation_scope=scope, status=status, start_time=start_ns, end_time=end_ns,
    )
