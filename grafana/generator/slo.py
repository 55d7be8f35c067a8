"""SLO: are we meeting the availability objective, how much error budget is left, how fast is it burning?"""

from __future__ import annotations

import math

from prometheus.generator import config as cfg
from prometheus.generator import recording

from . import common as c
from .builder import HIDDEN_COLUMNS, Dashboard, PromQuery, bargauge, override, stat, table, text, thresholds, timeseries

S = c.SEL_CALL
BUDGET = "app_model:llm_error_budget:ratio"  # per pair: 1 - its availability objective
PAIR_LABELS = recording.PAIR
BURN_BOUNDS = (0.0, math.inf)  # pairs with a laxer objective than the default burn slower, stricter ones faster
REMAINING_BOUNDS = (-math.inf, 1.0)  # negative once the budget is overspent


def _allowed(calls: str) -> str:
    """Failures the pairs' availability objectives allow: each pair's calls times its budget."""
    return f"{calls}\n    * on ({PAIR_LABELS}) group_left {BUDGET}"


PERIOD = cfg.SLO_PERIOD


def error_ratio_30d(by: str = "") -> str:
    """Failed over all calls over the SLO period (recorded every 5 minutes: instant queries)."""
    group = f" by ({by})" if by else ""
    return c.ratio(f"sum{group} ({recording.errors_rate(PERIOD)}{{{S}}})",
                   f"sum{group} ({recording.requests_rate(PERIOD)}{{{S}}})")


def budget_remaining_30d(by: str = "") -> str:
    """1 - failures over the failures the pairs' objectives allow, over the SLO period."""
    group = f" by ({by})" if by else ""
    return "1 - " + c.ratio(f"sum{group} ({recording.errors_rate(PERIOD)}{{{S}}})",
                            f"sum{group} ({_allowed(f'{recording.requests_rate(PERIOD)}{{{S}}}')})")


def burn(window: str, by: str = "") -> str:
    """Burn rate over `window`: failures over the failures the pairs' objectives allow (summed
    before dividing, so a group of pairs with different objectives is weighted by their calls)."""
    group = f" by ({by})" if by else ""
    return c.ratio(f"sum{group} (app_model:llm_request_errors:rate{window}{{{S}}})",
                   f"sum{group} ({_allowed(f'app_model:llm_requests:rate{window}{{{S}}}')})")


def build() -> Dashboard:
    slo = c.lower(c.SLO_TARGET)
    remaining = thresholds("red", (0, "orange"), (0.25, "green"))
    intro = (f"Objective: by default **{c.SLO_TARGET:.1%}** of LLM calls succeed over 30 days; the objectives "
             "file sets it per model and app, and every burn rate here weighs each app and model by its own. "
             "A burn rate of 1 spends exactly the 30-day error budget; "
             "the burn-rate alerts need both windows of a pair above the factor: "
             + "; ".join(f"{alert.removeprefix('LLMErrorBudget')} {long}/{short} > {factor:g}"
                         for alert, long, short, factor in c.BURN_PAIRS) + ".")
    panels = [
        text("About this SLO", intro, h=3),
        stat("Default availability objective", PromQuery("llm:slo_availability_target"), unit="percentunit",
             decimals=2, w=4, graph=False),
        stat("Availability, 30 days", PromQuery(f"1 - {error_ratio_30d()}", instant=True), unit="percentunit",
             decimals=3, w=5, thresholds=slo, graph=False),
        stat("Availability, last hour", PromQuery("1 - " + c.ratio(
            f"sum(app_model:llm_request_errors:rate1h{{{S}}})", f"sum(app_model:llm_requests:rate1h{{{S}}})")),
            unit="percentunit", decimals=3, w=5, thresholds=slo),
        stat("Error budget remaining, 30 days", PromQuery(budget_remaining_30d(), instant=True),
             unit="percentunit", decimals=1, w=5, bounds=REMAINING_BOUNDS, thresholds=remaining, graph=False,
             description="1 = untouched, 0 = spent, negative = overspent."),
        stat("Burn rate, last hour", PromQuery(burn("1h")), unit="none", decimals=2, w=5, bounds=BURN_BOUNDS,
             thresholds=c.upper(c.BURN_PAIRS[0][3], c.BURN_PAIRS[3][3]),
             description="Orange from the slowest alerting factor, red from the fastest (1 h window)."),

        bargauge("Availability by model, 30 days", PromQuery(
            f"1 - {error_ratio_30d('model')}", legend="{{model}}", instant=True),
            unit="percentunit", decimals=3, min=round(2 * c.SLO_TARGET - 1, 6), max=1, w=12, thresholds=slo),
        bargauge("Error budget remaining by model, 30 days", PromQuery(
            budget_remaining_30d("model"), legend="{{model}}", instant=True),
            unit="percentunit", decimals=0, min=-1, max=1, w=12, bounds=REMAINING_BOUNDS, thresholds=remaining),
    ]
    for alert, long, short, factor in c.BURN_PAIRS:
        severity = "page" if alert.endswith("Fast") else "ticket"
        panels.append(timeseries(
            f"Burn rate {long} and {short} ({severity} above {factor:g})",
            PromQuery(burn(long), legend=long), PromQuery(burn(short), legend=short),
            unit="none", decimals=2, w=6, bounds=BURN_BOUNDS, thresholds=c.upper(factor), threshold_style="line",
            description=f"{alert} fires when both windows stay above {factor:g}."))
    panels.append(table(
        "Burn rate by model and window",
        *(PromQuery(burn(w, "model"), instant=True, format="table") for w in c.BURN_WINDOWS),
        unit="none", decimals=2, w=24, h=8, bounds=BURN_BOUNDS,
        thresholds=c.upper(c.BURN_PAIRS[0][3], c.BURN_PAIRS[3][3]),
        transformations=[
            {"id": "merge", "options": {}},
            {"id": "organize", "options": {
                "excludeByName": HIDDEN_COLUMNS,
                "renameByName": {"model": "Model",
                                 **{f"Value #{chr(ord('A') + i)}": w for i, w in enumerate(c.BURN_WINDOWS)}}}},
        ],
        overrides=[override("byType", "number", {"custom.cellOptions": {"type": "color-text"}})]))
    return Dashboard(
        c.SLO, "LLM SLO",
        "Availability against the SLO target, error budget remaining and multi-window burn rates.",
        panels, c.variables("source", "app_id", "model"), tags=["slo"], time_from="now-24h",
    )
