"""A seeded LLM fleet. It only ever produces `LLMCall`s and hands them to the recording path;
it never touches a metric itself, so mock traffic exercises exactly what real traffic does."""

from __future__ import annotations

import asyncio
import math
import random
import time
import uuid
from collections import deque
from collections.abc import Callable

from ..recorder import LLMCall, Recorder
from .fleet import APPS, MODELS, RUNAWAY_APP, App, ModelProfile
from .scenarios import SCENARIOS, Scenario, UnknownScenarioError

TICK_S = 0.05
SELF_HOSTED_WINDOW_S = 60.0
FALLBACK_MODEL = "gpt-4o-mini"  # where self-hosted traffic goes when the GPUs are bypassed

# Share of each error type among failed calls, and how long a call takes to fail that way.
ERROR_MIX = {
    "rate_limit": 0.30, "server_error": 0.35, "timeout": 0.15, "content_filter": 0.05,
    "context_length_exceeded": 0.05, "invalid_request": 0.05, "authentication": 0.03, "other": 0.02,
}
ERROR_DURATION_S = {
    "rate_limit": 0.08, "server_error": 1.5, "timeout": 60.0, "content_filter": 0.6,
    "context_length_exceeded": 0.15, "invalid_request": 0.1, "authentication": 0.05, "other": 0.8,
}
OTHER_FLAGS = (("refusal", 0.01), ("pii", 0.002), ("toxicity", 0.001))
SCORED_SHARE = 0.25
FEEDBACK_SHARE = 0.08


def _lognormal(rng: random.Random, median: float, sigma: float) -> float:
    return median * math.exp(rng.gauss(0.0, sigma))


def _poisson(rng: random.Random, lam: float) -> int:
    if lam <= 0:
        return 0
    if lam > 30:  # normal approximation; exact sampling is pointless at this size
        return max(0, round(rng.gauss(lam, math.sqrt(lam))))
    threshold, k, product = math.exp(-lam), 0, rng.random()
    while product > threshold:
        k += 1
        product *= rng.random()
    return k


# What happens around the LLM call, for the span tree only (telemetry/spans.py): RAG apps retrieve
# documents first, agents run a tool whose result goes into the call. (share, tool names)
RETRIEVAL_SHARE = {"doc-search": 1.0, "support-bot": 0.7, "research-agent": 1.0}
TOOLS = {"code-assistant": (0.3, ("run_tests", "code_search")), "research-agent": (0.6, ("web_search", "fetch_url")),
         "runaway-agent": (1.0, ("web_search",))}


def _add_phases(call: LLMCall) -> None:
    """Retrieval and tool phases in `call.extra`, drawn from an RNG seeded by the call's trace id,
    so the fleet's own seeded stream (and every calibrated scenario figure) is left untouched."""
    rng = random.Random(int(call.trace_id or "0", 16))
    if rng.random() < RETRIEVAL_SHARE.get(call.app_id, 0.0):
        call.extra["retrieval_s"] = _lognormal(rng, 0.12, 0.5)
        call.extra["retrieval_documents"] = rng.randint(3, 12)
    share, tools = TOOLS.get(call.app_id, (0.0, ()))
    if tools and rng.random() < share:
        call.extra["tool"] = rng.choice(tools)
        call.extra["tool_s"] = _lognormal(rng, 0.8, 0.6)


