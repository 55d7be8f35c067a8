"""The recording rules: every series the alerts and the dashboards read more than once.

Naming: level:metric:operations (https://prometheus.io/docs/practices/rules/). A level is the
set of labels a recorded series keeps:

    llm:               none (stack-wide values)
    source_app_model:  job, provider, model, app_id, department, source, layer: every source's
                       series read as the stack's signals (adapters.py), each layer kept
    app_model:         the same labels, each model counted once, at its outermost layer
    model:             job, provider, model, source, layer
    app:               job, app_id, department
    department:        department (spend and budgets are summed over every job and source)
    gpu:               job, instance, gpu, uuid, gpu_name, source
    instance:          unaggregated

`job` is kept on everything computed from one scrape job, so that Alertmanager can silence those
alerts while that job's target is down (inhibit rule in alertmanager/alertmanager.yml).

Works unchanged on Prometheus 2.42 and 3.x: no 3.x-only functions; `le` is matched in both
spellings ("1.0" from prometheus_client, "1" once Prometheus 3 has normalised it).
"""

from __future__ import annotations

from llm_exporter import contract

from . import config as cfg
from .adapters import ADAPTERS, CONTRACT_ADAPTER, GPU_ADAPTERS, GPUAdapter, Series
from .model import Group, Record
from .normalize import at_layer, counted_once, per_source

CALL = "job, provider, model, app_id, department"  # what the sources' calls, tokens and spend are summed by
HIST = "job, provider, model, app_id"  # histograms have no department
SOURCE = "source, layer"
PAIR = f"job, provider, model, app_id, {SOURCE}"  # objectives, burn rates and latency are resolved per pair
MODEL = f"job, provider, model, {SOURCE}"
LATENCY_HISTOGRAMS = (contract.DURATION, contract.TTFT, contract.TPOT)
DISTRIBUTIONS = (contract.DURATION, contract.TTFT, contract.REQUEST_COST)  # the heatmaps
OBJECTIVE_PAIRS_WINDOW = cfg.rate_windows()[-1]
TRAFFIC_WINDOW = cfg.TRAFFIC_SILENCE
BASE_WINDOW = cfg.rate_windows()[0]  # read from every source; longer windows average it
COST_WINDOWS = (("rate", "5m"), ("increase", "1d"))  # spend panels and daily budgets
DIRECTIONS = ("input", "output")


def requests_rate(window: str, level: str = "app_model") -> str:
    return f"{level}:llm_requests:rate{window}"


def errors_rate(window: str, level: str = "app_model") -> str:
    return f"{level}:llm_request_errors:rate{window}"


def error_ratio(window: str) -> str:
    return f"app_model:llm_request_error_ratio:rate{window}"


def burn_rate(window: str) -> str:
    return f"app_model:llm_error_budget_burn_rate:rate{window}"


def resolved(objective: cfg.Objective) -> str:
    """The recorded series holding each (app, model) pair's own value of `objective`."""
    return f"app_model:{objective.metric}:resolved"


def p95(spec: contract.MetricSpec, level: str = "app_model") -> str:
    return f"{level}:{spec.name}:p95_rate5m"


def buckets(spec: contract.MetricSpec, level: str = "app_model", operation: str = "rate5m") -> str:
    return f"{level}:{spec.name}_bucket:{operation}"


def tokens(function: str, window: str, level: str = "app_model") -> str:
    return f"{level}:llm_tokens:{function}{window}"


def cost(function: str, window: str, level: str = "app_model") -> str:
    return f"{level}:llm_cost_usd:{function}{window}"


ENGINE_GAUGES = {"running": ("model:llm_requests_running:sum", "sum"),
                 "waiting": ("model:llm_requests_waiting:sum", "sum"),
                 "kv_cache": ("model:llm_kv_cache_usage:max", "max")}
