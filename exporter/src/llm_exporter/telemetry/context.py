"""Trace identity of one LLM call, minted before the call so it can be propagated upstream.

The ids on an `LLMCall` mean:
- `trace_id`: the trace (32 lowercase hex), shared by the exemplar, the log lines and the spans;
- `span_id`: the span of the LLM call itself, the "{operation} {model}" client span (16 hex).
  This is the span a `traceparent` sent to the provider names as parent, and the span_id on the
  call's log line;
- `extra["parent_span_id"]`: the caller's span when the trace was continued from an incoming
  `traceparent` header or the application's active OpenTelemetry span; `extra["parent_sampled"]`
  its sampled flag (a sampled parent keeps this call's spans too).

A proxy mints a context per request, sends `ctx.traceparent` upstream, and records the call with
`ctx.apply(call)` (or the same ids by hand); everything downstream of `Recorder.record` uses them.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from random import getrandbits
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ..recorder import LLMCall

_TRACEPARENT = re.compile(r"^([0-9a-f]{2})-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})(-.*)?$")
_TRACE_ID = re.compile(r"^[0-9a-f]{32}$")
_SPAN_ID = re.compile(r"^[0-9a-f]{16}$")
ZERO_TRACE_ID = "0" * 32
ZERO_SPAN_ID = "0" * 16


def valid_trace_id(value: object) -> bool:
    return isinstance(value, str) and bool(_TRACE_ID.match(value)) and value != ZERO_TRACE_ID


def valid_span_id(value: object) -> bool:
    return isinstance(value, str) and bool(_SPAN_ID.match(value)) and value != ZERO_SPAN_ID


# Ids are random numbers from Python's generator, as the OpenTelemetry SDK's RandomIdGenerator makes
# them: seeded from the OS at start (and again in a forked child), and drawn without a system call.
# os.urandom would release the GIL on every call and hand it to whatever thread waits for it
# (the export workers), which costs the calling thread far more than the draw itself.


def new_trace_id() -> str:
    """32 lowercase hex digits, random, never all zero (W3C Trace Context)."""
    while True:
        value = getrandbits(128)
        if value:
            return f"{value:032x}"


def new_span_id() -> str:
    """16 lowercase hex digits, random, never all zero."""
    while True:
        value = getrandbits(64)
        if value:
            return f"{value:016x}"


def derived_span_id(trace_id: str, span_id: str, role: str) -> str:
    """A stable span id for a span around or beside the call's own span (the request root,
    retrieval, tool): the same call always yields the same tree, with no ids to carry around."""
    value = hashlib.blake2b(f"{trace_id}/{span_id}/{role}".encode(), digest_size=8).hexdigest()
    return value if value != ZERO_SPAN_ID else "0" * 15 + "1"


def parse_traceparent(value: str | None) -> tuple[str, str, bool] | None:
    """(trace_id, parent span_id, sampled) from a W3C `traceparent` header, or None if invalid."""
    if not value or not isinstance(value, str):
        return None
    match = _TRACEPARENT.match(value.strip().lower())
    if match is None:
        return None
    version, trace_id, span_id, flags, rest = match.groups()
    if version == "ff" or (version == "00" and rest) or trace_id == ZERO_TRACE_ID or span_id == ZERO_SPAN_ID:
        return None
    return trace_id, span_id, bool(int(flags, 16) & 1)


@dataclass(frozen=True, slots=True)
class TraceContext:
    """The ids of one LLM call; see the module docstring for their meaning."""

    trace_id: str
    span_id: str
    parent_span_id: str | None = None
    sampled: bool = True

    @property
    def traceparent(self) -> str:
        """W3C `traceparent` naming this call's span as parent: send it to the provider."""
        return f"00-{self.trace_id}-{self.span_id}-{'01' if self.sampled else '00'}"

    def apply(self, call: LLMCall) -> LLMCall:
        """Put these ids on `call` (trace_id, span_id and the parent in `extra`); returns it."""
        call.trace_id = self.trace_id
        call.span_id = self.span_id
        if self.parent_span_id:
            call.extra["parent_span_id"] = self.parent_span_id
            call.extra["parent_sampled"] = self.sampled
        return call


_otel: Any = None  # see _otel_api


def _otel_api() -> Any:
    """(opentelemetry.context.get_current, opentelemetry.trace.get_current_span), or () without
    the OpenTelemetry API (then no span can be active)."""
    try:
        from opentelemetry.context import get_current
        from opentelemetry.trace import get_current_span
    except ImportError:
        return ()
    return get_current, get_current_span


def _current_otel_parent() -> tuple[str, str, bool] | None:
    """The application's active OpenTelemetry span, if it has one. An empty OpenTelemetry context
    (no span, no baggage: a service that does not trace) is answered with one look-up."""
    global _otel
    if _otel is None:  # imported on first use only
        _otel = _otel_api()
    if not _otel:
        return None
    get_current, get_current_span = _otel
    if not get_current():
        return None
    context = get_current_span().get_span_context()
    if not context.is_valid:
        return None
    return f"{context.trace_id:032x}", f"{context.span_id:016x}", bool(context.trace_flags & 1)


def mint_trace_context(traceparent: str | None = None, *, use_current_span: bool = True) -> TraceContext:
    """A new span id for one LLM call, continuing `traceparent` (an incoming header) when it is
    valid, else the active OpenTelemetry span when `use_current_span`, else a new trace."""
    parent = parse_traceparent(traceparent) if traceparent else None
    if parent is None and use_current_span:
        parent = _current_otel_parent()
    if parent is None:
        ids = f"{getrandbits(192):048x}"  # one draw for both ids of a new trace
        if ids[:32] != ZERO_TRACE_ID and ids[32:] != ZERO_SPAN_ID:
            return TraceContext(ids[:32], ids[32:])
        return TraceContext(new_trace_id(), new_span_id())
    trace_id, parent_span_id, sampled = parent
    return TraceContext(trace_id, new_span_id(), parent_span_id, sampled)
