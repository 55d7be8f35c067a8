"""Every number the rules, the alerts and the dashboards share, in one place.

Change a threshold, a window or a gate here, run `make rules` (and `make dashboards`), and the
recording rules, the alerts, the promtool test headers, the docs tables and the dashboards'
thresholds follow. The promtool cases in prometheus/tests/ state the numbers they prove, so a
changed threshold also shows up there as a failing case until its tests are updated.

Objectives (latency, time to first token, time per output token, error ratio, availability) are
per model and per app: they come from the exporter's objectives file as `llm_objective_*` series
(exporter/config/objectives.yaml). The values below are the built-in defaults the rules fall back
to when no objective series exists at all, for example for a user's own service scraped without
the exporter.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from llm_exporter import contract

Severity = Literal["critical", "warning"]

# -- the availability SLO and its burn-rate alerts (Google SRE workbook, "Alerting on SLOs") ----

SLO_PERIOD = "30d"


@dataclass(frozen=True)
class BurnWindow:
    """Both windows must burn faster than `factor` for the alert to fire. A burn rate of 1 spends
    exactly the error budget of SLO_PERIOD; `factor` over `long` spends `budget_spent` of it."""

    long: str
    short: str
    factor: float

    @property
    def budget_spent(self) -> float:
        return self.factor * seconds(self.long) / seconds(SLO_PERIOD)


@dataclass(frozen=True)
class BurnAlert:
    """With `needs_history`, a window pair counts only once the app and model have called for at
    least its short window: before that the long window holds no more than the short one, and a
    single failed call among a new pair's first few would page or open a ticket."""

    name: str
    severity: Severity
    windows: tuple[BurnWindow, ...]
    needs_history: bool = False


BURN_FAST = BurnAlert("LLMErrorBudgetBurnFast", "critical", (BurnWindow("1h", "5m", 14.4), BurnWindow("6h", "30m", 6)),
                      needs_history=True)
BURN_SLOW = BurnAlert("LLMErrorBudgetBurnSlow", "warning", (BurnWindow("1d", "2h", 3), BurnWindow("3d", "6h", 1)),
                      needs_history=True)
BURN_ALERTS = (BURN_FAST, BURN_SLOW)
BURN_MIN_CALLS_PER_S = 1 / 60  # over the long window: at least a call a minute


# -- objectives: what the exporter exposes, and the built-in defaults ------------------------


@dataclass(frozen=True)
class Objective:
    """One objective kind: `spec` is the series the exporter exposes it as (labels app_id and
    model, empty on the broader levels); `key` its name in the objectives file."""

    spec: contract.MetricSpec
    default: float
    title: str

    @property
    def metric(self) -> str:
        return self.spec.name

    @property
    def key(self) -> str:
        return self.spec.name.removeprefix(contract.OBJECTIVE_PREFIX)


# Interactive-chat defaults; slower models and batch apps get their own in the objectives file.
LATENCY_OBJECTIVE = Objective(contract.OBJECTIVE_LATENCY, 10.0, "P95 end-to-end latency")
TTFT_OBJECTIVE = Objective(contract.OBJECTIVE_TTFT, 2.0, "P95 time to first token")
TPOT_OBJECTIVE = Objective(contract.OBJECTIVE_TPOT, 0.1, "P95 time per output token")
ERROR_RATIO_OBJECTIVE = Objective(contract.OBJECTIVE_ERROR_RATIO, 0.05, "error ratio over 5 minutes")
AVAILABILITY_OBJECTIVE = Objective(contract.OBJECTIVE_AVAILABILITY, 0.995, f"availability over {SLO_PERIOD}")
OBJECTIVES = (LATENCY_OBJECTIVE, TTFT_OBJECTIVE, TPOT_OBJECTIVE, ERROR_RATIO_OBJECTIVE, AVAILABILITY_OBJECTIVE)

# -- gates and thresholds of the other alerts ----------------------------------------------------

