"""The recording rules: every series the alerts and the dashboards read more than once.

Naming: level:metric:operations (https://prometheus.io/docs/practices/rules/). A level is the
set of labels a recorded series keeps:

    llm:               none (stack-wide values)
    model:             job, provider, model
    app_model:         job, provider, model, app_id (+ department where the source metric has it)
    app:               job, app_id (+ department where the source metric has it)
    department:        department (spend and budgets are summed over every job)

`job` is kept on everything computed from one scrape job, so that Alertmanager can silence those
alerts while that job's target is down (inhibit rule in alertmanager/alertmanager.yml).

Works unchanged on Prometheus 2.42 and 3.x: no 3.x-only functions; `le` is matched in both
spellings ("1.0" from prometheus_client, "1" once Prometheus 3 has normalised it).
"""

from __future__ import annotations

from llm_exporter import contract

from . import config as cfg
from .model import Group, Record

APP_MODEL_CALLS = "job, provider, model, app_id, department"  # llm_requests_total, llm_tokens_total
APP_MODEL = "job, provider, model, app_id"  # the histograms; objectives are resolved at this level
MODEL = "job, provider, model"
LATENCY_HISTOGRAMS = (contract.DURATION, contract.TTFT, contract.TPOT)
OBJECTIVE_PAIRS_WINDOW = cfg.rate_windows()[-1]


def requests_rate(window: str) -> str:
    return f"app_model:llm_requests:rate{window}"


def errors_rate(window: str) -> str:
    return f"app_model:llm_request_errors:rate{window}"


def error_ratio(window: str) -> str:
    return f"app_model:llm_request_error_ratio:rate{window}"


def burn_rate(window: str) -> str:
    return f"app_model:llm_error_budget_burn_rate:rate{window}"


def resolved(objective: cfg.Objective) -> str:
    """The recorded series holding each (app, model) pair's own value of `objective`."""
    return f"app_model:{objective.metric}:resolved"


def p95(spec: contract.MetricSpec, level: str = "app_model") -> str:
    return f"{level}:{spec.name}:p95_rate5m"


def buckets(spec: contract.MetricSpec) -> str:
    return f"app_model:{spec.name}_bucket:rate5m"


EXPENSIVE_REQUESTS = "instance:llm_expensive_requests:total"


def expensive_le_matcher() -> str:
    """`le` of the bucket at EXPENSIVE_REQUEST_USD, matched in both spellings."""
    edge = cfg.EXPENSIVE_REQUEST_USD
    if edge not in contract.COST_BUCKETS:
        raise ValueError(f"EXPENSIVE_REQUEST_USD={edge} is not a bucket edge of {contract.REQUEST_COST.name}")
    if float(edge).is_integer():
        return f'le=~"{int(edge)}(\\\\.0)?"'
    return f'le="{edge!r}"'


# -- groups ------------------------------------------------------------------------------------


def requests() -> Group:
    rules = []
    for window in cfg.rate_windows():
        rules += [
            Record(requests_rate(window),
                   f"sum by ({APP_MODEL_CALLS}) (rate(llm_requests_total[{window}]))"),
            Record(errors_rate(window), f"""
                sum by ({APP_MODEL_CALLS}) (rate(llm_requests_total{{status="error"}}[{window}]))
                  or {requests_rate(window)} * 0
                """),
            Record(error_ratio(window), f"{errors_rate(window)} / {requests_rate(window)}"),
        ]
    rules += [
        Record("model:llm_requests:rate5m", f"sum by ({MODEL}) ({requests_rate('5m')})",
               "Per model, for the dashboards."),
        Record("model:llm_request_errors:rate5m", f"sum by ({MODEL}) ({errors_rate('5m')})"),
    ]
    return Group("llm-requests", tuple(rules), comment=f"""
        Calls and failed calls per app and model over every window the burn-rate alerts read
        ({", ".join(cfg.rate_windows())}; Google SRE workbook, chapter 5). Errors are summed before dividing
        (never error/error). A pair with no failed call yet has no status="error" series: its error
        rate is 0, not missing. With no traffic at all the ratio is NaN, which never satisfies an
        alert.""")