GPU_SIGNALS = {"utilization": "gpu:llm_gpu_utilization:ratio", "memory_used": "gpu:llm_gpu_memory_used:bytes",
               "memory_total": "gpu:llm_gpu_memory_total:bytes", "power": "gpu:llm_gpu_power:watts",
               "temperature": "gpu:llm_gpu_temperature:celsius"}
EXPENSIVE_REQUESTS = "instance:llm_expensive_requests:total"


def expensive_le_matcher() -> str:
    """`le` of the bucket at EXPENSIVE_REQUEST_USD, matched in both spellings."""
    edge = cfg.EXPENSIVE_REQUEST_USD
    if edge not in contract.COST_BUCKETS:
        raise ValueError(f"EXPENSIVE_REQUEST_USD={edge} is not a bucket edge of {contract.REQUEST_COST.name}")
    if float(edge).is_integer():
        return f'le=~"{int(edge)}(\\\\.0)?"'
    return f'le="{edge!r}"'


# -- every source, every layer -------------------------------------------------------------------


def sources() -> Group:
    rules: list[Record] = []
    for window in (TRAFFIC_WINDOW, BASE_WINDOW):
        rules += per_source(requests_rate(window, "source_app_model"), lambda a: a.requests, CALL, window=window)
    rules += per_source(errors_rate(BASE_WINDOW, "source_app_model"), lambda a: a.errors, CALL, window=BASE_WINDOW)
    for spec in LATENCY_HISTOGRAMS:
        rules += per_source(buckets(spec, "source_app_model"), lambda a, spec=spec: a.histogram(spec),
                            f"{HIST}, le", suffix="_bucket")
    rules += _tokens_and_cost("rate", "5m")
    rules += _tokens_and_cost("increase", "1d", priced_only=True)
    for signal, (name, aggregation) in ENGINE_GAUGES.items():
        rules += per_source(name, lambda a, s=signal: getattr(a, s), "job, provider, model", "", "",
                            aggregation=aggregation)
    return Group("llm-sources", tuple(rules), comment="""
        Every source's series read as the stack's signals (prometheus/generator/adapters.py, each name
        cited in docs/sources.md), labelled with `source` and `layer`: calls, failed calls, latency
        histograms, tokens and spend; calls in flight and queued, and KV-cache usage, per model. A source
        without a signal has no rule for it. Spend comes from
        the source where it reports it, else from its tokens times the pricing file's prices
        (llm_price_usd_per_token), else, for a self-hosted model with a GPU-hour price, from its GPU
        hours shared out by tokens.""")


def _tokens_and_cost(function: str, window: str, priced_only: bool = False) -> list[Record]:
    """Tokens and spend over `window`. Spend is the source's own where it reports it everywhere;
    otherwise its own where present, else its tokens priced (`_priced`). With `priced_only`,
    tokens only of the sources whose spend is priced from them (all the long windows need)."""
    priced = tuple(a for a in ADAPTERS if (a.cost is None or not a.cost_everywhere)
                   and (a.input_tokens or a.output_tokens))
    rules: list[Record] = []
    for direction in DIRECTIONS:
        rules += per_source(tokens(function, window, "source_app_model"),
                            lambda a, d=direction: a.input_tokens if d == "input" else a.output_tokens,
                            CALL, function, window, labels=(("direction", direction),),
                            adapters=priced if priced_only else ADAPTERS)
    own = {r.labels[0][1]: r for r in per_source(cost(function, window, "source_app_model"), lambda a: a.cost,
                                                  CALL, function, window)}
    for adapter in ADAPTERS:
        parts = [own[adapter.name].expr] if adapter.name in own else []
        parts += [_priced(adapter.name, function, window)] if adapter in priced else []
        if parts:
            rules.append(Record(cost(function, window, "source_app_model"), "\nor\n".join(parts),
                                labels=(("source", adapter.name),)))
    return rules


