"""The alerting rules. Every alert carries:

    labels:      severity (critical -> `pager` receiver, warning -> `ticket` receiver);
                 alert_family on warning/critical twins (the critical one inhibits its twin)
    annotations: summary, description (with the measured value), runbook_url (docs/runbooks.md),
                 dashboard_url (Grafana; set the external label `grafana_url` in prometheus.yml
                 when Grafana is not at http://localhost:3000)

Adding an alert: one entry here, its runbook section in docs/runbooks.md, its promtool cases in
prometheus/tests/ (firing and silent), then `make rules`.
"""

from __future__ import annotations

from grafana.generator import uids
from llm_exporter import contract

from . import config as cfg
from . import recording as rec
from .model import Alert, Group

# Alert template pieces: the alert's own labels and its value, formatted.
APP = "{{ $labels.app_id }}"
MODEL = "{{ $labels.model }}"
PROVIDER = "{{ $labels.provider }}"
DEPARTMENT = "{{ $labels.department }}"
JOB = "{{ $labels.job }}"
INSTANCE = "{{ $labels.instance }}"
GPU_INDEX = "{{ $labels.gpu }}"
GPU_NAME = "{{ $labels.gpu_name }}"
GPU_UUID = "{{ $labels.uuid }}"
INTEGRATION = "{{ $labels.integration }}"
VALUE = "{{ $value }}"
RATE = "{{ $value | humanizePercentage }}"
DURATION = "{{ $value | humanizeDuration }}"
VALUE_0 = '{{ $value | printf "%.0f" }}'
VALUE_1 = '{{ $value | printf "%.1f" }}'
VALUE_2 = '{{ $value | printf "%.2f" }}'
VALUE_3 = '{{ $value | printf "%.3f" }}'
PRINTF_0 = 'printf "%.0f"'
PRINTF_1 = 'printf "%.1f"'
PRINTF_2 = 'printf "%.2f"'


def _value_of(series: str, labels: tuple[str, ...], format_: str) -> str:
    """Alert template text that looks up `series` for the alert's own label values."""
    matchers = ",".join(f"{label}='%s'" for label in labels)
    args = " ".join(f"$labels.{label}" for label in labels)
    return (f'{{{{ with printf "{series}{{{matchers}}}" {args} | query }}}}'
            f"{{{{ . | first | value | {format_} }}}}{{{{ end }}}}")


PAIR = ("job", "app_id", "provider", "model")


def _objective_text(objective: cfg.Objective, format_: str) -> str:
    return _value_of(rec.resolved(objective), PAIR, format_)


def targets() -> Group:
    return Group("llm-alerts-targets", (
        Alert("TargetDown", "up == 0", "critical",
              summary=f"Prometheus cannot scrape {JOB} at {INSTANCE}",
              description=f"""
                Every scrape of {INSTANCE} (job {JOB}) has failed for more than
                {cfg.spoken(cfg.FOR["TargetDown"])} (up = {VALUE}). Alerts computed from job
                {JOB} are silenced while it is down; its dashboards show a gap.""",
              dashboard=uids.OVERVIEW, fires_when="a scrape target is down"),
        Alert("AlertmanagerNotificationsFailing",
              "sum by (job, instance, integration) (rate(alertmanager_notifications_failed_total[5m])) > 0",
              "warning",
              summary=f"Alertmanager cannot deliver {INTEGRATION} notifications",
              description=f"""
                {INSTANCE} failed {VALUE_3} {INTEGRATION} notifications per second over the last 5 minutes:
                alerts are not reaching people.""",
              dashboard=uids.OVERVIEW, fires_when="Alertmanager cannot deliver notifications"),
    ))