PAIRS = "app_model:llm_pairs_seen:zero"


def _resolution(objective: cfg.Objective) -> str:
    """Most specific first: app and model, then model, then app, then the file's default, then
    the built-in default. Each branch puts the objective on every pair in PAIRS; `or` keeps the
    first branch that has a value for a pair."""
    m = objective.metric
    levels = (
        ("app_id, model", f'{m}{{app_id!="", model!=""}}'),
        ("model", f'{m}{{app_id="", model!=""}}'),
        ("app_id", f'{m}{{app_id!="", model=""}}'),
        ("", f'{m}{{app_id="", model=""}}'),
    )
    branches = [f"{PAIRS} + on ({on}) group_left max{f' by ({on})' if on else ''} ({selector})"
                for on, selector in levels]
    return "\n  or ".join([*branches, f"{PAIRS} + {objective.default:g}"]) + "\n"


def objectives() -> Group:
    availability = cfg.AVAILABILITY_OBJECTIVE
    rules = [Record(
        "llm:slo_availability_target",
        f'max({availability.metric}{{app_id="", model=""}}) or vector({availability.default:g})',
        "The default availability objective (the objectives file's `default`, else the built-in one): "
        "the fleet-wide SLO panels.",
    )]
    rules.append(Record(PAIRS, f"sum by ({APP_MODEL}) ({requests_rate(OBJECTIVE_PAIRS_WINDOW)}) * 0", f"""
        Every (job, provider, model, app_id) that made a call in the last {OBJECTIVE_PAIRS_WINDOW} (the
        longest burn-rate window), at 0: the pairs each objective is resolved for."""))
    rules += [Record(resolved(objective), _resolution(objective)) for objective in cfg.OBJECTIVES]
    return Group("llm-objectives", tuple(rules), comment="""
        Objectives per app and model. The exporter exposes the objectives file as llm_objective_*
        series with labels app_id and model, empty on the broader levels. Each pair gets the most
        specific one that exists: app and model, then model, then app, then the file's default; with
        no objective series at all (a service scraped without the exporter) the built-in default of
        prometheus/generator/config.py.""")


def slo() -> Group:
    budget = "app_model:llm_error_budget:ratio"
    rules = [Record(budget, f"1 - {resolved(cfg.AVAILABILITY_OBJECTIVE)}",
                    "The share of calls each pair may fail: 1 minus its availability objective.")]
    rules += [Record(burn_rate(window), f"{error_ratio(window)} / on ({APP_MODEL}) group_left {budget}")
              for window in cfg.rate_windows()]
    return Group("llm-slo", tuple(rules), comment=f"""
        Error-budget burn rate per app and model: the error ratio over the budget its availability
        objective allows. 1.0 spends exactly the {cfg.SLO_PERIOD} budget.""")


def apps() -> Group:
    return Group("llm-apps", (
        Record("app:llm_requests:rate5m", "sum by (job, app_id, department) (rate(llm_requests_total[5m]))"),
        Record("app:llm_requests:rate5m_avg1h", "avg_over_time(app:llm_requests:rate5m[1h])", """
            The app's mean call rate over the last hour, from the recorded 5-minute rate: the baseline
            of the traffic-stopped alert (meaningful after minutes of history, where rate(...[1h])
            would divide a few minutes of calls by a whole hour)."""),
    ), comment="Per application (traffic-stopped alert, dashboards).")


def latency() -> Group:
    rules = []
    for spec in LATENCY_HISTOGRAMS:
        rules += [
            Record(buckets(spec), f"sum by ({APP_MODEL}, le) (rate({spec.name}_bucket[5m]))"),
            Record(p95(spec), f"histogram_quantile(0.95, {buckets(spec)})"),
            Record(p95(spec, "model"), f"histogram_quantile(0.95, sum by ({MODEL}, le) ({buckets(spec)}))"),
        ]
    return Group("llm-latency", tuple(rules), comment="""
        P95 per app and model (the alerts) and per model (the dashboards) of end-to-end duration,
        time to first token and time per output token, from classic histograms. With no traffic in
        the window the quantile is NaN: no alert, a gap on graphs.""")