class Simulator:
    """Generates calls at `rps` (shaped over the day) under the active scenario."""

    def __init__(
        self,
        recorder: Recorder,
        *,
        rps: float,
        seed: int = 42,
        scenario: str = "normal",
        clock: Callable[[], float] = time.time,
    ) -> None:
        if rps < 0 or not math.isfinite(rps):
            raise ValueError(f"mock request rate must be a finite number >= 0, got {rps}")
        self.recorder = recorder
        self.rps = rps
        self.clock = clock
        self.rng = random.Random(seed)
        self.scenario: Scenario = self._lookup(scenario)
        self.started_at = clock()
        self._self_hosted_starts: deque[float] = deque()

    @staticmethod
    def _lookup(name: object) -> Scenario:
        if not isinstance(name, str) or name not in SCENARIOS:
            raise UnknownScenarioError(name)
        return SCENARIOS[name]

    def set_scenario(self, name: object) -> Scenario:
        self.scenario = self._lookup(name)
        return self.scenario

    # -- traffic ---------------------------------------------------------------------------

    @staticmethod
    def traffic_shape(now: float) -> float:
        """Daily shape between 0.75 (04:00 UTC) and 1.15 (16:00 UTC)."""
        hour = (now % 86_400) / 3_600
        return 0.95 + 0.2 * math.sin((hour - 10) / 24 * 2 * math.pi)

    def arrival_rate(self, now: float) -> float:
        return self.rps * self.traffic_shape(now) * self.scenario.traffic_factor

    def arrivals(self, now: float, dt: float) -> list[LLMCall]:
        """The calls that start in the next `dt` seconds, fleet traffic and runaway agent together."""
        calls = [self.make_call(now) for _ in range(_poisson(self.rng, self.arrival_rate(now) * dt))]
        runaway = self.scenario.runaway_rps * self.scenario.traffic_factor * dt
        calls += [self.make_call(now, RUNAWAY_APP) for _ in range(_poisson(self.rng, runaway))]
        return calls

    def self_hosted_rate(self, now: float) -> float:
        """Calls per second recently sent to the self-hosted model (drives the mock GPUs)."""
        starts = self._self_hosted_starts
        while starts and starts[0] < now - SELF_HOSTED_WINDOW_S:
            starts.popleft()
        window = min(SELF_HOSTED_WINDOW_S, max(now - self.started_at, 1.0))
        return len(starts) / window

    def nominal_self_hosted_rate(self) -> float:
        """Self-hosted calls per second at the daily peak under normal traffic: 100% GPU load."""
        share = sum(a.weight * w for a in APPS for m, w in a.models if MODELS[m].self_hosted)
        return self.rps * share * 1.15

    # -- one call --------------------------------------------------------------------------

    def _pick_app(self) -> App:
        return self.rng.choices(APPS, weights=[a.weight for a in APPS])[0]

    def _pick_model(self, app: App) -> ModelProfile:
        names, weights = zip(*app.models, strict=True)
        profile = MODELS[self.rng.choices(names, weights=weights)[0]]
        if profile.self_hosted and self.rng.random() >= self.scenario.self_hosted_share:
            profile = MODELS[FALLBACK_MODEL]
        return profile

    def make_call(self, now: float, app: App | None = None) -> LLMCall:
        """Draw one complete call. Pure apart from the seeded RNG and the self-hosted load log."""
        rng, scenario = self.rng, self.scenario
        app = app or self._pick_app()
        profile = self._pick_model(app)
        if profile.self_hosted:
            self._self_hosted_starts.append(now)
        streaming = rng.random() < app.streaming_share
        input_tokens = max(1, round(_lognormal(rng, app.input_tokens, 0.1 if app is RUNAWAY_APP else 0.4)))
        call = LLMCall(
            provider=profile.provider,
            model=profile.model,
            app_id=app.app_id,
            department=app.department,
            duration_s=0.0,
            streaming=streaming,
            trace_id=f"{rng.getrandbits(128):032x}",
            span_id=f"{rng.getrandbits(64):016x}",
            request_id=str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        )
        _add_phases(call)
        if rng.random() < scenario.error_probability:
            error_type = rng.choices(list(ERROR_MIX), weights=list(ERROR_MIX.values()))[0]
            call.error_type = error_type
            call.duration_s = _lognormal(rng, ERROR_DURATION_S[error_type], 0.2)
            if error_type == "timeout":
                call.duration_s = ERROR_DURATION_S["timeout"]
            call.finish_reason = "error"
            return call
        output_tokens = max(1, round(_lognormal(rng, profile.output_tokens, 0.45)))
        ttft = _lognormal(rng, profile.ttft_s * scenario.ttft_factor, 0.35)
        if scenario.ttft_queue_delay_s:
            ttft += _lognormal(rng, scenario.ttft_queue_delay_s, 0.3)
        tpot = _lognormal(rng, profile.tpot_s * scenario.tpot_factor, 0.25)
        call.input_tokens = input_tokens
        call.output_tokens = output_tokens
        call.duration_s = ttft + tpot * (output_tokens - 1)
        call.ttft_s = ttft if streaming else None
        call.finish_reason = "length" if rng.random() < 0.04 else "stop"
        self._add_quality(call)
        return call

    def _add_quality(self, call: LLMCall) -> None:
        rng, scenario = self.rng, self.scenario
        if rng.random() < SCORED_SHARE:
            call.quality_score = min(5.0, max(0.0, rng.gauss(scenario.quality_mean, 0.5)))
        if rng.random() < FEEDBACK_SHARE:
            call.feedback = "negative" if rng.random() < scenario.negative_feedback_share else "positive"
        flags = ["hallucination"] if rng.random() < scenario.hallucination_share else []
        flags += [reason for reason, share in OTHER_FLAGS if rng.random() < share]
        call.flags = tuple(flags)

    # -- running ---------------------------------------------------------------------------

    async def run(self) -> None:
        """Start calls as they arrive; each is recorded when its simulated duration has passed."""
        loop = asyncio.get_running_loop()
        last = self.clock()
        while True:
            await asyncio.sleep(TICK_S)
            now = self.clock()
            for call in self.arrivals(now, now - last):
                self.recorder.call_started(call.provider, call.model)
                loop.call_later(call.duration_s, self._finish, call)
            last = now

    def _finish(self, call: LLMCall) -> None:
        self.recorder.call_finished(call.provider, call.model)
        self.recorder.record(call)