def errors() -> Group:
    gate = cfg.ERROR_RATIO_MIN_CALLS_PER_S
    objective = cfg.ERROR_RATIO_OBJECTIVE
    alerts = [Alert(
        "LLMErrorRatioHigh", f"""
            {rec.error_ratio("5m")}
              > on ({rec.PAIR}) group_left
            {rec.resolved(objective)}
            and {rec.requests_rate("5m")} >= {gate:g}
            """, "warning",
        summary=f"{RATE} of {APP}'s calls to {MODEL} fail",
        description=f"""
            {RATE} of the calls from {APP} ({DEPARTMENT}) to
            {PROVIDER}/{MODEL} failed over the last 5 minutes (objective
            {_objective_text(objective, "humanizePercentage")}, for {cfg.spoken(cfg.FOR["LLMErrorRatioHigh"])}, at
            {_value_of(rec.requests_rate("5m"), PAIR, PRINTF_2)} calls/s).""",
        dashboard=uids.ERRORS, subject=rec.error_ratio("5m"),
        fires_when=f"failed / all calls of an app and model over 5 min > its error-ratio objective "
                   f"(default {objective.default:.0%}), at ≥ {gate:g} calls/s",
        comment=f"""
            Errors over calls per app and model, both summed before dividing, against the pair's own
            error-ratio objective; only when the pair makes at least {gate:g} calls/s, so idle periods
            never page.""")]
    alerts += [_burn_alert(burn) for burn in cfg.BURN_ALERTS]
    return Group("llm-alerts-errors", tuple(alerts))


def _burn_alert(burn: cfg.BurnAlert) -> Alert:
    history = f"\n            and {rec.requests_rate(rec.BASE_WINDOW)} offset {{short}}" if burn.needs_history else ""
    clauses = [f"""
        (
          {rec.burn_rate(w.long)} > {w.factor:g}
            and {rec.burn_rate(w.short)} > {w.factor:g}
            and {rec.requests_rate(w.long)} >= 1/{round(1 / cfg.BURN_MIN_CALLS_PER_S)}"""
               + history.format(short=w.short)
               + "\n        )" for w in burn.windows]
    how = " or ".join(f"{w.factor:g}x over {cfg.spoken(w.long)} and {cfg.spoken(w.short)} ({w.budget_spent:.0%} of "
                      f"the budget in {cfg.spoken(w.long)})" for w in burn.windows)
    verb = "Pages" if burn.severity == "critical" else "Tickets"
    target = _objective_text(cfg.AVAILABILITY_OBJECTIVE, "humanizePercentage")
    return Alert(
        burn.name, "\n        or".join(clauses), burn.severity, family="llm_error_budget_burn",
        summary=f"{APP} burns its error budget on {MODEL} {VALUE_1}x too fast",
        description=f"""
            Calls from {APP} to {PROVIDER}/{MODEL} fail often
            enough to spend their {cfg.spoken(cfg.SLO_PERIOD, adjective=True)} error budget (availability
            objective {target})
            {VALUE_1} times faster than sustainable. {verb} at {how}.""",
        dashboard=uids.SLO, subject=rec.burn_rate(burn.windows[0].long),
        fires_when="error-budget burn rate of an app and model against its availability objective (default "
                   f"{cfg.AVAILABILITY_OBJECTIVE.default:.1%}) > "
                   + " or > ".join(f"{w.factor:g}× over {w.long} and {w.short}" for w in burn.windows)
                   + f", with ≥ {round(cfg.BURN_MIN_CALLS_PER_S * 60)} call/min"
                   + (", once the pair has called for the short window" if burn.needs_history else ""),
        comment="""
            Multi-window, multi-burn-rate alerts on each pair's availability objective (Google SRE
            workbook, "Alerting on SLOs", table 5-8). $value is the burn rate of the long window.""" + (
            """ A window pair
            counts once the app and model have called for its short window (`offset`): until then the
            long window holds minutes of history, not days.""" if burn.needs_history else ""))


