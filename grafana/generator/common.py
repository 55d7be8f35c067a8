"""What the dashboards share: template variables, label selectors, thresholds from the alerts."""

from __future__ import annotations

import re

from . import rules
from .builder import Variable, dashboard_link, thresholds

# Dashboard uids (also in docs/dashboards.md and the README).
OVERVIEW = "llm-overview"
LATENCY = "llm-latency"
COST = "llm-cost"
ERRORS = "llm-errors"
GPU = "llm-gpu"
SLO = "llm-slo"
LOGS_TRACES = "llm-logs-traces"

SERVICE_NAME = "llm-exporter"  # OTEL service.name of the exporter (Loki label service_name)

# -- template variables (multi-select, All = ".*") -----------------------------------------

GPU_VAR = Variable("gpu", "GPU", "label_values(llm_gpu_utilization_ratio, gpu)")


def variables(*names: str) -> list[Variable]:
    """department, app_id and model, in that order, each narrowed by the ones before it."""
    chosen = [n for n in ("department", "app_id", "model") if n in names]
    labels = {"department": "Department", "app_id": "App", "model": "Model"}
    out = []
    for index, name in enumerate(chosen):
        matchers = ", ".join(f'{prev}=~"${prev}"' for prev in chosen[:index])
        out.append(Variable(name, labels[name], f"label_values(llm_requests_total{{{matchers}}}, {name})"
                            if matchers else f"label_values(llm_requests_total, {name})"))
    return out


# Label matchers, by which labels a series has.
SEL_CALL = 'model=~"$model", app_id=~"$app_id"'  # histograms, llm_errors_total
SEL_FULL = f'{SEL_CALL}, department=~"$department"'  # requests, tokens, cost (+ app_model: rules)
SEL_MODEL = 'model=~"$model"'  # model: rules
SEL_APP = 'app_id=~"$app_id"'  # app: rules, quality
SEL_DEPT = 'department=~"$department"'  # department: rules, budgets

# -- thresholds: the constants the shipped alerts use --------------------------------------

ERROR_RATIO_MAX = rules.alert_threshold("LLMErrorRatioHigh", "app_model:llm_request_error_ratio:rate5m")
LATENCY_P95_MAX = rules.alert_threshold("LLMLatencyP95High", "model:llm_request_duration_seconds:p95_rate5m")
TTFT_P95_MAX = rules.alert_threshold("LLMTimeToFirstTokenP95High", "model:llm_time_to_first_token_seconds:p95_rate5m")
BUDGET_WARNING = rules.alert_threshold("LLMDailyBudgetNearlySpent", "department:llm_budget_daily_usage:ratio")
BUDGET_CRITICAL = rules.alert_threshold("LLMDailyBudgetExceeded", "department:llm_budget_daily_usage:ratio")
FORECAST_MAX = rules.alert_threshold("LLMMonthlyBudgetForecastExceeded", "department:llm_budget_monthly_forecast:ratio")
GPU_UTILIZATION_MIN = rules.alert_threshold("LLMGPUUnderutilized", "llm_gpu_utilization_ratio")
QUALITY_MIN = rules.alert_threshold("LLMQualityScoreLow", "app:llm_quality_score:min")
NEGATIVE_FEEDBACK_MAX = rules.alert_threshold("LLMNegativeFeedbackHigh", "app:llm_feedback_negative_ratio:rate1h")
SLO_TARGET = rules.slo_target()

# Burn-rate windows, and the multi-window pairs the two burn-rate alerts use: (alert, long
# window, short window, factor). Both windows of a pair must exceed the same factor.
BURN_WINDOWS = ("5m", "30m", "1h", "2h", "6h", "1d", "3d")


def _burn_pair(alert: str, long: str, short: str) -> tuple[str, str, str, float]:
    factor = rules.alert_threshold(alert, f"model:llm_error_budget_burn_rate:rate{long}")
    if rules.alert_threshold(alert, f"model:llm_error_budget_burn_rate:rate{short}") != factor:
        raise rules.RuleLookupError(f"{alert}: windows {long} and {short} use different factors")
    return alert, long, short, factor


BURN_PAIRS = (
    _burn_pair("LLMErrorBudgetBurnFast", "1h", "5m"),
    _burn_pair("LLMErrorBudgetBurnFast", "6h", "30m"),
    _burn_pair("LLMErrorBudgetBurnSlow", "1d", "2h"),
    _burn_pair("LLMErrorBudgetBurnSlow", "3d", "6h"),
)


def expensive_request_usd() -> float:
    """The cost above which LLMExpensiveRequest counts a call (the `le` its rule subtracts)."""
    rules.alert_expr("LLMExpensiveRequest")  # the alert must exist
    expr = rules.recording_expr("instance:llm_requests_over_1usd:total")
    match = re.search(r'le=~?"([0-9]+(?:\.[0-9]+)?)', expr)
    if match is None:
        raise rules.RuleLookupError("instance:llm_requests_over_1usd:total has no le matcher")
    return float(match.group(1))


EXPENSIVE_USD = expensive_request_usd()

# -- query shapes ----------------------------------------------------------------------------


def quantile(q: float, buckets: str, by: str = "", window: str = "5m") -> str:
    """Quantile of a classic histogram (5 minutes: the window the latency alerts use). `>= 0`
    drops the NaN of a series with no observation in the window, so legends and tables list only
    series with data (histogram_quantile never returns a negative value)."""
    group = f"le, {by}" if by else "le"
    return f"histogram_quantile({q}, sum by ({group}) (rate({buckets}[{window}]))) >= 0"


def ratio(numerator: str, denominator: str) -> str:
    """Both sides already aggregated; `> 0` leaves out groups without traffic instead of NaN."""
    return f"{numerator}\n  / ({denominator} > 0)"


# -- colours -------------------------------------------------------------------------------


def upper(limit: float, warn_at: float | None = None) -> dict:
    """Green below `limit` (red from it); orange from `warn_at` when given."""
    steps = [(limit, "red")] + ([(warn_at, "orange")] if warn_at is not None else [])
    return thresholds("green", *steps)


def lower(limit: float, below: str = "red") -> dict:
    """`below` colour under `limit`, green from it."""
    return thresholds(below, (limit, "green"))


def to(uid: str, title: str) -> list[dict]:
    return [dashboard_link(title, uid)]
