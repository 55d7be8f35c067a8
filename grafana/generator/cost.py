"""Cost and budgets: who spends what on which model, against which budget, and what it will cost."""

from __future__ import annotations

from llm_exporter import contract
from prometheus.generator import recording

from . import common as c
from .builder import (
    HIDDEN_COLUMNS,
    NON_NEGATIVE,
    Dashboard,
    PromQuery,
    bargauge,
    heatmap,
    override,
    stat,
    table,
    timeseries,
)

F = c.SEL_FULL
D = c.SEL_DEPT
COST_RATE = f"{recording.cost('rate', '5m')}{{{F}}}"
COST_1D = f"{recording.cost('increase', '1d')}{{{F}}}"
REQUEST_RATE = f"{recording.requests_rate('5m')}{{{F}}}"
TOKEN_RATE = f"{recording.tokens('rate', '5m')}{{{F}}}"
OVER = f"{recording.EXPENSIVE_REQUESTS}{{{c.SEL_OWN}}}"  # per exporter series: no source label


def build() -> Dashboard:
    budget = c.upper(c.BUDGET_CRITICAL, c.BUDGET_WARNING)
    expensive = f"${c.EXPENSIVE_USD:g}"
    panels = [
        stat("Spend, last 24 h", PromQuery(f"sum({COST_1D})"), unit="currencyUSD", decimals=0, w=5,
             description="Each source's own spend where it reports one (this project's exporter, LiteLLM, OpenLIT), "
                         "else its tokens at the pricing file's prices (or its GPU hours, for a self-hosted model "
                         "with a GPU-hour price): docs/pricing.md."),
        stat("Spend rate", PromQuery(f"sum({COST_RATE}) * 3600"), unit="currencyUSD", decimals=2, w=5,
             description="US dollars per hour at the last 5 minutes' rate."),
        stat("Cost per request", PromQuery(c.ratio(f"sum({COST_RATE})", f"sum({REQUEST_RATE})")),
             unit="currencyUSD", decimals=4, w=5, description="Mean over the last 5 minutes, failed calls included."),
        stat("Cost per 1K tokens", PromQuery(c.ratio(f"1000 * sum({COST_RATE})", f"sum({TOKEN_RATE})")),
             unit="currencyUSD", decimals=4, w=5, description="Input and output tokens together, last 5 minutes."),
        stat(f"Calls over {expensive}, last 24 h", PromQuery(c.own(f"sum(increase({OVER}[1d]))")), unit="none",
             decimals=0, w=4, color_mode="background", thresholds=c.upper(1),
             description=f"Single calls that cost more than {expensive} (LLMExpensiveRequest fires on any). Only "
                        "sources that price each call have it: this project's exporter and library."),
        stat("Unpriced calls, last hour", PromQuery(
            c.own(f"(sum(increase(llm_unpriced_requests_total{{{c.SEL_OWN_MODEL}}}[1h]))"
                  f" or 0 * sum(rate(llm_requests_total{{{c.SEL_OWN_MODEL}}}[5m])))")), unit="none",
             decimals=0, w=4, color_mode="background", thresholds=c.upper(1),
             description="Calls to models missing from pricing.yaml: their cost is not counted "
                         "(LLMUnpricedRequests). Add the model's price. Counted by this project's "
                         "exporter and library only."),

        bargauge("Daily budget used, last 24 h", PromQuery(
            f"department:llm_budget_daily_usage:ratio{{{D}}}", legend="{{department}}"),
            unit="percentunit", decimals=0, min=0, max=1, bounds=NON_NEGATIVE, w=8, thresholds=budget,
            description=f"Rolling 24 h spend over the daily budget. Orange from {c.BUDGET_WARNING:.0%} "
                        f"(LLMDailyBudgetNearlySpent), red from {c.BUDGET_CRITICAL:.0%} (LLMDailyBudgetExceeded)."),
        timeseries("Daily budget used over time", PromQuery(
            f"department:llm_budget_daily_usage:ratio{{{D}}}", legend="{{department}}"),
            unit="percentunit", decimals=0, bounds=NON_NEGATIVE, w=8, thresholds=budget, threshold_style="line"),
        table("Month-end forecast", *(PromQuery(expr, instant=True, format="table") for expr in (
            f"department:llm_cost_usd:forecast_month{{{D}}}",
            f"department:llm_budget_usd:monthly{{{D}}}",
            f"department:llm_budget_monthly_forecast:ratio{{{D}}}",
        )), unit="currencyUSD", decimals=0, w=8, sort_by="Forecast / budget", bounds=NON_NEGATIVE,
            description="A whole month at the mean daily spend of the last 7 days, against the monthly budget "
                        f"(LLMMonthlyBudgetForecastExceeded above {c.FORECAST_MAX:.0%}).",
            transformations=[
                {"id": "merge", "options": {}},
                {"id": "organize", "options": {
                    "excludeByName": HIDDEN_COLUMNS,
                    "renameByName": {"department": "Department", "Value #A": "Forecast", "Value #B": "Monthly budget",
                                     "Value #C": "Forecast / budget"}}},
            ],
            overrides=[override("byName", "Forecast / budget", {
                "unit": "percentunit", "decimals": 0, "thresholds": c.upper(c.FORECAST_MAX),
                "custom.cellOptions": {"type": "color-background"}})]),

        timeseries("Spend by department ($/h)", PromQuery(
            f"sum by (department) (department:llm_cost_usd:rate5m{{{D}}}) * 3600", legend="{{department}}"),
            unit="currencyUSD", decimals=2, stack=True, w=8),
        timeseries("Spend by model ($/h)", PromQuery(f"sum by (model) ({COST_RATE}) * 3600", legend="{{model}}"),
                   unit="currencyUSD", decimals=2, stack=True, w=8),
        timeseries("Spend by app ($/h)", PromQuery(f"sum by (app_id) ({COST_RATE}) * 3600", legend="{{app_id}}"),
                   unit="currencyUSD", decimals=2, stack=True, w=8),

        bargauge("Spend by app, last 24 h", PromQuery(
            f"sort_desc(sum by (app_id) ({COST_1D}))", legend="{{app_id}}"), unit="currencyUSD", decimals=0, w=8),
        bargauge("Spend by model, last 24 h", PromQuery(
            f"sort_desc(sum by (model) ({COST_1D}))", legend="{{model}}"), unit="currencyUSD", decimals=0, w=8),
        bargauge("Spend by department, last 24 h", PromQuery(
            f"sort_desc(department:llm_cost_usd:increase1d{{{D}}})", legend="{{department}}"),
            unit="currencyUSD", decimals=0, w=8),

        timeseries("Cost per request by model", PromQuery(
            c.ratio(f"sum by (model) ({COST_RATE})", f"sum by (model) ({REQUEST_RATE})"), legend="{{model}}"),
            unit="currencyUSD", decimals=4, w=12,
            description="A self-hosted model costs what its GPU-hour price in the pricing file says, shared out "
                        "by tokens (0 without one: the GPUs are paid for separately)."),
        timeseries("Cost per 1K tokens by model", PromQuery(
            c.ratio(f"1000 * sum by (model) ({COST_RATE})", f"sum by (model) ({TOKEN_RATE})"), legend="{{model}}"),
            unit="currencyUSD", decimals=4, w=12),

        heatmap("Request cost distribution", c.distribution(contract.REQUEST_COST), unit="currencyUSD", w=12, h=9,
                description="Priced calls per cost bucket, in cells of a minute or more. The top rows are the most "
                            "expensive calls: their exemplar dots open the trace."),
        timeseries("P99 request cost by model", PromQuery(
            c.quantile(0.99, contract.REQUEST_COST, "model"), legend="{{model}}"),
            unit="currencyUSD", decimals=3, w=6, h=9),
        table(f"Calls over {expensive} by app and model, last 24 h", PromQuery(
            "sort_desc(" + c.own(f"sum by (app_id, model) (increase({OVER}[1d]))") + ")", instant=True, format="table"),
            unit="none", decimals=0, w=6, h=9, sort_by="Calls", thresholds=c.upper(1),
            transformations=[{"id": "organize", "options": {
                "excludeByName": HIDDEN_COLUMNS,
                "renameByName": {"app_id": "App", "model": "Model", "Value": "Calls"}}}],
            overrides=[override("byName", "Calls", {"custom.cellOptions": {"type": "color-text"}})]),
    ]
    return Dashboard(
        c.COST, "LLM Cost and budgets",
        "Spend by department, model and app; daily budget consumption; month-end forecast; cost per request "
        "and per 1K tokens; the most expensive calls.",
        panels, c.variables("source", "department", "app_id", "model"), tags=["cost"], time_from="now-6h",
    )