def _latency_alert(name: str, objective: cfg.Objective, spec: contract.MetricSpec, what: str, how_long: str) -> Alert:
    gate = cfg.LATENCY_MIN_CALLS_PER_S
    measured = rec.p95(spec)
    return Alert(
        name, f"""
            {measured}
              > {rec.resolved(objective)}
            and on ({rec.PAIR})
              {rec.requests_rate("5m")} >= {gate:g}
            """, "warning",
        summary=f"P95 {what} of {APP} on {MODEL} is {DURATION}",
        description=f"""
            95% of {APP}'s calls to {PROVIDER}/{MODEL} over
            the last 5 minutes {how_long} {DURATION} (objective
            {_objective_text(objective, "humanizeDuration")}, for {cfg.spoken(cfg.FOR[name])}).""",
        dashboard=uids.LATENCY, reads=(spec.name,), subject=measured,
        fires_when=f"{objective.title} of an app and model over 5 min > its objective "
                   f"(default {_seconds_text(objective.default)}), at ≥ {gate:g} calls/s")


def _seconds_text(value: float) -> str:
    return f"{value * 1000:g} ms" if value < 1 else f"{value:g} s"


def latency() -> Group:

    return Group("llm-alerts-latency", (
        _latency_alert("LLMLatencyP95High", cfg.LATENCY_OBJECTIVE, contract.DURATION,
                       "latency", "took up to"),
        _latency_alert("LLMTimeToFirstTokenP95High", cfg.TTFT_OBJECTIVE, contract.TTFT,
                       "time to first token", "(streamed) waited up to"),
        _latency_alert("LLMTimePerOutputTokenP95High", cfg.TPOT_OBJECTIVE, contract.TPOT,
                       "time per output token", "(streamed) generated a token every"),
    ), comment="""
        Latency objectives per app and model: P95 of end-to-end duration, time to first token and time
        per output token, each against the pair's own objective.""")


def _budget_description(warning: bool) -> str:
    dept = ("department",)
    spent = _value_of("department:llm_cost_usd:increase1d", dept, PRINTF_2)
    budget = _value_of("department:llm_budget_usd:daily", dept, PRINTF_0)
    tail = f" (warning at {cfg.DAILY_BUDGET_WARNING:.0%})" if warning else ""
    return f"""
        {DEPARTMENT} spent ${spent} in the last 24 hours, {RATE} of its daily budget of
        ${budget}{tail}."""


def budgets() -> Group:
    usage = "department:llm_budget_daily_usage:ratio"
    dept = ("department",)
    summary = f"{DEPARTMENT} has spent {RATE} of its daily budget"
    return Group("llm-alerts-budgets", (
        Alert("LLMDailyBudgetNearlySpent", f"{usage} >= {cfg.DAILY_BUDGET_WARNING:g}", "warning",
              family="llm_daily_budget", summary=summary, description=_budget_description(True),
              dashboard=uids.COST, reads=("llm_cost_usd", "llm_budget_usd"),
              fires_when=f"a department's last-24 h spend ≥ {cfg.DAILY_BUDGET_WARNING:.0%} of its daily budget"),
        Alert("LLMDailyBudgetExceeded", f"{usage} >= {cfg.DAILY_BUDGET_CRITICAL:g}", "critical",
              family="llm_daily_budget", summary=summary, description=_budget_description(False),
              dashboard=uids.COST, reads=("llm_cost_usd", "llm_budget_usd"),
              fires_when=f"a department's last-24 h spend ≥ {cfg.DAILY_BUDGET_CRITICAL:.0%} of its daily budget "
                         "(silences its warning twin)"),
        Alert("LLMMonthlyBudgetForecastExceeded",
              f"department:llm_budget_monthly_forecast:ratio > {cfg.MONTHLY_FORECAST_MAX:g}", "warning",
              summary=f"{DEPARTMENT} is on course to spend {RATE} of its monthly budget",
              description=f"""
                At the mean daily spend of the last {cfg.spoken(cfg.FORECAST_RATE_WINDOW)},
                {DEPARTMENT} would spend
                ${_value_of("department:llm_cost_usd:forecast_month", dept, PRINTF_0)} this month,
                {RATE} of its monthly budget of
                ${_value_of("department:llm_budget_usd:monthly", dept, PRINTF_0)}.""",
              dashboard=uids.COST, reads=("llm_cost_usd", "llm_budget_usd"),
              fires_when=f"mean daily spend of the last {cfg.FORECAST_RATE_WINDOW} × days in the month > "
                         f"{cfg.MONTHLY_FORECAST_MAX:.0%} of the monthly budget"),
        Alert("LLMExpensiveRequest",
              f"sum by (job, provider, model, app_id) (increase({rec.EXPENSIVE_REQUESTS}[5m])) > 0",
              "warning",
              summary=f"{APP} made calls to {MODEL} costing more than "
                      f"${cfg.EXPENSIVE_REQUEST_USD:g} each",
              description=f"""
                About {VALUE_0} call(s) from {APP} to
                {PROVIDER}/{MODEL} cost more than ${cfg.EXPENSIVE_REQUEST_USD:g} each in
                the last 5 minutes (from the llm_request_cost_usd histogram).""",
              dashboard=uids.COST, reads=("llm_request_cost_usd",),
              fires_when=f"any single call above ${cfg.EXPENSIVE_REQUEST_USD:g}"),
        Alert("LLMUnpricedRequests",
              f"sum by (job, model) (increase(llm_unpriced_requests_total[{cfg.UNPRICED_WINDOW}])) > 0", "warning",
              summary=f"Calls to {MODEL} have no price: spend is under-reported",
              description=f"""
                {VALUE_0} calls to {MODEL} in the last
                {cfg.spoken(cfg.UNPRICED_WINDOW)}
                had no entry in the pricing file, so their cost is missing from spend and budgets.""",
              dashboard=uids.COST, reads=("llm_unpriced_requests",),
              fires_when="calls to a model missing from the pricing file"),
        _token_anomaly(),
    ))


