"""The one recording path: every LLM call, simulated or real, ends in `Recorder.record`.

Why not one prometheus_client metric object per family? A call touches a dozen series; resolving
each with `.labels(...)` costs a lock, a tuple and a dict lookup per family on every call. Here a
call resolves its label set once (one dict lookup after the first time), updates plain numbers
under one lock, and the families are built at scrape time by `collect()`. prometheus_client still
does all of the exposition (text and OpenMetrics, exemplars included).
"""

from __future__ import annotations

import bisect
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from . import contract
from .config import Budgets, Pricing
from .labels import LabelGuard, sanitise

log = logging.getLogger(__name__)

QUALITY_EWMA_WEIGHT = 0.05  # each scored response moves the rolling score 5% of the way


@dataclass(slots=True)
class LLMCall:
    """What happened in one LLM call. Times are seconds; tokens as billed by the provider.

    `error_type` is None for a successful call. `ttft_s` is set only when the first token's
    arrival was observed (streaming). Quality fields are optional and recorded when present.
    """

    provider: str
    model: str
    app_id: str
    department: str
    duration_s: float
    input_tokens: int = 0
    output_tokens: int = 0
    ttft_s: float | None = None
    error_type: str | None = None
    streaming: bool = False
    finish_reason: str | None = None
    trace_id: str | None = None
    span_id: str | None = None
    request_id: str | None = None
    quality_score: float | None = None
    feedback: str | None = None
    flags: tuple[str, ...] = ()
    operation: str = "chat"
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def tpot_s(self) -> float | None:
        """Mean time per output token after the first; only meaningful for streamed successes."""
        if self.error_type is not None or self.ttft_s is None or self.output_tokens < 2:
            return None
        return max(self.duration_s - self.ttft_s, 0.0) / (self.output_tokens - 1)


@dataclass(slots=True)
class RecordedCall:
    """The call as recorded: sanitised labels and the computed cost (None when unpriced)."""

    call: LLMCall
    provider: str
    model: str
    app_id: str
    department: str
    error_type: str | None
    cost_usd: float | None
    trace_kept: bool = False  # the trace policy kept this call's trace (its exemplars point at it)


Listener = Callable[[RecordedCall], None]


