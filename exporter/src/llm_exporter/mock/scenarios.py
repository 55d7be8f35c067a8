"""Named fault scenarios. Each moves the signal its alert watches by a documented amount
(docs/scenarios.md); tests measure those amounts from /metrics."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    traffic_factor: float = 1.0
    error_probability: float = 0.003
    ttft_factor: float = 1.0
    ttft_queue_delay_s: float = 0.0
    tpot_factor: float = 1.0
    self_hosted_share: float = 1.0
    runaway_rps: float = 0.0
    quality_mean: float = 4.3
    negative_feedback_share: float = 0.08
    hallucination_share: float = 0.02
    # Every alert the scenario raises within two hours, after half an hour of normal traffic, with the
    # shipped rules and configuration (the README's scenario table; tests/test_scenario_alerts.py
    # replays the fleet through promtool to prove it).
    alerts: tuple[str, ...] = ()


SCENARIOS: dict[str, Scenario] = {
    s.name: s
    for s in (
        Scenario("normal", "Steady traffic, about 0.3% errors (inside the 99.5% SLO), healthy latency, "
                 "quality and GPUs."),
        Scenario("error_burst", "About 30% of calls fail (server errors, rate limits, timeouts).",
                 error_probability=0.30, alerts=("LLMErrorRatioHigh", "LLMErrorBudgetBurnFast",
                                                 "LLMErrorBudgetBurnSlow", "LLMLatencyP95High")),
        Scenario("latency_spike", "Providers queue requests: time to first token grows by ~8 s and "
                 "generation slows 5x.", ttft_queue_delay_s=8.0, tpot_factor=5.0,
                 alerts=("LLMLatencyP95High", "LLMTimeToFirstTokenP95High", "LLMTimePerOutputTokenP95High")),
        Scenario("budget_overrun", "A runaway agent in research re-sends a 150k-token context to "
                 "claude-opus-4 ten times a second (about $2.30 a call).", runaway_rps=10.0,
                 alerts=("LLMDailyBudgetNearlySpent", "LLMDailyBudgetExceeded", "LLMMonthlyBudgetForecastExceeded",
                         "LLMExpensiveRequest")),
        Scenario("gpu_idle", "Traffic moves off the self-hosted model: GPU utilisation falls to ~8%.",
                 self_hosted_share=0.0, alerts=("LLMGPUUnderutilized",)),
        Scenario("quality_drop", "Answers get worse: quality ~2, half the feedback negative, 15% flagged "
                 "as hallucinations.", quality_mean=2.0, negative_feedback_share=0.5, hallucination_share=0.15,
                 alerts=("LLMQualityScoreLow", "LLMNegativeFeedbackHigh")),
        Scenario("traffic_stop", "No calls at all, as when an upstream gateway dies.", traffic_factor=0.0,
                 alerts=("LLMTrafficStopped", "LLMGPUUnderutilized")),
    )
}


class UnknownScenarioError(ValueError):
    def __init__(self, name: object) -> None:
        super().__init__(f"unknown scenario {name!r}; valid scenarios: {', '.join(SCENARIOS)}")
