"""Latency: how long do calls take per model, where is the time spent, and which calls were slow?"""

from __future__ import annotations

from llm_exporter import contract
from prometheus.generator import config as cfg
from prometheus.generator import recording

from . import common as c
from .builder import HIDDEN_COLUMNS, Dashboard, PromQuery, heatmap, override, stat, table, timeseries

S = c.SEL_CALL
DURATION, TTFT, TPOT = contract.DURATION, contract.TTFT, contract.TPOT


def quantile(q: float, spec: contract.MetricSpec, by: str = "model") -> str:
    return c.quantile(q, spec, by)


def _by_model(title: str, q: float, spec: contract.MetricSpec, objective: cfg.Objective | None, **kw) -> object:
    """A per-model quantile panel; with `objective`, each model's objective as a dashed line."""
    queries = [PromQuery(quantile(q, spec), legend="{{model}}")]
    if objective is not None:
        queries.append(c.objective_line(objective, "model", S, where=c.observed(spec, "model", S)))
        kw.setdefault("overrides", []).append(c.OBJECTIVE_STYLE)
    return timeseries(title, *queries, **kw)


def build() -> Dashboard:
    objective_note = ("Dashed: each model's objective (the strictest among the selected apps, from the "
                      "objectives file); {alert} fires per app and model above it.")
    panels = [
        stat("P50 latency", PromQuery(quantile(0.5, DURATION, "")), unit="s", decimals=2, w=6),
        stat("P95 latency", PromQuery(quantile(0.95, DURATION, "")), unit="s", decimals=1, w=6,
             thresholds=c.upper(c.LATENCY_P95_MAX),
             description=f"All selected calls. Red from the default objective ({c.LATENCY_P95_MAX:g} s); "
                         "LLMLatencyP95High fires per app and model above its own objective."),
        stat("P95 time to first token", PromQuery(quantile(0.95, TTFT, "")), unit="s", decimals=2, w=6,
             thresholds=c.upper(c.TTFT_P95_MAX),
             description=f"Red from the default objective ({c.TTFT_P95_MAX:g} s); LLMTimeToFirstTokenP95High "
                         "fires per app and model above its own objective."),
        stat("In-flight calls", PromQuery(f"sum({recording.ENGINE_GAUGES['running'][0]}{{{c.SEL_MODEL}}})"),
             unit="none", decimals=0, w=6,
             description="Calls started and not finished yet, as each source counts them (engines: running "
                         "requests); no app label on these gauges."),

        _by_model("P50 end-to-end latency by model", 0.5, DURATION, None, unit="s", decimals=2, w=8),
        _by_model("P95 end-to-end latency by model", 0.95, DURATION, cfg.LATENCY_OBJECTIVE, unit="s", decimals=1,
                  w=8, description=objective_note.format(alert="LLMLatencyP95High")),
        _by_model("P99 end-to-end latency by model", 0.99, DURATION, None, unit="s", decimals=1, w=8),

        _by_model("P95 time to first token by model", 0.95, TTFT, cfg.TTFT_OBJECTIVE, unit="s", decimals=2, w=8,
                  description="Streamed calls only. " + objective_note.format(alert="LLMTimeToFirstTokenP95High")),
        _by_model("P50 time to first token by model", 0.5, TTFT, None, unit="s", decimals=2, w=8),
        _by_model("P95 time per output token by model", 0.95, TPOT, cfg.TPOT_OBJECTIVE, unit="s", decimals=3, w=8,
                  description="Mean time per output token after the first (successful streamed calls). "
                              + objective_note.format(alert="LLMTimePerOutputTokenP95High")),

        heatmap("End-to-end latency distribution", c.distribution(DURATION), unit="s", w=12, h=10,
                description="Calls per latency bucket, from this project's exporter and library (the series that "
                            "carry exemplars), in cells of a minute or more. Exemplar dots carry a trace_id: click "
                            "one to open the trace in Tempo."),
        heatmap("Time to first token distribution", c.distribution(TTFT), unit="s", w=12, h=10,
                description="Streamed calls per TTFT bucket, in cells of a minute or more; exemplars open the trace."),

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
            c.own(c.ratio(f"sum by (model) (rate(llm_request_duration_seconds_sum{{{c.SEL_OWN}}}[5m]))",
                          f"sum by (model) (rate(llm_request_duration_seconds_count{{{c.SEL_OWN}}}[5m]))")),
            legend="{{model}}"),
            unit="s", decimals=2, w=10, h=8, description="This project's exporter and library (the other sources' "
                                                          "quantiles are in the panels above)."),
    ]
    return Dashboard(
        c.LATENCY, "LLM Latency",
        "End-to-end latency, time to first token and time per output token per model, with exemplars "
        "linking slow calls to their traces.",
        panels, c.variables("source", "app_id", "model"), tags=["latency"],
    )