class _Histogram:
    """Per-bucket (non-cumulative) counts; the last slot is +Inf. Cumulated only when scraped."""

    __slots__ = ("bounds", "counts", "exemplars", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0
        self.exemplars: list[tuple[str, float, float] | None] = [None] * (len(bounds) + 1)

    def observe(self, value: float, trace_id: str | None, now: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.sum += value
        if trace_id:
            self.exemplars[index] = (trace_id, value, now)

    def buckets(self) -> list[tuple[str, float] | tuple[str, float, Exemplar]]:
        out: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
        running = 0
        edges = [floatToGoString(b) for b in self.bounds] + ["+Inf"]
        for edge, count, exemplar in zip(edges, self.counts, self.exemplars, strict=True):
            running += count
            if exemplar is None:
                out.append((edge, running))
            else:
                trace_id, value, ts = exemplar
                out.append((edge, running, Exemplar({"trace_id": trace_id}, value, ts)))
        return out


class _CallSeries:
    """Everything one (provider, model, app_id) label set accumulates, shared by its departments."""

    __slots__ = ("cost", "duration", "errors", "tpot", "ttft")

    def __init__(self) -> None:
        self.duration = _Histogram(contract.DURATION_BUCKETS)
        self.ttft = _Histogram(contract.TTFT_BUCKETS)
        self.tpot = _Histogram(contract.TPOT_BUCKETS)
        self.cost = _Histogram(contract.COST_BUCKETS)
        self.errors: dict[str, int] = {}


class _DepartmentSeries:
    """Counters of one (provider, model, app_id, department) label set."""

    __slots__ = ("calls", "cost_usd", "error", "input_tokens", "output_tokens", "success")

    def __init__(self, calls: _CallSeries) -> None:
        self.calls = calls
        self.success = 0
        self.error = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.cost_usd = 0.0


class Recorder:
    """Holds the exporter's state and turns it into metric families on scrape.

    Register it with a prometheus_client CollectorRegistry; `collect()` is the Collector API.
    Listeners (logs, traces) receive each recorded call after the metrics are updated.
    """

    def __init__(
        self,
        pricing: Pricing,
        budgets: Budgets,
        *,
        mode: str,
        version: str,
        guard: LabelGuard | None = None,
        gpu_source: GPUSource | None = None,
        scenario: Callable[[], str] | None = None,
    ) -> None:
        self.pricing = pricing
        self.budgets = budgets
        self.mode = mode
        self.version = version
        self.guard = guard or LabelGuard()
        self.gpu_source = gpu_source
        self.scenario = scenario
        self.listeners: list[Listener] = []
        # Decides, before exemplars are attached, whether a call's trace is kept (and may fill in
        # missing ids); None keeps every call that has a trace_id. Set by the telemetry package.
        self.trace_policy: Callable[[LLMCall], bool] | None = None
        self._lock = threading.Lock()
        self._by_department: dict[tuple[str, str, str, str], _DepartmentSeries] = {}
        self._by_call: dict[tuple[str, str, str], _CallSeries] = {}
        self._active: dict[tuple[str, str], int] = {}
        self._quality: dict[str, float] = {}
        self._feedback: dict[tuple[str, str], int] = {}
        self._flagged: dict[tuple[str, str], int] = {}
        self._unpriced: dict[str, int] = {}
        self._telemetry_dropped: dict[str, int] = dict.fromkeys(contract.TELEMETRY_SIGNALS, 0)
        self._notifications: dict[tuple[str, str, str], int] = {}

    # -- recording -------------------------------------------------------------------------

    def record(self, call: LLMCall) -> RecordedCall:
        """Record one finished LLM call into every metric it feeds; returns what was recorded."""
        guard = self.guard
        provider = guard.value("provider", call.provider)
        model = guard.value("model", call.model)
        app_id = guard.value("app_id", call.app_id)
        department = guard.value("department", call.department)
        error_type = call.error_type
        if error_type is not None and error_type not in contract.ERROR_TYPES:
            error_type = "other"
        cost = self.pricing.cost(call.model, call.input_tokens, call.output_tokens)
        tpot = call.tpot_s
        now = time.time()
        trace_kept = self.trace_policy(call) if self.trace_policy is not None else bool(call.trace_id)
        trace_id = call.trace_id if trace_kept else None  # no exemplar for a trace that is not exported
        newly_unpriced = False
        with self._lock:
            series = self._by_department.get((provider, model, app_id, department))
            if series is None:
                series = self._new_series(provider, model, app_id, department)
            calls = series.calls
            calls.duration.observe(call.duration_s, trace_id, now)
            if error_type is None:
                series.success += 1
            else:
                series.error += 1
                calls.errors[error_type] = calls.errors.get(error_type, 0) + 1
            if call.ttft_s is not None:
                calls.ttft.observe(call.ttft_s, trace_id, now)
            if tpot is not None:
                calls.tpot.observe(tpot, None, now)
            series.input_tokens += call.input_tokens
            series.output_tokens += call.output_tokens
            if cost is not None:
                series.cost_usd += cost
                calls.cost.observe(cost, trace_id, now)
            else:
                newly_unpriced = model not in self._unpriced
                self._unpriced[model] = self._unpriced.get(model, 0) + 1
            if call.quality_score is not None or call.feedback is not None or call.flags:
                self._record_quality_locked(app_id, call)
        if newly_unpriced:
            log.warning(
                "model has no price in the pricing file; its cost is not counted",
                extra={"event": "unpriced_model", "model": model},
            )
        recorded = RecordedCall(call, provider, model, app_id, department, error_type, cost, trace_kept)
        for listener in self.listeners:
            listener(recorded)
        return recorded

    def _new_series(self, provider: str, model: str, app_id: str, department: str) -> _DepartmentSeries:
        calls = self._by_call.get((provider, model, app_id))
        if calls is None:
            calls = self._by_call[(provider, model, app_id)] = _CallSeries()
        series = self._by_department[(provider, model, app_id, department)] = _DepartmentSeries(calls)
        return series

    def _record_quality_locked(self, app_id: str, call: LLMCall) -> None:
        if call.quality_score is not None:
            score = min(max(call.quality_score, 0.0), 5.0)
            previous = self._quality.get(app_id)
            self._quality[app_id] = score if previous is None else previous + QUALITY_EWMA_WEIGHT * (score - previous)
        if call.feedback in contract.FEEDBACK_RATINGS:
            key = (app_id, call.feedback)
            self._feedback[key] = self._feedback.get(key, 0) + 1
        for reason in call.flags:
            if reason in contract.FLAG_REASONS:
                key = (app_id, reason)
                self._flagged[key] = self._flagged.get(key, 0) + 1

    def call_started(self, provider: str, model: str) -> None:
        """Mark a call in flight (llm_active_requests); pair with `call_finished`."""
        key = (self.guard.value("provider", provider), self.guard.value("model", model))
        with self._lock:
            self._active[key] = self._active.get(key, 0) + 1

    def call_finished(self, provider: str, model: str) -> None:
        key = (self.guard.value("provider", provider), self.guard.value("model", model))
        with self._lock:
            self._active[key] = max(self._active.get(key, 0) - 1, 0)

    def telemetry_dropped(self, signal: str, count: int = 1) -> None:
        with self._lock:
            self._telemetry_dropped[signal] = self._telemetry_dropped.get(signal, 0) + count

    def alert_notification(self, receiver: str, status: str, alertname: str) -> None:
        key = (self.guard.value("receiver", receiver), sanitise(status), self.guard.value("alertname", alertname))
        with self._lock:
            self._notifications[key] = self._notifications.get(key, 0) + 1

    # -- exposition ------------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        """Nothing to pre-declare: avoids a full collect() at registration."""
        return ()

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # copy under the lock, format outside it: scrapes never stall recording
            families = [
                *self._collect_calls(),
                *self._collect_quality(),
                _filled(contract.UNPRICED, [((m,), n) for m, n in self._unpriced.items()]),
                _filled(contract.TELEMETRY_DROPPED, [((s,), n) for s, n in self._telemetry_dropped.items()]),
                _filled(contract.ALERT_NOTIFICATIONS, self._notifications.items()),
                _filled(contract.ACTIVE, self._active.items()),
            ]
        yield from families
        yield _filled(contract.LABEL_OVERFLOW, [((k,), n) for k, n in self.guard.overflow_counts().items()])
        yield _filled(
            contract.BUDGET,
            [((dept, period), getattr(budget, period)) for dept, budget in self.budgets.departments.items()
             for period in contract.BUDGET_PERIODS],
        )
        yield _filled(contract.EXPORTER_INFO, [((self.mode, self.version), 1)])
        if self.scenario is not None:
            yield _filled(contract.MOCK_SCENARIO, [((self.scenario(),), 1)])
        if self.gpu_source is not None:
            yield from collect_gpus(self.gpu_source)

    def _collect_calls(self) -> Iterator[Metric]:
        requests = _family(contract.REQUESTS)
        tokens = _family(contract.TOKENS)
        cost = _family(contract.COST)
        for labels, s in self._by_department.items():
            requests.add_metric([*labels, "success"], s.success)
            requests.add_metric([*labels, "error"], s.error)
            tokens.add_metric([*labels, "input"], s.input_tokens)
            tokens.add_metric([*labels, "output"], s.output_tokens)
            cost.add_metric(list(labels), s.cost_usd)
        errors = _family(contract.ERRORS)
        histograms = [
            (_family(contract.DURATION), "duration"),
            (_family(contract.TTFT), "ttft"),
            (_family(contract.TPOT), "tpot"),
            (_family(contract.REQUEST_COST), "cost"),
        ]
        for labels, c in self._by_call.items():
            for error_type, n in c.errors.items():
                errors.add_metric([*labels, error_type], n)
            for family, attribute in histograms:
                histogram: _Histogram = getattr(c, attribute)
                family.add_metric(list(labels), histogram.buckets(), histogram.sum)
        yield from (requests, errors, tokens, cost)
        yield from (family for family, _ in histograms)

    def _collect_quality(self) -> Iterator[Metric]:
        yield _filled(contract.QUALITY, [((app,), score) for app, score in self._quality.items()])
        yield _filled(contract.FEEDBACK, self._feedback.items())
        yield _filled(contract.FLAGGED, self._flagged.items())


def _family(spec: contract.MetricSpec) -> Metric:
    if spec.kind == "counter":
        return CounterMetricFamily(spec.name, spec.help, labels=spec.labels)
    if spec.kind == "gauge":
        return GaugeMetricFamily(spec.name, spec.help, labels=spec.labels)
    return HistogramMetricFamily(spec.name, spec.help, labels=spec.labels)


def _filled(spec: contract.MetricSpec, values: Iterable[tuple[tuple[str, ...], float]]) -> Metric:
    family = _family(spec)
    for labels, value in values:
        family.add_metric(list(labels), value)
    return family




# -- GPUs ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class GPUReading:
    """One GPU (or MIG device) at scrape time; a field is None when the driver could not read it."""

    index: str
    uuid: str
    name: str
    utilization_ratio: float | None
    memory_used_bytes: float | None
    memory_total_bytes: float | None
    power_watts: float | None
    temperature_celsius: float | None


class GPUSource:
    """Where GPU readings come from: the mock fleet or NVML. `read()` returns None when unreadable."""

    def read(self) -> list[GPUReading] | None:  # pragma: no cover - interface
        raise NotImplementedError


def collect_gpus(source: GPUSource) -> Iterator[Metric]:
    readings = source.read()
    yield _filled(contract.GPU_UP, [((), 0 if readings is None else 1)])
    fields = (
        (contract.GPU_UTILIZATION, "utilization_ratio"),
        (contract.GPU_MEMORY_USED, "memory_used_bytes"),
        (contract.GPU_MEMORY_TOTAL, "memory_total_bytes"),
        (contract.GPU_POWER, "power_watts"),
        (contract.GPU_TEMPERATURE, "temperature_celsius"),
    )
    for spec, attribute in fields:
        family = _family(spec)
        for gpu in readings or ():
            value = getattr(gpu, attribute)
            if value is not None:
                family.add_metric([gpu.index, gpu.uuid, gpu.name], value)
        yield family