def tokens() -> Group:
    window = cfg.TOKEN_BASELINE_WINDOW
    return Group("llm-tokens", (
        Record("department:llm_tokens:rate5m", "sum by (department) (rate(llm_tokens_total[5m]))"),
        Record(f"department:llm_tokens:rate5m_avg{window}", f"avg_over_time(department:llm_tokens:rate5m[{window}])"),
        Record(f"department:llm_tokens:rate5m_stddev{window}",
               f"stddev_over_time(department:llm_tokens:rate5m[{window}])"),
    ), comment=f"""
        Tokens per department and their own {window} mean and standard deviation: the baseline of the
        token-usage anomaly alert (no fixed threshold). Seven days cover the daily and the weekly
        rhythm, so Monday morning is not an anomaly after a quiet weekend.""")


def cost() -> Group:
    return Group("llm-cost", (
        Record("department:llm_cost_usd:rate5m", "sum by (department) (rate(llm_cost_usd_total[5m]))"),
        Record("department:llm_cost_usd:increase1d", "sum by (department) (increase(llm_cost_usd_total[1d]))"),
        Record(EXPENSIVE_REQUESTS, f"""
            llm_request_cost_usd_bucket{{le="+Inf"}}
              - ignoring (le) llm_request_cost_usd_bucket{{{expensive_le_matcher()}}}
            """, f"""
            Running count of calls that cost more than ${cfg.EXPENSIVE_REQUEST_USD:g} (+Inf bucket minus the
            bucket at that edge), per exporter series: no sum here, so an exporter restart is a counter
            reset of its own series, which increase() handles."""),
        Record("department:llm_budget_usd:daily", 'max by (department) (llm_budget_usd{period="daily"}) > 0'),
        Record("department:llm_budget_usd:monthly", 'max by (department) (llm_budget_usd{period="monthly"}) > 0'),
        Record("department:llm_budget_daily_usage:ratio",
               "department:llm_cost_usd:increase1d / department:llm_budget_usd:daily",
               "Share of the daily budget spent in the last 24 hours (rolling)."),
    ), comment="""
        Spend and budgets (USD). increase() handles exporter restarts (counter resets); spend is summed
        over every job, budgets are the largest value any exporter reports. A department whose budget
        is 0 or missing gets no ratio (never a division by zero).""")


def forecast() -> Group:
    window = cfg.FORECAST_RATE_WINDOW
    return Group("llm-cost-forecast", (
        Record("department:llm_cost_usd:forecast_month",
               f"sum by (department) (rate(llm_cost_usd_total[{window}])) * 86400 * scalar(days_in_month())"),
        Record("department:llm_budget_monthly_forecast:ratio",
               "department:llm_cost_usd:forecast_month / department:llm_budget_usd:monthly"),
    ), interval="1m", comment=f"""
        Month-end forecast: the spend of a whole calendar month at the run rate of the last {window}
        (seven days smooth out weekdays and weekends). During the first week of a new install the rate
        covers less history and the forecast is low (it never over-states).""")


def quality() -> Group:
    return Group("llm-quality", (
        Record("app:llm_feedback:rate1h", "sum by (job, app_id) (rate(llm_feedback_total[1h]))"),
        Record("app:llm_feedback_negative_ratio:rate1h", """
            (
              sum by (job, app_id) (rate(llm_feedback_total{rating="negative"}[1h]))
                or app:llm_feedback:rate1h * 0
            )
            / app:llm_feedback:rate1h
            """),
        Record("app:llm_responses_flagged:rate5m",
               "sum by (job, app_id, reason) (rate(llm_responses_flagged_total[5m]))"),
        Record("app:llm_quality_score:min", "min by (job, app_id) (llm_quality_score)"),
    ), comment="Quality signals per application.")


def groups() -> tuple[Group, ...]:
    """In evaluation order: a group may read what the groups before it recorded."""
    return (requests(), objectives(), slo(), apps(), latency(), tokens(), cost(), forecast(), quality())
