"""Logs and traces: structured call logs, GenAI-convention spans, bounded OTLP/HTTP export.

Public API for code that records calls (proxy, instrumentation):

- `mint_trace_context(traceparent=None)` -> `TraceContext` with `trace_id`, `span_id` (the LLM
  call's span), `parent_span_id`, `sampled`, `.traceparent` (send upstream) and `.apply(call)`;
- `parse_traceparent(header)`;
- `redact(text)`, `digest(content)`, `preview(content, n)`.
"""

from .context import TraceContext, mint_trace_context, parse_traceparent
from .redact import digest, preview, redact

__all__ = ["TraceContext", "digest", "mint_trace_context", "parse_traceparent", "preview", "redact"]
