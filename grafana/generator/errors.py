"""Errors and quality: which calls fail and why, and are the answers still good?"""

from __future__ import annotations

from prometheus.generator import config as cfg

from . import common as c
from .builder import Dashboard, PromQuery, bargauge, stat, timeseries

F = c.SEL_FULL
A = c.SEL_APP


def error_ratio(by: str = "") -> str:
    group = f" by ({by})" if by else ""
    return c.ratio(f"sum{group} (app_model:llm_request_errors:rate5m{{{F}}})",
                   f"sum{group} (app_model:llm_requests:rate5m{{{F}}})")


NEGATIVE = c.ratio(f'sum(rate(llm_feedback_total{{rating="negative", {A}}}[1h]))',
                   f"sum(rate(llm_feedback_total{{{A}}}[1h]))")


def build() -> Dashboard:
    def objective(by: str) -> dict:
        return {"overrides": [c.OBJECTIVE_STYLE],
                "description": f"Dashed: each {by.removesuffix('_id')}'s error-ratio objective (the strictest "
                               "among the selected pairs); LLMErrorRatioHigh fires per app and model above its own."}

    panels = [
        stat("Error ratio", PromQuery(error_ratio()), unit="percentunit", decimals=2, w=5,
             thresholds=c.upper(c.ERROR_RATIO_MAX),
             description=f"Last 5 minutes. Red from the default objective ({c.ERROR_RATIO_MAX:.0%}); "
                         "LLMErrorRatioHigh fires per app and model above its own."),
        stat("Failed calls / s", PromQuery(f"sum(app_model:llm_request_errors:rate5m{{{F}}})"), unit="reqps",
             decimals=2, w=5),
        stat("Negative feedback", PromQuery(NEGATIVE), unit="percentunit", decimals=1, w=5,
             thresholds=c.upper(c.NEGATIVE_FEEDBACK_MAX),
             description=f"Share of user ratings that were negative, last hour (LLMNegativeFeedbackHigh above "
                         f"{c.NEGATIVE_FEEDBACK_MAX:.0%} per app)."),
        stat("Flagged responses / min", PromQuery(f"sum(app:llm_responses_flagged:rate5m{{{A}}}) * 60"),
             unit="none", decimals=1, w=4),
        stat("Lowest quality score", PromQuery(f"min(app:llm_quality_score:min{{{A}}})"), unit="none", decimals=2,
             min=0, max=5, bounds=(0, 5), w=5, thresholds=c.lower(c.QUALITY_MIN),
             description=f"LLMQualityScoreLow fires below {c.QUALITY_MIN:g}."),

        timeseries("Error ratio by model", PromQuery(error_ratio("model"), legend="{{model}}"),
                   c.objective_line(cfg.ERROR_RATIO_OBJECTIVE, "model", c.SEL_CALL),
                   unit="percentunit", decimals=1, w=12, **objective("model")),
        timeseries("Error ratio by app", PromQuery(error_ratio("app_id"), legend="{{app_id}}"),
                   c.objective_line(cfg.ERROR_RATIO_OBJECTIVE, "app_id", c.SEL_CALL),
                   unit="percentunit", decimals=1, w=12, **objective("app_id")),

        timeseries("Errors by type", PromQuery(
            c.own(f"sum by (error_type) (rate(llm_errors_total{{{c.SEL_OWN}}}[$__rate_interval]))"),
            legend="{{error_type}}"), unit="reqps", decimals=2, stack=True, w=12, draw="bars", fill=80,
            description="Failed calls per second by error type (no department label on this counter). This "
                        "project's exporter and library only: other sources report failures without the same "
                        "types."),
        bargauge("Errors by model and type, last hour", PromQuery(
            "sort_desc(" + c.own(f"sum by (model, error_type) (increase(llm_errors_total{{{c.SEL_OWN}}}[1h]))") + ")",
            legend="{{model}} {{error_type}}", instant=True), unit="none", decimals=0, w=12),

        timeseries("Feedback by rating", PromQuery(
            f"sum by (rating) (rate(llm_feedback_total{{{A}}}[$__rate_interval])) * 60", legend="{{rating}}"),
            unit="none", decimals=1, stack=True, w=8, description="Ratings per minute."),
        timeseries("Negative feedback share by app", PromQuery(
            f"app:llm_feedback_negative_ratio:rate1h{{{A}}}\n"
            f"  and on (job, app_id) app:llm_feedback:rate1h > 0", legend="{{app_id}}"),
            unit="percentunit", decimals=0, w=8, thresholds=c.upper(c.NEGATIVE_FEEDBACK_MAX), threshold_style="line"),
        timeseries("Quality score by app", PromQuery(f"app:llm_quality_score:min{{{A}}}", legend="{{app_id}}"),
                   unit="none", decimals=2, min=0, max=5, bounds=(0, 5), w=8, thresholds=c.lower(c.QUALITY_MIN),
                   threshold_style="line", description="Rolling (EWMA) 0-5 score of scored responses."),

        timeseries("Flagged responses by reason", PromQuery(
            f"sum by (reason) (app:llm_responses_flagged:rate5m{{{A}}}) * 60", legend="{{reason}}"),
            unit="none", decimals=2, stack=True, w=12, description="Flags per minute: hallucination, refusal, pii, "
                                                                    "toxicity."),
        timeseries("Flagged share of calls by app", PromQuery(c.ratio(
            f"sum by (app_id) (app:llm_responses_flagged:rate5m{{{A}}})",
            f"sum by (app_id) (app:llm_requests:rate5m{{{A}}})"), legend="{{app_id}}"),
            unit="percentunit", decimals=1, w=12),
    ]
    return Dashboard(
        c.ERRORS, "LLM Errors and quality",
        "Error ratio and error types over time; user feedback, flagged responses and the rolling quality score.",
        panels, c.variables("source", "department", "app_id", "model"), tags=["errors", "quality"],
    )
