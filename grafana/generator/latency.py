"""Latency: how long do calls take per model, where is the time spent, and which calls were slow?"""

from __future__ import annotations

from . import common as c
from .builder import HIDDEN_COLUMNS, Dashboard, PromQuery, heatmap, override, stat, table, timeseries

S = c.SEL_CALL
DURATION = f"llm_request_duration_seconds_bucket{{{S}}}"
TTFT = f"llm_time_to_first_token_seconds_bucket{{{S}}}"
TPOT = f"llm_time_per_output_token_seconds_bucket{{{S}}}"


def quantile(q: float, buckets: str, by: str = "model") -> str:
    return c.quantile(q, buckets, by)


def build() -> Dashboard:
    p95_line = {"thresholds": c.upper(c.LATENCY_P95_MAX), "threshold_style": "line"}
    ttft_line = {"thresholds": c.upper(c.TTFT_P95_MAX), "threshold_style": "line"}
    panels = [
        stat("P50 latency", PromQuery(quantile(0.5, DURATION, "")), unit="s", decimals=2, w=6),
        stat("P95 latency", PromQuery(quantile(0.95, DURATION, "")), unit="s", decimals=1, w=6,
             thresholds=c.upper(c.LATENCY_P95_MAX),
             description=f"All selected calls. LLMLatencyP95High fires per model above {c.LATENCY_P95_MAX:g} s."),
        stat("P95 time to first token", PromQuery(quantile(0.95, TTFT, "")), unit="s", decimals=2, w=6,
             thresholds=c.upper(c.TTFT_P95_MAX),
             description=f"LLMTimeToFirstTokenP95High fires per model above {c.TTFT_P95_MAX:g} s."),
        stat("In-flight calls", PromQuery(f"sum(llm_active_requests{{{c.SEL_MODEL}}})"), unit="none", decimals=0,
             w=6, description="Calls started and not finished yet (no app label on this gauge)."),

        timeseries("P50 end-to-end latency by model", PromQuery(quantile(0.5, DURATION), legend="{{model}}"),
                   unit="s", decimals=2, w=8),
        timeseries("P95 end-to-end latency by model", PromQuery(quantile(0.95, DURATION), legend="{{model}}"),
                   unit="s", decimals=1, w=8, **p95_line,
                   description=f"Dashed line: the LLMLatencyP95High threshold ({c.LATENCY_P95_MAX:g} s)."),
        timeseries("P99 end-to-end latency by model", PromQuery(quantile(0.99, DURATION), legend="{{model}}"),
                   unit="s", decimals=1, w=8),

        timeseries("P95 time to first token by model", PromQuery(quantile(0.95, TTFT), legend="{{model}}"),
                   unit="s", decimals=2, w=8, **ttft_line,
                   description="Streamed calls only. Line: the LLMTimeToFirstTokenP95High threshold."),
        timeseries("P50 time to first token by model", PromQuery(quantile(0.5, TTFT), legend="{{model}}"),
                   unit="s", decimals=2, w=8),
        timeseries("Time per output token by model (P50, P95)",
                   PromQuery(quantile(0.5, TPOT), legend="P50 {{model}}"),
                   PromQuery(quantile(0.95, TPOT), legend="P95 {{model}}"),
                   unit="s", decimals=3, w=8,
                   description="Mean time per output token after the first (successful streamed calls)."),

        heatmap("End-to-end latency distribution", PromQuery(
            f"sum by (le) (increase({DURATION}[$__rate_interval]))", legend="{{le}}", format="heatmap",
            exemplar=True), unit="s", w=12, h=10,
            description="Calls per latency bucket. Exemplar dots carry a trace_id: click one to open the trace "
                        "in Tempo."),
        heatmap("Time to first token distribution", PromQuery(
            f"sum by (le) (increase({TTFT}[$__rate_interval]))", legend="{{le}}", format="heatmap",
            exemplar=True), unit="s", w=12, h=10,
            description="Streamed calls per TTFT bucket; exemplars open the trace."),

        table("Latency by model, last 5 minutes",
              PromQuery(quantile(0.5, DURATION), instant=True, format="table"),
              PromQuery(quantile(0.95, DURATION), instant=True, format="table"),
              PromQuery(quantile(0.99, DURATION), instant=True, format="table"),
              PromQuery(quantile(0.95, TTFT), instant=True, format="table"),
              unit="s", decimals=2, w=14, h=8, sort_by="P95",
              thresholds=c.upper(c.LATENCY_P95_MAX),
              transformations=[
                  {"id": "merge", "options": {}},
                  {"id": "organize", "options": {
                      "excludeByName": HIDDEN_COLUMNS,
                      "renameByName": {"model": "Model", "Value #A": "P50", "Value #B": "P95", "Value #C": "P99",
                                       "Value #D": "P95 TTFT"}}},
              ],
              overrides=[
                  override("byName", "P95", {"custom.cellOptions": {"type": "color-text"}}),
                  override("byName", "P95 TTFT", {"thresholds": c.upper(c.TTFT_P95_MAX),
                                                  "custom.cellOptions": {"type": "color-text"}}),
              ]),
        timeseries("Mean latency by model", PromQuery(
            c.ratio(f"sum by (model) (rate(llm_request_duration_seconds_sum{{{S}}}[5m]))",
                    f"sum by (model) (rate(llm_request_duration_seconds_count{{{S}}}[5m]))"), legend="{{model}}"),
            unit="s", decimals=2, w=10, h=8),
    ]
    return Dashboard(
        c.LATENCY, "LLM Latency",
        "End-to-end latency, time to first token and time per output token per model, with exemplars "
        "linking slow calls to their traces.",
        panels, c.variables("app_id", "model"), tags=["latency"],
    )
