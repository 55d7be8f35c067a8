"""Overview: is the LLM fleet healthy right now, and where should I look next?"""

from __future__ import annotations

from llm_exporter import contract
from prometheus.generator import config as cfg
from prometheus.generator import recording

from . import common as c
from .builder import (
    NON_NEGATIVE,
    PROMETHEUS_NAME,
    RATIO,
    Dashboard,
    PromQuery,
    alertlist,
    bargauge,
    gauge,
    stat,
    thresholds,
    timeseries,
)

F = c.SEL_FULL
REQUESTS = f"sum({recording.requests_rate('5m')}{{{F}}})"
ERRORS = f"sum({recording.errors_rate('5m')}{{{F}}})"
TOKENS = f"{recording.tokens('rate', '5m')}{{{F}}}"
GPU_UTILIZATION = recording.GPU_SIGNALS["utilization"]


def build() -> Dashboard:
    panels = [
        stat("Requests / s", PromQuery(REQUESTS), unit="reqps", decimals=2,
             description="LLM calls completed per second (5-minute rate).",
             links=c.to(c.ERRORS, "Errors and quality")),
        stat("Error ratio", PromQuery(c.ratio(ERRORS, REQUESTS)), unit="percentunit", decimals=2,
             thresholds=c.upper(c.ERROR_RATIO_MAX),
             description=f"Failed over all calls, last 5 minutes. Red from the default objective "
                         f"({c.ERROR_RATIO_MAX:.0%}); LLMErrorRatioHigh fires per app and model above its own.",
             links=c.to(c.ERRORS, "Errors and quality")),
        stat("P95 latency", PromQuery(c.quantile(0.95, contract.DURATION)),
            unit="s", decimals=1, thresholds=c.upper(c.LATENCY_P95_MAX),
            description=f"End-to-end, last 5 minutes, the slowest selected source. Red from the default objective "
                        f"({c.LATENCY_P95_MAX:g} s; LLMLatencyP95High uses each app and model's own).",
            links=c.to(c.LATENCY, "Latency")),
        stat("P95 time to first token", PromQuery(c.quantile(0.95, contract.TTFT)),
            unit="s", decimals=2, thresholds=c.upper(c.TTFT_P95_MAX),
            description=f"Streamed calls, last 5 minutes. Red from the default objective ({c.TTFT_P95_MAX:g} s; "
                        "LLMTimeToFirstTokenP95High uses each app and model's own).", links=c.to(c.LATENCY, "Latency")),
        stat("Tokens / s", PromQuery(f"sum({TOKENS})"), unit="short", decimals=0,
             description="Input and output tokens billed per second (5-minute rate).",
             links=c.to(c.COST, "Cost and budgets")),
        stat("Firing alerts", PromQuery('count(ALERTS{alertstate="firing"}) or vector(0)'), unit="none",
             decimals=0, graph=False, color_mode="background", thresholds=thresholds("green", (1, "red")),
             description="Prometheus alerts firing now (all of them, whatever the variables)."),

        stat("Spend, last 24 h", PromQuery(f"sum({recording.cost('increase', '1d')}{{{F}}})"), unit="currencyUSD",
             decimals=0, w=6, h=6, description="Rolling 24 hours, the window the daily-budget alerts use.",
             links=c.to(c.COST, "Cost and budgets")),
        bargauge("Daily budget used, last 24 h",
                 PromQuery(f"department:llm_budget_daily_usage:ratio{{{c.SEL_DEPT}}}", legend="{{department}}"),
                 unit="percentunit", decimals=0, min=0, max=1, bounds=NON_NEGATIVE, w=6, h=6,
                 thresholds=c.upper(c.BUDGET_CRITICAL, c.BUDGET_WARNING),
                 description=f"Spend over the daily budget per department: orange from {c.BUDGET_WARNING:.0%}, "
                             f"red from {c.BUDGET_CRITICAL:.0%} (the two daily-budget alerts).",
                 links=c.to(c.COST, "Cost and budgets")),
        stat("Lowest quality score", PromQuery(f"min(app:llm_quality_score:min{{{c.SEL_APP}}})"), unit="none",
             decimals=2, min=0, max=5, bounds=(0, 5), w=6, h=6, thresholds=c.lower(c.QUALITY_MIN),
             description=f"Rolling 0-5 score of the worst app. Red below {c.QUALITY_MIN:g} (LLMQualityScoreLow).",
             links=c.to(c.ERRORS, "Errors and quality")),
        gauge("GPU utilisation", PromQuery(f"avg({GPU_UTILIZATION})"), unit="percentunit", decimals=0,
              min=0, max=1, w=6, h=6, thresholds=c.lower(c.GPU_UTILIZATION_MIN, "orange"),
              description=f"Mean over the self-hosted GPUs. Orange below {c.GPU_UTILIZATION_MIN:.0%} "
                          "(LLMGPUUnderutilized, per GPU).", links=c.to(c.GPU, "GPU")),

        timeseries("Traffic by model", PromQuery(f"sum by (model) (app_model:llm_requests:rate5m{{{F}}})",
                                                 legend="{{model}}"),
                   unit="reqps", decimals=2, stack=True, w=8),
        timeseries("Error ratio by model", PromQuery(c.ratio(
            f"sum by (model) (app_model:llm_request_errors:rate5m{{{F}}})",
            f"sum by (model) (app_model:llm_requests:rate5m{{{F}}})"), legend="{{model}}"),
            c.objective_line(cfg.ERROR_RATIO_OBJECTIVE, "model", c.SEL_CALL), overrides=[c.OBJECTIVE_STYLE],
            unit="percentunit", decimals=1, w=8, links=c.to(c.ERRORS, "Errors and quality"),
            description="Dashed: each model's error-ratio objective."),
        timeseries("P95 latency by model", PromQuery(c.quantile(0.95, contract.DURATION, "model"), legend="{{model}}"),
            c.objective_line(cfg.LATENCY_OBJECTIVE, "model", c.SEL_CALL), overrides=[c.OBJECTIVE_STYLE],
            unit="s", decimals=1, w=8, links=c.to(c.LATENCY, "Latency"),
            description="Dashed: each model's latency objective."),
        timeseries("Tokens / s by direction", PromQuery(f"sum by (direction) ({TOKENS})", legend="{{direction}}"),
            unit="short", decimals=0, stack=True, w=8),
        timeseries("Spend by department ($/h)", PromQuery(
            f"sum by (department) (department:llm_cost_usd:rate5m{{{c.SEL_DEPT}}}) * 3600", legend="{{department}}"),
            unit="currencyUSD", decimals=2, stack=True, w=8, links=c.to(c.COST, "Cost and budgets")),
        timeseries("GPU utilisation", PromQuery(GPU_UTILIZATION, legend="GPU {{gpu}} ({{instance}})"),
                   unit="percentunit", decimals=0, min=0, max=1, w=8, bounds=RATIO,
                   thresholds=c.lower(c.GPU_UTILIZATION_MIN, "orange"), threshold_style="line",
                   links=c.to(c.GPU, "GPU")),
        timeseries("Calls by source and layer", PromQuery(
            f"sum by (source, layer) ({recording.requests_rate('5m', 'source_app_model')}{{{F}}})",
            legend="{{source}} ({{layer}})"), unit="reqps", decimals=2, w=12,
            description="Every layer that reports calls, before counting each model once: the app (client), a "
                        "gateway (LiteLLM, the metering proxy) and the engine (vLLM, SGLang, TGI, NIM) may all see "
                        "the same call. Totals elsewhere count each model at its outermost layer."),
        alertlist("Alerts firing or pending", datasource_name=PROMETHEUS_NAME, w=12, h=8,
                  description="Alerting rules evaluated by Prometheus (routed by Alertmanager)."),
    ]
    return Dashboard(
        c.OVERVIEW, "LLM Overview",
        "Traffic, errors, latency, tokens, spend, quality and GPUs of the whole LLM fleet at a glance, from every "
        "source (this project's exporter and library, OpenTelemetry GenAI, LiteLLM, vLLM, SGLang, TGI, NIM).",
        panels, c.variables("source", "department", "app_id", "model"), tags=["overview"],
    )
