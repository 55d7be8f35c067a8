"""What the dashboards share: template variables, label selectors, thresholds from the rules' config."""

from __future__ import annotations

from llm_exporter import contract
from prometheus.generator import config as cfg
from prometheus.generator import recording
from prometheus.generator.adapters import CONTRACT

from .builder import PromQuery, Variable, dashboard_link, override, thresholds
from .uids import COST, ERRORS, GPU, LATENCY, LOGS_TRACES, OVERVIEW, SLO  # noqa: F401  (re-exported)

SERVICE_NAME = "llm-exporter"  # OTEL service.name of the exporter (Loki label service_name)

# -- template variables (multi-select, All = ".*") -----------------------------------------

CALLS = recording.requests_rate("5m")  # every source's calls, counted once: what the variables list
GPU_VAR = Variable("gpu", "GPU", f"label_values({recording.GPU_SIGNALS['utilization']}, gpu)")
GPU_SOURCE_VAR = Variable("source", "Source", f"label_values({recording.GPU_SIGNALS['utilization']}, source)")


def variables(*names: str) -> list[Variable]:
    """source, department, app_id and model, in that order, each narrowed by the ones before it."""
    chosen = [n for n in ("source", "department", "app_id", "model") if n in names]
    labels = {"source": "Source", "department": "Department", "app_id": "App", "model": "Model"}
    out = []
    for index, name in enumerate(chosen):
        matchers = ", ".join(f'{prev}=~"${prev}"' for prev in chosen[:index])
        out.append(Variable(name, labels[name], f"label_values({CALLS}{{{matchers}}}, {name})"
                            if matchers else f"label_values({CALLS}, {name})"))
    return out


# Label matchers, by which labels a series has. Every source's recorded series carry `source`:
# panels a source cannot feed show "no data from the selected sources". This project's own raw
# series do not: they are read with SEL_OWN and shown while "llm" is selected (own()).
SEL_SOURCE = 'source=~"$source"'
SEL_CALL = f'{SEL_SOURCE}, model=~"$model", app_id=~"$app_id"'  # app_model: histogram rules
SEL_OWN = 'model=~"$model", app_id=~"$app_id"'  # this project's raw series (llm_errors_total, ...)
SEL_OWN_MODEL = 'model=~"$model"'  # ... those without app_id (llm_unpriced_requests_total)
SEL_FULL = f'{SEL_CALL}, department=~"$department"'  # calls, tokens, cost (app_model: rules)
SEL_MODEL = f'{SEL_SOURCE}, model=~"$model"'  # model: rules
SEL_APP = 'app_id=~"$app_id"'  # app: rules, quality (this project's own series)
SEL_DEPT = 'department=~"$department"'  # department: rules, budgets (every source summed)

# -- thresholds: the numbers the alerts use (prometheus/generator/config.py) -------------------
# Objectives are per app and model; stat panels colour against the default objective, and the
# per-model panels draw each model's own objective as a dashed line (objective_line).

ERROR_RATIO_MAX = cfg.ERROR_RATIO_OBJECTIVE.default
LATENCY_P95_MAX = cfg.LATENCY_OBJECTIVE.default
TTFT_P95_MAX = cfg.TTFT_OBJECTIVE.default
TPOT_P95_MAX = cfg.TPOT_OBJECTIVE.default
BUDGET_WARNING = cfg.DAILY_BUDGET_WARNING
BUDGET_CRITICAL = cfg.DAILY_BUDGET_CRITICAL
FORECAST_MAX = cfg.MONTHLY_FORECAST_MAX
GPU_UTILIZATION_MIN = cfg.GPU_UTILIZATION_MIN
QUALITY_MIN = cfg.QUALITY_SCORE_MIN
NEGATIVE_FEEDBACK_MAX = cfg.NEGATIVE_FEEDBACK_MAX
SLO_TARGET = cfg.AVAILABILITY_OBJECTIVE.default
EXPENSIVE_USD = cfg.EXPENSIVE_REQUEST_USD

