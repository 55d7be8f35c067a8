"""W3C trace context for one LLM call: the ids put on the LLMCall (exemplars, spans, logs) and the
`traceparent` sent upstream.

The single place the instrument library and the proxy get trace ids from: the telemetry
package's minting function (`llm_exporter.telemetry.context`), so instrumented calls, proxied
calls and the telemetry listener agree on what the ids mean.
"""

from __future__ import annotations

from ..telemetry.context import TraceContext, mint_trace_context, parse_traceparent

__all__ = ["TraceContext", "mint_trace_context", "parse_traceparent"]
