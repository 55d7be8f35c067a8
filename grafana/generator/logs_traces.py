"""Logs and traces: what happened in one call? Logs with trace links; failed, slow and costly traces."""

from __future__ import annotations

from . import common as c
from .builder import Dashboard, LogQuery, TraceQuery, logs, text, timeseries, traces_table

# Loki: the exporter's OTLP logs arrive with the stream label service_name; record attributes
# (app_id, model, department, ...) and severity_text, trace_id, span_id are structured metadata.
STREAM = f'{{service_name="{c.SERVICE_NAME}"}}'
FILTERS = '| app_id=~"$app_id" | model=~"$model" | department=~"$department"'

# Tempo: the LLM call is the CLIENT span "{operation} {model}" with gen_ai.* attributes and the
# caller's app_id / department; the root SERVER span "llm_request" wraps retrieval and tools.
CALL_SPAN = (f'resource.service.name="{c.SERVICE_NAME}" && kind=client && span.app_id=~"$app_id" '
             '&& span.gen_ai.request.model=~"$model" && span.department=~"$department"')
COLUMNS = "span.gen_ai.request.model, span.app_id, span.error.type, span.llm.cost_usd"


def build() -> Dashboard:
    slow = f"{c.LATENCY_P95_MAX:g}s"
    expensive = repr(float(c.EXPENSIVE_USD))  # a float literal: llm.cost_usd is a float attribute
    panels = [
        text("How to use", "Click a log line to open its details: **View trace** opens the call's trace in "
             "Tempo. Click a trace ID in the tables below to open the trace; from a span, *Logs for this span* "
             "goes back to Loki. Metrics panels with exemplars (Latency, Cost) open the same traces.", h=3),
        timeseries("Log lines by level", LogQuery(
            f"sum by (severity_text) (count_over_time({STREAM} {FILTERS} [$__auto]))"),
            unit="short", decimals=0, stack=True, draw="bars", fill=80, w=24, h=6),
        logs("Exporter logs", LogQuery(f"{STREAM} {FILTERS}"), w=24, h=12,
             description="One line per recorded call (info when it succeeded, warning when it failed; the mock "
                         "fleet's successful calls are simulated and logged at debug) plus the exporter's own "
                         "messages."),
        logs("Failed calls", LogQuery(f'{STREAM} {FILTERS} | severity_text=~"WARN|ERROR|FATAL"'), w=24, h=10),
        traces_table("Recent failed calls", TraceQuery(
            f"{{{CALL_SPAN} && status=error}} | select({COLUMNS})"), w=12, h=10),
        traces_table(f"Slow calls (over {slow}, the P95 latency alert threshold)", TraceQuery(
            f"{{{CALL_SPAN} && duration > {slow}}} | select({COLUMNS})"), w=12, h=10),
        traces_table(f"Most expensive calls (over ${c.EXPENSIVE_USD:g})", TraceQuery(
            f"{{{CALL_SPAN} && span.llm.cost_usd > {expensive}}} | select({COLUMNS})"), w=24, h=10),
    ]
    return Dashboard(
        c.LOGS_TRACES, "LLM Logs and traces",
        "The exporter's logs in Loki with links to their traces, and TraceQL searches for failed, slow and "
        "expensive calls in Tempo.",
        panels, c.variables("department", "app_id", "model"), tags=["logs", "traces"], time_from="now-30m",
    )