def _token_anomaly() -> Alert:
    window = cfg.TOKEN_BASELINE_WINDOW
    rate, mean = "department:llm_tokens:rate5m", f"department:llm_tokens:rate5m_avg{window}"
    stddev = f"department:llm_tokens:rate5m_stddev{window}"
    dept = ("department",)
    return Alert(
        "LLMTokenUsageAnomaly", f"""
            (
              {rate} / {mean} > {cfg.TOKEN_ANOMALY_FACTOR:g}
                and {rate}
                  > {mean} + {cfg.TOKEN_ANOMALY_SIGMAS:g} * {stddev}
            )
            and on (department) {rate} offset 23h
            """, "warning",
        summary=f"{DEPARTMENT} uses {VALUE_1}x its usual tokens per second",
        description=f"""
            {DEPARTMENT} consumed {_value_of(rate, dept, PRINTF_0)} tokens/s over the
            last 5 minutes, {VALUE_1} times its {cfg.spoken(window, adjective=True)} mean of
            {_value_of(mean, dept, PRINTF_0)} tokens/s and more than {cfg.TOKEN_ANOMALY_SIGMAS:g}
            standard deviations above it.""",
        dashboard=uids.COST,
        fires_when=f"a department's tokens/s > {cfg.TOKEN_ANOMALY_FACTOR:g}× its {window} mean and > mean + "
                   f"{cfg.TOKEN_ANOMALY_SIGMAS:g}σ",
        comment=f"""
            Tokens per second of a department against its own last {window}: more than
            {cfg.TOKEN_ANOMALY_FACTOR:g} times the mean AND more than {cfg.TOKEN_ANOMALY_SIGMAS:g} standard
            deviations above it. Needs a day of history first (the offset 23h clause), so a fresh install
            or a brand-new department never fires.""")


