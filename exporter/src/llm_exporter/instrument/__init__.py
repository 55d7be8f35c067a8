"""Instrument your own Python service: the same metrics (and, with telemetry, spans and logs) that
the exporter produces, recorded in-process through the same `Recorder`.

    from llm_exporter.instrument import instrument_openai, start_metrics_server, track_llm_call

Importing this package starts nothing and needs neither the exporter service nor openai.
"""

from ..telemetry.context import TraceContext, mint_trace_context
from ._state import configure, flush_telemetry, get_recorder
from .errors import classify_exception, classify_http
from .exposition import metrics_asgi_app, mount_metrics, render_metrics, start_metrics_server
from .openai_client import instrument_openai
from .providers import provider_from_url
from .track import track_llm_call
from .tracker import CallTracker

__all__ = [
    "CallTracker",
    "TraceContext",
    "classify_exception",
    "classify_http",
    "configure",
    "flush_telemetry",
    "get_recorder",
    "instrument_openai",
    "metrics_asgi_app",
    "mint_trace_context",
    "mount_metrics",
    "provider_from_url",
    "render_metrics",
    "start_metrics_server",
    "track_llm_call",
]