def _priced(source: str, function: str, window: str) -> str:
    """Spend of a source that reports tokens but no cost. A self-hosted model with a GPU-hour price
    (llm_self_hosted_usd_per_hour) costs that price times the window's hours, shared between the
    model's callers by their tokens; any other model its tokens × the price per token."""
    used = f'{tokens(function, window, "source_app_model")}{{source="{source}"}}'
    per_token = "max by (model, direction) (llm_price_usd_per_token)"
    hours = f"{cfg.seconds(window) / 3600:g}" if function == "increase" else "1 / 3600"
    share = f"sum by ({CALL}, layer) ({used})\n    / on (model) group_left () (sum by (model) ({used}) > 0)"
    return (f"{share}\n    * on (model) group_left max by (model) (llm_self_hosted_usd_per_hour) * {hours}\n"
            f"or\n  sum by ({CALL}, layer) ({used} * on (model, direction) group_left {per_token})\n")


# -- counted once ----------------------------------------------------------------------------------


def requests() -> Group:
    base = BASE_WINDOW
    rules = [Record(requests_rate(window), counted_once(requests_rate(window, "source_app_model")))
             for window in (TRAFFIC_WINDOW, base)]
    rules.append(Record(errors_rate(base), at_layer(errors_rate(base, "source_app_model"), requests_rate(base))
                        + f"or {requests_rate(base)} * 0\n", subject=requests_rate(base, "source_app_model")))
    for window in cfg.rate_windows()[1:]:
        rules += [Record(requests_rate(window), f"avg_over_time({requests_rate(base)}[{window}])"),
                  Record(errors_rate(window), f"avg_over_time({errors_rate(base)}[{window}])")]
    rules += [Record(error_ratio(window), f"{errors_rate(window)} / {requests_rate(window)}")
              for window in cfg.rate_windows()]
    rules += [
        Record(requests_rate(base, "model"), f"sum by ({MODEL}) ({requests_rate(base)})",
               "Per model, for the dashboards."),
        Record(errors_rate(base, "model"), f"sum by ({MODEL}) ({errors_rate(base)})"),
    ]
    return Group("llm-requests", tuple(rules), comment=f"""
        Calls and failed calls per app and model, each model counted once: at the outermost layer that
        reports it (the app, then a gateway, then the engine; adapters.py). A model's failed calls come
        from the layer its calls were counted at. The longer windows the burn-rate alerts read
        ({", ".join(cfg.rate_windows()[1:])}; Google SRE workbook, chapter 5) are the mean of the recorded
        {base} rate over the window: one read of each source, not one per window. Errors are summed before
        dividing (never error/error). A pair with no failed call yet has no failed-call series: its
        error rate is 0, not missing. With no traffic at all the ratio is NaN, which never satisfies an
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
    rules.append(Record(PAIRS, f"sum by ({PAIR}) ({requests_rate(OBJECTIVE_PAIRS_WINDOW)}) * 0", f"""
        Every pair (app and model, as counted once) with a call in the last {OBJECTIVE_PAIRS_WINDOW} (the
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
    rules += [Record(burn_rate(window), f"{error_ratio(window)} / on ({PAIR}) group_left {budget}")
              for window in cfg.rate_windows()]
    return Group("llm-slo", tuple(rules), comment=f"""
        Error-budget burn rate per app and model: the error ratio over the budget its availability
        objective allows. 1.0 spends exactly the {cfg.SLO_PERIOD} budget.""")


def slo_period() -> Group:
    period = cfg.SLO_PERIOD
    return Group("llm-slo-period", (
        Record(requests_rate(period), f"avg_over_time({requests_rate('1h')}[{period}])"),
        Record(errors_rate(period), f"avg_over_time({errors_rate('1h')}[{period}])"),
    ), interval="5m", comment=f"""
        Calls and failed calls over the SLO's whole {period} (the mean of the hourly rate): the SLO
        dashboard's availability and error budget left. Every 5 minutes is often enough for a
        {period} window, and far cheaper than reading every source's raw series over it.""")


def apps() -> Group:
    return Group("llm-apps", (
        Record("app:llm_requests:rate5m", f"sum by (job, app_id, department) ({requests_rate('5m')})"),
        Record("app:llm_requests:rate5m_avg1h", "avg_over_time(app:llm_requests:rate5m[1h])", """
            The app's mean call rate over the last hour, from the recorded 5-minute rate: the baseline
            of the traffic-stopped alert (meaningful after minutes of history, where rate(...[1h])
            would divide a few minutes of calls by a whole hour)."""),
    ), comment="Per application (traffic-stopped alert, dashboards).")


def latency() -> Group:
    rules = []
    for spec in LATENCY_HISTOGRAMS:
        rules += [
            Record(buckets(spec), at_layer(buckets(spec, "source_app_model"), requests_rate("5m")),
                   subject=buckets(spec, "source_app_model")),
            Record(p95(spec), f"histogram_quantile(0.95, {buckets(spec)})"),
            Record(p95(spec, "model"), f"histogram_quantile(0.95, sum by ({MODEL}, le) ({buckets(spec)}))"),
        ]
    return Group("llm-latency", tuple(rules), comment="""
        P95 per app and model (the alerts) and per model (the dashboards) of end-to-end duration,
        time to first token and time per output token, from classic histograms, each at the layer the
        model's calls were counted at. Buckets are never summed across sources (their edges differ):
        every quantile keeps `job` and `source`. With no traffic in the window the quantile is NaN:
        no alert, a gap on graphs.""")


def tokens_group() -> Group:
    window = cfg.TOKEN_BASELINE_WINDOW
    rules = [Record(tokens("rate", "5m"), counted_once(tokens("rate", "5m", "source_app_model")))]
    rules += [
        Record("department:llm_tokens:rate5m", f"sum by (department) ({tokens('rate', '5m')})"),
        Record(f"department:llm_tokens:rate5m_avg{window}", f"avg_over_time(department:llm_tokens:rate5m[{window}])"),
        Record(f"department:llm_tokens:rate5m_stddev{window}",
               f"stddev_over_time(department:llm_tokens:rate5m[{window}])"),
    ]
    return Group("llm-tokens", tuple(rules), comment=f"""
        Tokens per app and model, counted once, and per department with their own {window} mean and
        standard deviation: the baseline of the token-usage anomaly alert (no fixed threshold). Seven
        days cover the daily and the weekly rhythm, so Monday morning is not an anomaly after a quiet
        weekend.""")


def own_buckets(spec: contract.MetricSpec, function: str = "rate", window: str = "5m", comment: str = "") -> Record:
    """Bucket rates (or increases) of one of this project's own histograms per app and model, at
    the layer the model's calls were counted at; labelled source="llm"."""
    (contract_rule,) = per_source(buckets(spec, "source_app_model"), lambda a: Series.of(spec.name), f"{HIST}, le",
                                  function=function, window=window, suffix="_bucket", adapters=(CONTRACT_ADAPTER,))
    return Record(buckets(spec, operation=f"{function}{window}"), at_layer(contract_rule.expr, requests_rate("5m")),
                  comment, labels=contract_rule.labels)


def cost_buckets() -> Record:
    return own_buckets(contract.REQUEST_COST, comment="""
        Bucket rates of the per-call cost histogram (this project's own series only), per app and
        model: the cost quantile panel reads them (over 30 days far cheaper than the raw buckets).""")


def cost_group() -> Group:
    rules = [Record(cost(function, w), counted_once(cost(function, w, "source_app_model")))
             for function, w in COST_WINDOWS]
    rules += [cost_buckets()]
    rules += [
        Record("department:llm_cost_usd:rate5m", f"sum by (department) ({cost('rate', '5m')})"),
        Record("department:llm_cost_usd:increase1d", f"sum by (department) ({cost('increase', '1d')})"),
        Record(EXPENSIVE_REQUESTS, f"""
            llm_request_cost_usd_bucket{{le="+Inf"}}
              - ignoring (le) llm_request_cost_usd_bucket{{{expensive_le_matcher()}}}
            """, f"""
            Running count of calls that cost more than ${cfg.EXPENSIVE_REQUEST_USD:g} (+Inf bucket minus the
            bucket at that edge), per exporter series: no sum here, so an exporter restart is a counter
            reset of its own series, which increase() handles. Only sources that price each call have
            it (docs/sources.md)."""),
        Record("department:llm_budget_usd:daily", 'max by (department) (llm_budget_usd{period="daily"}) > 0'),
        Record("department:llm_budget_usd:monthly", 'max by (department) (llm_budget_usd{period="monthly"}) > 0'),
        Record("department:llm_budget_daily_usage:ratio",
               "department:llm_cost_usd:increase1d / department:llm_budget_usd:daily",
               "Share of the daily budget spent in the last 24 hours (rolling)."),
    ]
    return Group("llm-cost", tuple(rules), comment="""
        Spend and budgets (USD), each model counted once. increase() handles exporter restarts (counter
        resets); spend is summed over every job and source, budgets are the largest value any exporter
        reports. A department whose budget is 0 or missing gets no ratio (never a division by zero).""")


def distributions() -> Group:
    step = cfg.DISTRIBUTION_STEP
    return Group("llm-distributions", tuple(own_buckets(spec, "increase", step) for spec in DISTRIBUTIONS),
                 interval=step, comment=f"""
        Calls per bucket in each {step} of this project's own latency, time-to-first-token and cost
        histograms, per app and model, evaluated every {step}: consecutive windows tile time, so the
        heatmaps sum them over any multiple of {step} and read a quarter of the raw samples. The
        raw buckets keep the exemplars (the heatmaps ask for those separately).""")


def forecast() -> Group:
    window = cfg.FORECAST_RATE_WINDOW
    return Group("llm-cost-forecast", (
        Record("department:llm_cost_usd:forecast_month",
               f"avg_over_time(department:llm_cost_usd:increase1d[{window}]) * scalar(days_in_month())"),
        Record("department:llm_budget_monthly_forecast:ratio",
               "department:llm_cost_usd:forecast_month / department:llm_budget_usd:monthly"),
    ), interval="1m", comment=f"""
        Month-end forecast: a whole calendar month at the mean daily spend of the last {window} (the
        rolling 24-hour spend, averaged: seven days smooth out weekdays and weekends). During the first
        day of a new install the daily spend covers less than a day and the forecast is low (it never
        over-states).""")


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
    ), comment="Quality signals per application (this project's own series: no other source reports them).")


def _gpu(adapter: GPUAdapter, signal: str) -> str:
    expr = f"({adapter.signals()[signal]})" if " " in adapter.signals()[signal] else adapter.signals()[signal]
    for target, name in (("uuid", adapter.uuid), ("gpu_name", adapter.gpu_name)):
        if name != target:
            expr = f'label_replace({expr}, "{target}", "$1", "{name}", "(.+)")'
    return f"max by (job, instance, gpu, uuid, gpu_name) ({expr})"


def gpus() -> Group:
    rules = [Record(name, _gpu(adapter, signal), labels=(("source", adapter.name),))
             for signal, name in GPU_SIGNALS.items() for adapter in GPU_ADAPTERS]
    return Group("llm-gpus", tuple(rules), comment="""
        GPU telemetry in the stack's units (ratio 0-1, bytes, watts, °C) from the exporter's NVML or
        mock GPUs and from NVIDIA's dcgm-exporter, labelled with `source`.""")


def groups() -> tuple[Group, ...]:
    """In evaluation order: a group may read what the groups before it recorded."""
    return (sources(), requests(), objectives(), slo(), slo_period(), apps(), latency(), tokens_group(), cost_group(),
            distributions(), forecast(), quality(), gpus())