def traffic() -> Group:
    silence, baseline = cfg.TRAFFIC_SILENCE, cfg.TRAFFIC_BASELINE_MIN_CALLS_PER_S
    on = "on (job, app_id, department)"
    return Group("llm-alerts-traffic", (Alert(
        "LLMTrafficStopped", f"""
            sum by (job, app_id, department) ({rec.requests_rate(silence)}) == 0
              and {on} app:llm_requests:rate5m_avg1h > {baseline:g}
              unless {on} app:llm_requests:rate5m_avg1h offset 23h < {baseline:g}
            """, "warning",
        summary=f"{APP} stopped calling LLMs",
        description=f"""
            {APP} ({DEPARTMENT}) made {VALUE} LLM calls in the last
            {cfg.spoken(silence)}, after {_value_of("app:llm_requests:rate5m_avg1h", ("job", "app_id"), PRINTF_1)}
            calls/s on average over the last hour.""",
        dashboard=uids.OVERVIEW, subject=rec.requests_rate(silence),
        fires_when=f"an app that averaged > {baseline:g} calls/s over the last hour makes no call for {silence} "
                   "(unless the same hour yesterday was quiet)",
        comment=f"""
            No call at all in {silence} from an app that averaged more than {baseline:g} calls/s over the last
            hour (so silence is not chance), unless the hour that followed this moment yesterday was
            quiet too (apps that stop every night: the `offset 23h` looks at [now-24h, now-23h]).
            Without yesterday's data the recent hour decides."""),))


def gpu() -> Group:
    minimum = cfg.GPU_UTILIZATION_MIN
    return Group("llm-alerts-gpu", (Alert(
        "LLMGPUUnderutilized", f"""
            {rec.GPU_SIGNALS["utilization"]} < {minimum:g}
              unless on (job, instance) llm_gpu_up == 0
            """, "warning",
        summary=f"GPU {GPU_INDEX} on {INSTANCE} is {RATE} busy",
        description=f"""
            GPU {GPU_INDEX} ({GPU_NAME}, {GPU_UUID}) has been below
            {minimum:.0%} utilisation for {cfg.spoken(cfg.FOR["LLMGPUUnderutilized"])} (now
            {RATE}): self-hosted
            capacity is paid for but idle.""",
        dashboard=uids.GPU, reads=("llm_gpu_utilization_ratio",), subject=rec.GPU_SIGNALS["utilization"],
        fires_when=f"a GPU below {minimum:.0%} utilisation (silent only while its exporter reports the GPUs "
                   "unreadable)",
        comment="""
            Silent only where the GPUs are known to be unreadable (llm_gpu_up == 0): a source that
            exposes utilisation without llm_gpu_up still raises it."""),))


def quality() -> Group:
    minimum, maximum = cfg.QUALITY_SCORE_MIN, cfg.NEGATIVE_FEEDBACK_MAX
    per_hour = cfg.FEEDBACK_MIN_PER_HOUR
    return Group("llm-alerts-quality", (
        Alert("LLMQualityScoreLow", f"""
                app:llm_quality_score:min < {minimum:g}
                  and on (job, app_id) sum by (job, app_id) (app:llm_requests:rate5m) > 0
                """, "warning",
              summary=f"Quality score of {APP} fell to {VALUE_2}",
              description=f"""
                The rolling quality score of {APP}'s answers is {VALUE_2}
                out of 5 (threshold {minimum:g} for {cfg.spoken(cfg.FOR["LLMQualityScoreLow"])}, while the app
                has traffic).""",
              dashboard=uids.ERRORS, reads=("llm_quality_score",), subject="app:llm_quality_score:min",
              fires_when=f"an app's rolling quality score < {minimum:g} while it has traffic"),
        Alert("LLMNegativeFeedbackHigh", f"""
                app:llm_feedback_negative_ratio:rate1h > {maximum:g}
                  and app:llm_feedback:rate1h >= {per_hour:g} / 3600
                """, "warning",
              summary=f"{RATE} of {APP}'s feedback is negative",
              description=f"""
                {RATE} of the user ratings of {APP} over the last hour were negative
                (threshold {maximum:.0%} for {cfg.spoken(cfg.FOR["LLMNegativeFeedbackHigh"])}, with at least
                {per_hour:g} ratings an hour).""",
              dashboard=uids.ERRORS, reads=("llm_feedback",), subject="app:llm_feedback_negative_ratio:rate1h",
              fires_when=f"> {maximum:.0%} negative feedback over 1 h (≥ {per_hour:g} ratings)"),
    ))


def groups() -> tuple[Group, ...]:
    return (targets(), errors(), latency(), budgets(), traffic(), gpu(), quality())