ERROR_RATIO_MIN_CALLS_PER_S = 0.1  # 30 calls in 5 minutes: one failure in a quiet pair never pages
LATENCY_MIN_CALLS_PER_S = 0.1  # the same gate for the three latency objectives

DAILY_BUDGET_WARNING = 0.8
DAILY_BUDGET_CRITICAL = 1.0
MONTHLY_FORECAST_MAX = 1.0
FORECAST_RATE_WINDOW = "7d"
EXPENSIVE_REQUEST_USD = 1.0  # must be a bucket edge of llm_request_cost_usd (the generator checks)
UNPRICED_WINDOW = "15m"
# The distribution heatmaps read per-minute bucket increases recorded this often: a quarter of the
# raw samples at the 15 s scrape interval, and the smallest cell the heatmaps draw.
DISTRIBUTION_STEP = "1m"

TOKEN_ANOMALY_FACTOR = 2.0  # tokens/s above this many times the department's 7-day mean
TOKEN_ANOMALY_SIGMAS = 3.0  # ... and this many standard deviations above it
TOKEN_BASELINE_WINDOW = "7d"

TRAFFIC_SILENCE = "2m"  # no call at all for this long ...
TRAFFIC_BASELINE_MIN_CALLS_PER_S = 0.1  # ... from an app that averaged more than this over the last hour

GPU_UTILIZATION_MIN = 0.5
QUALITY_SCORE_MIN = 3.5
NEGATIVE_FEEDBACK_MAX = 0.3
FEEDBACK_MIN_PER_HOUR = 20

# `for:` of every alert.
FOR = {
    "TargetDown": "2m",
    "AlertmanagerNotificationsFailing": "10m",
    "LLMErrorRatioHigh": "10m",
    "LLMErrorBudgetBurnFast": "2m",
    "LLMErrorBudgetBurnSlow": "15m",
    "LLMLatencyP95High": "10m",
    "LLMTimeToFirstTokenP95High": "10m",
    "LLMTimePerOutputTokenP95High": "10m",
    "LLMDailyBudgetNearlySpent": "5m",
    "LLMDailyBudgetExceeded": "5m",
    "LLMMonthlyBudgetForecastExceeded": "1h",
    "LLMExpensiveRequest": None,  # one such call is worth a ticket at once
    "LLMUnpricedRequests": "15m",
    "LLMTokenUsageAnomaly": "15m",
    "LLMTrafficStopped": "3m",
    "LLMGPUUnderutilized": "10m",
    "LLMQualityScoreLow": "15m",
    "LLMNegativeFeedbackHigh": "15m",
}

# -- where alerts point ------------------------------------------------------------------------

RUNBOOK_BASE = "https://github.com/llm-observability/llm-observability/blob/main/docs/runbooks.md#"
GRAFANA_URL = '{{ or $externalLabels.grafana_url "http://localhost:3000" }}'
RECEIVERS: dict[Severity, str] = {"critical": "pager", "warning": "ticket"}

# -- Prometheus durations ----------------------------------------------------------------------

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def seconds(duration: str) -> int:
    """A simple Prometheus duration ("5m", "30d") in seconds."""
    number, unit = duration[:-1], duration[-1]
    if unit not in _UNITS or not number.isdigit():
        raise ValueError(f"not a simple Prometheus duration: {duration!r}")
    return int(number) * _UNITS[unit]


def spoken(duration: str, adjective: bool = False) -> str:
    """"5m" -> "5 minutes" (adjective: "5-minute"), "1h" -> "1 hour", for alert texts."""
    words = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week"}
    number, word = int(duration[:-1]), words[duration[-1]]
    if adjective:
        return f"{number}-{word}"
    return f"{number} {word}{'s' if number != 1 else ''}"


def rate_windows() -> tuple[str, ...]:
    """Every window a burn-rate alert reads, shortest first (5m, 30m, 1h, 2h, 6h, 1d, 3d)."""
    windows = {w for alert in BURN_ALERTS for pair in alert.windows for w in (pair.long, pair.short)}
    return tuple(sorted(windows, key=seconds))
