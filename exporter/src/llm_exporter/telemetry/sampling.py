"""Which calls keep their trace: every failed call, every slow call, every call whose caller's
trace is sampled, and a fixed fraction of the rest chosen by trace id.

The decision is taken in `Recorder.record` before the histograms are updated, so an exemplar
is only attached when its trace is kept: a click on an exemplar always finds a trace.
The fraction is decided from the trace id alone (like OpenTelemetry's TraceIdRatioBased), so
every service sampling the same trace id the same way agrees on it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import new_span_id, new_trace_id, valid_span_id, valid_trace_id

if TYPE_CHECKING:
    from ..recorder import LLMCall

_ID_SPACE = 1 << 64


class TracePolicy:
    """Called by the Recorder with each call: normalises its ids and says whether to keep it."""

    def __init__(self, ratio: float, slow_seconds: float) -> None:
        if not 0.0 <= ratio <= 1.0:
            raise ValueError(f"trace sample ratio must be between 0 and 1, got {ratio}")
        if slow_seconds < 0:
            raise ValueError(f"slow-call threshold must be >= 0 seconds, got {slow_seconds}")
        self.ratio = ratio
        self.slow_seconds = slow_seconds
        self._bound = round(ratio * _ID_SPACE)

    @staticmethod
    def ensure_ids(call: LLMCall) -> None:
        """Give a call without usable ids fresh ones, so its log line and spans still join up."""
        trace_id = call.trace_id.lower() if isinstance(call.trace_id, str) else None
        if not valid_trace_id(trace_id):
            call.trace_id = new_trace_id()
            call.span_id = new_span_id()
            call.extra.pop("parent_span_id", None)
            call.extra.pop("parent_sampled", None)
            return
        call.trace_id = trace_id
        span_id = call.span_id.lower() if isinstance(call.span_id, str) else None
        call.span_id = span_id if valid_span_id(span_id) else new_span_id()

    def ratio_keeps(self, trace_id: str) -> bool:
        return int(trace_id[16:], 16) < self._bound

    def __call__(self, call: LLMCall) -> bool:
        self.ensure_ids(call)
        if call.error_type is not None or call.duration_s >= self.slow_seconds:
            return True
        if call.extra.get("parent_sampled") is True:
            return True
        return self.ratio_keeps(call.trace_id)  # type: ignore[arg-type]