# Burn-rate windows, and the multi-window pairs the two burn-rate alerts use: (alert, long
# window, short window, factor). Both windows of a pair must exceed the same factor.
BURN_WINDOWS = cfg.rate_windows()
BURN_PAIRS = tuple((alert.name, w.long, w.short, w.factor) for alert in cfg.BURN_ALERTS for w in alert.windows)

OBJECTIVE_LEGEND = "objective"
# Objective series drawn as dashed lines without fill, whatever the panel's own style.
OBJECTIVE_STYLE = override("byRegexp", f"^{OBJECTIVE_LEGEND} .*", {
    "custom.lineStyle": {"fill": "dash", "dash": [10, 10]}, "custom.fillOpacity": 0, "custom.lineWidth": 1})


def objective_line(objective: cfg.Objective, by: str, selector: str = SEL_CALL, where: str = "") -> PromQuery:
    """Each `by` group's objective: the strictest resolved objective among the selected pairs; with
    `where`, only for the groups that query has data for (no line for a signal a source lacks)."""
    expr = f"min by ({by}) ({recording.resolved(objective)}{{{selector}}})"
    if where:
        expr += f"\n  and on ({by}) ({where})"
    return PromQuery(expr, legend=f"{OBJECTIVE_LEGEND} {{{{{by}}}}}")


# -- query shapes ----------------------------------------------------------------------------


def quantile(q: float, spec: contract.MetricSpec, by: str = "", selector: str = SEL_CALL) -> str:
    """Quantile of a histogram (latency, or the per-call cost) from the recorded 5-minute bucket
    rates (the window the latency alerts use), every source's own buckets kept apart (their edges
    differ): per `by`, the highest source. `>= 0` drops the NaN of a series with no observation in
    the window, so legends and tables list only series with data (histogram_quantile never returns a
    negative value)."""
    group = ", ".join(filter(None, ("le", "job", "source", by)))
    per_source = f"histogram_quantile({q}, sum by ({group}) ({recording.buckets(spec)}{{{selector}}}))"
    return f"max{f' by ({by})' if by else ''} ({per_source}) >= 0"


def observed(spec: contract.MetricSpec, by: str, selector: str = SEL_CALL) -> str:
    """The `by` groups with observations of `spec` in the last 5 minutes: exactly those its quantile
    has a value for, read from the recorded +Inf bucket alone (a tenth of the cost of the quantile
    over 30 days)."""
    return f'sum by ({by}) ({recording.buckets(spec)}{{le="+Inf", {selector}}}) > 0'


def distribution(spec: contract.MetricSpec) -> PromQuery:
    """A heatmap's query: calls per bucket of one of this project's own histograms in each cell,
    the recorded per-minute bucket increases summed over the cell. Cells are `$__interval` wide,
    never narrower than the recording's step, so the summed minutes tile time; over 30 days this
    reads a quarter of the raw samples.

    Recorded series carry no exemplars. Prometheus' exemplar API answers for every selector in the
    query, so the raw buckets appear in a term that returns no series (`@ 0` evaluates it once, at
    the Unix epoch) and their exemplars come back with the cells. The raw series have no `source`
    label: that term filters by app and model only (the cells are empty unless "llm" is selected)."""
    step = cfg.DISTRIBUTION_STEP
    recorded = f"{recording.buckets(spec, operation='increase' + step)}{{{SEL_CALL}}}"
    raw = f"{spec.name}_bucket{{{SEL_OWN}}}"
    return PromQuery(f"sum by (le) (sum_over_time({recorded}[$__interval]))\n  or ({raw} @ 0)",
                     legend="{{le}}", format="heatmap", exemplar=True, interval=step)


def own(expr: str) -> str:
    """`expr` over this project's own raw series (SEL_OWN: they have no `source` label), shown
    while its source, "llm", is among the selected sources."""
    return f'{expr}\n  and on () count({CALLS}{{source="{CONTRACT}", {SEL_SOURCE}}})'


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
