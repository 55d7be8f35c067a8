"""The one recording path: every LLM call, simulated or real, ends in `Recorder.record`.

Why not one prometheus_client metric object per family? A call touches a dozen series; resolving
each with `.labels(...)` costs a lock, a tuple and a dict lookup per family on every call. Here a
call resolves its label set once (one dict lookup after the first time), updates plain numbers
under one lock, and the families are built at scrape time by `collect()`. prometheus_client still
does all of the exposition (text and OpenMetrics, exemplars included).
"""

from __future__ import annotations

import bisect
import dataclasses
import functools
import logging
import math
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.samples import Exemplar
from prometheus_client.utils import floatToGoString

from . import contract
from .config import Budgets, Pricing
from .labels import OVERFLOW_VALUE, LabelGuard, sanitise
from .tokens import TokenDetails

log = logging.getLogger(__name__)

QUALITY_EWMA_WEIGHT = 0.05  # each scored response moves the rolling score 5% of the way
DEFAULT_MAX_LABEL_SETS = 1000  # distinct (provider, model, app_id, department) label sets
MAX_TOKENS = 1_000_000_000  # per call and direction; more is not a count (and would overflow the exposition)
_LABEL_CACHE_SIZE = 4096  # raw label value sets remembered by Recorder._labels (callers choose them)
_NUMBER = (float, int)


def time_per_output_token(duration_s: float, ttft_s: float | None, output_tokens: int,
                          error_type: str | None) -> float | None:
    """Mean time per output token after the first; only meaningful for streamed successes."""
    if error_type is not None or ttft_s is None or output_tokens < 2:
        return None
    return max(duration_s - ttft_s, 0.0) / (output_tokens - 1)


def _seconds(value: object, field: str, invalid: list[str]) -> float | None:
    """A finite, non-negative number of seconds, or None (noting the field as invalid)."""
    if isinstance(value, int | float) and 0 <= value < math.inf:
        return float(value)
    invalid.append(field)
    return None


def _tokens(value: object, field: str, invalid: list[str]) -> int:
    """A whole token count from 0 to MAX_TOKENS, or 0 (noting the field as invalid)."""
    if type(value) is int and 0 <= value <= MAX_TOKENS:
        return value
    if isinstance(value, int | float) and 0 <= value <= MAX_TOKENS and value == int(value):
        return int(value)
    invalid.append(field)
    return 0


def _token_details(details: object, input_tokens: int, output_tokens: int,
                   invalid: list[str]) -> TokenDetails | None:
    """`details` itself when each count is a whole number between 0 and its direction's total;
    otherwise a repaired copy (a count that is not a plausible count becomes 0, one above its
    direction's total becomes that total), each repaired field noted as `<class>_tokens`."""
    if details is None:
        return None
    if not isinstance(details, TokenDetails):
        invalid.append("token_details")
        return None
    totals = {"input": input_tokens, "output": output_tokens}
    limits = [(name, getattr(details, name), totals[direction]) for name, direction in contract.TOKEN_CLASSES.items()]
    if all(type(value) is int and 0 <= value <= limit for _, value, limit in limits):
        return details
    counts = {}
    for name, value, limit in limits:
        count = _tokens(value, f"{name}_tokens", invalid)
        if count > limit:
            invalid.append(f"{name}_tokens")
            count = limit
        counts[name] = count
    return TokenDetails(**counts)


def _given_value(call: LLMCall, field: str) -> object:
    """The value of a field named in llm_invalid_values (a token class's is `<class>_tokens`)."""
    name = field.removesuffix("_tokens")
    if name in contract.TOKEN_CLASSES:
        return getattr(call.token_details, name, None)
    return getattr(call, field, None)


def _finite(value: object, field: str, invalid: list[str]) -> float | None:
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    invalid.append(field)
    return None


@dataclass(slots=True)
class LLMCall:
    """What happened in one LLM call. Times are seconds; tokens as billed by the provider.

    `input_tokens` and `output_tokens` are each direction's whole total (cached, audio and
    reasoning tokens included); `token_details` optionally says how many of them fall in each
    separately priced class (llm_exporter/tokens.py). `error_type` is None for a successful call.
    `ttft_s` is set only when the first token's arrival was observed (streaming). Quality fields
    are optional and recorded when present.
    """

    provider: str
    model: str
    app_id: str
    department: str
    duration_s: float
    input_tokens: int = 0
    output_tokens: int = 0
    token_details: TokenDetails | None = None
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
        return time_per_output_token(self.duration_s, self.ttft_s, self.output_tokens, self.error_type)


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
        self.exemplars: list[tuple[dict[str, str], float, float] | None] = [None] * (len(bounds) + 1)

    def observe(self, value: float, exemplar: dict[str, str] | None, now: float) -> None:
        index = bisect.bisect_left(self.bounds, value)
        self.counts[index] += 1
        self.sum += value
        if exemplar is not None:
            self.exemplars[index] = (exemplar, value, now)

    def snapshot(self) -> _HistogramSnapshot:
        return _HistogramSnapshot(self.bounds, self.counts.copy(), self.sum, self.exemplars.copy())


@dataclass(slots=True)
class _HistogramSnapshot:
    """A histogram copied under the recorder's lock, formatted after it is released."""

    bounds: tuple[float, ...]
    counts: list[int]
    sum: float
    exemplars: list[tuple[dict[str, str], float, float] | None]

    def buckets(self) -> list[tuple[str, float] | tuple[str, float, Exemplar]]:
        out: list[tuple[str, float] | tuple[str, float, Exemplar]] = []
        running = 0
        for edge, count, exemplar in zip(_edges(self.bounds), self.counts, self.exemplars, strict=True):
            running += count
            if exemplar is None:
                out.append((edge, running))
            else:
                labels, value, ts = exemplar
                out.append((edge, running, Exemplar(labels, value, ts)))
        return out


@functools.cache
def _edges(bounds: tuple[float, ...]) -> tuple[str, ...]:
    """The `le` label values, formatted as prometheus_client formats them ("1.0", "+Inf")."""
    return (*(floatToGoString(b) for b in bounds), "+Inf")


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

    __slots__ = ("by_class", "calls", "cost_usd", "error", "input_tokens", "output_tokens", "success")

    def __init__(self, calls: _CallSeries) -> None:
        self.calls = calls
        self.success = 0
        self.error = 0
        self.input_tokens = 0
        self.output_tokens = 0
        self.by_class: dict[str, int] | None = None  # token class -> tokens, once a call reported one
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
        max_label_sets: int = DEFAULT_MAX_LABEL_SETS,
    ) -> None:
        self.pricing = pricing
        self.budgets = budgets
        self.mode = mode
        self.version = version
        self.guard = guard or LabelGuard()
        self.max_label_sets = max_label_sets
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
        self._invalid: dict[str, int] = {}
        self._label_cache: dict[tuple[object, ...], tuple[str, str, str, str]] = {}  # see _labels
        self._rejected: dict[tuple[str, str], int] = {}

    # -- recording -------------------------------------------------------------------------

    def record(self, call: LLMCall) -> RecordedCall:
        """Record one finished LLM call into every metric it feeds; returns what was recorded.

        Numbers that cannot be true (negative, NaN, infinite, not a number) are never recorded:
        they count as 0 (or as absent, for optional fields), are counted in
        llm_invalid_values_total{field} and logged once per field, and the call is still counted.

        The telemetry listener's export threads read the call again after this returns (to build
        its spans and OTLP log record): a recorded `LLMCall` is not to be changed afterwards.
        """
        given = call  # as the caller gave it, for the log line naming an invalid value
        provider, model, app_id, department = self._labels(call)
        error_type = call.error_type
        if error_type is not None and error_type not in contract.ERROR_TYPES:
            error_type = "other"
        duration, ttft = call.duration_s, call.ttft_s
        input_tokens, output_tokens, quality = call.input_tokens, call.output_tokens, call.quality_score
        invalid: list[str] = []
        if not (type(duration) in _NUMBER and 0 <= duration < math.inf  # the fast path: all plausible
                and type(input_tokens) is int and 0 <= input_tokens <= MAX_TOKENS
                and type(output_tokens) is int and 0 <= output_tokens <= MAX_TOKENS
                and (ttft is None or (type(ttft) in _NUMBER and 0 <= ttft < math.inf))
                and (quality is None or (type(quality) in _NUMBER and math.isfinite(quality)))):
            duration = _seconds(duration, "duration_s", invalid) or 0.0
            ttft = None if ttft is None else _seconds(ttft, "ttft_s", invalid)
            input_tokens = _tokens(input_tokens, "input_tokens", invalid)
            output_tokens = _tokens(output_tokens, "output_tokens", invalid)
            quality = None if quality is None else _finite(quality, "quality_score", invalid)
            # the trace policy and the listeners (logs, spans) see the repaired numbers too
            call = dataclasses.replace(call, duration_s=duration, ttft_s=ttft, input_tokens=input_tokens,
                                       output_tokens=output_tokens, quality_score=quality)
        details = call.token_details
        if details is not None:
            checked = _token_details(details, input_tokens, output_tokens, invalid)
            if checked is not details:
                details = checked
                call = dataclasses.replace(call, token_details=checked)
        tpot = time_per_output_token(duration, ttft, output_tokens, error_type)
        cost = self.pricing.cost(call.model, input_tokens, output_tokens, details)
        now = time.time()
        trace_kept = self.trace_policy(call) if self.trace_policy is not None else bool(call.trace_id)
        exemplar = None  # no exemplar for a trace that is not exported
        if trace_kept and call.trace_id:
            exemplar = {"trace_id": call.trace_id}
            if call.request_id:
                exemplar["request_id"] = str(call.request_id)[:64]  # OpenMetrics caps exemplar labels
        newly_unpriced = False
        with self._lock:
            series = self._by_department.get((provider, model, app_id, department))
            if series is None:
                series = self._new_series(provider, model, app_id, department)
            calls = series.calls
            calls.duration.observe(duration, exemplar, now)
            if error_type is None:
                series.success += 1
            else:
                series.error += 1
                calls.errors[error_type] = calls.errors.get(error_type, 0) + 1
            if ttft is not None:
                calls.ttft.observe(ttft, exemplar, now)
            if tpot is not None:
                calls.tpot.observe(tpot, None, now)
            series.input_tokens += input_tokens
            series.output_tokens += output_tokens
            if details is not None:
                by_class = series.by_class
                if by_class is None:
                    by_class = series.by_class = {}
                for name, count in details.items():
                    by_class[name] = by_class.get(name, 0) + count
            if cost is not None:
                series.cost_usd += cost
                calls.cost.observe(cost, exemplar, now)
            else:
                newly_unpriced = model not in self._unpriced
                self._unpriced[model] = self._unpriced.get(model, 0) + 1
            if quality is not None or call.feedback is not None or call.flags:
                self._record_quality_locked(app_id, quality, call)
            newly_invalid = [field for field in invalid if field not in self._invalid]
            for field in invalid:  # usually empty
                self._invalid[field] = self._invalid.get(field, 0) + 1
        if newly_unpriced:
            log.warning(
                "model has no price in the pricing file; its cost is not counted",
                extra={"event": "unpriced_model", "model": model},
            )
        for field in newly_invalid:
            log.warning(
                "invalid value in a recorded LLM call; counted as 0 or absent",
                extra={"event": "invalid_call_value", "field": field, "value": repr(_given_value(given, field))[:64],
                       "model": model, "app_id": app_id},
            )
        recorded = RecordedCall(call, provider, model, app_id, department, error_type, cost, trace_kept)
        for listener in self.listeners:
            listener(recorded)
        return recorded

    def _labels(self, call: LLMCall) -> tuple[str, str, str, str]:
        """The call's (provider, model, app_id, department) label values, through the LabelGuard.
        A set of raw values the guard accepted whole is remembered (one lookup instead of four
        next time); one with a value folded into "other" is not, so each such call is counted."""
        raw = (call.provider, call.model, call.app_id, call.department)
        try:
            labels = self._label_cache.get(raw)
        except TypeError:  # an unhashable value: the guard turns it into text
            labels = None
        if labels is None:
            guard = self.guard
            labels = (guard.value("provider", raw[0]), guard.value("model", raw[1]),
                      guard.value("app_id", raw[2]), guard.value("department", raw[3]))
            if (OVERFLOW_VALUE not in labels and len(self._label_cache) < _LABEL_CACHE_SIZE
                    and all(type(value) is str for value in raw)):
                self._label_cache[raw] = labels
        return labels

    def _new_series(self, provider: str, model: str, app_id: str, department: str) -> _DepartmentSeries:
        """A new label set, or the shared all-"other" one once `max_label_sets` is reached: the
        per-label bounds alone would allow their product, this caps the series count itself."""
        key = (provider, model, app_id, department)
        if len(self._by_department) >= self.max_label_sets:
            self.guard.count_overflow("label_set")
            key = (OVERFLOW_VALUE,) * 4
            if key in self._by_department:
                return self._by_department[key]
        calls = self._by_call.get(key[:3])
        if calls is None:
            calls = self._by_call[key[:3]] = _CallSeries()
        series = self._by_department[key] = _DepartmentSeries(calls)
        return series

    def _record_quality_locked(self, app_id: str, quality: float | None, call: LLMCall) -> None:
        if quality is not None:
            score = min(max(quality, 0.0), 5.0)
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
        """Mark a call in flight (llm_active_requests); pair with `call_finished`. A value past
        its label's bound is counted in llm_label_overflow_total once, when the call is recorded."""
        guard = self.guard
        key = (guard.value("provider", provider, count=False), guard.value("model", model, count=False))
        with self._lock:
            self._active[key] = self._active.get(key, 0) + 1

    def call_finished(self, provider: str, model: str) -> None:
        guard = self.guard
        key = (guard.value("provider", provider, count=False), guard.value("model", model, count=False))
        with self._lock:
            self._active[key] = max(self._active.get(key, 0) - 1, 0)

    def active_requests(self) -> dict[tuple[str, str], int]:
        """Calls in flight now, by (provider, model) as recorded: a copy of llm_active_requests."""
        with self._lock:
            return dict(self._active)

    def telemetry_dropped(self, signal: str, count: int = 1) -> None:
        with self._lock:
            self._telemetry_dropped[signal] = self._telemetry_dropped.get(signal, 0) + count

    def alert_notification(self, receiver: str, status: str, alertname: str) -> None:
        key = (self.guard.value("receiver", receiver), sanitise(status), self.guard.value("alertname", alertname))
        with self._lock:
            self._notifications[key] = self._notifications.get(key, 0) + 1

    def request_rejected(self, route: str, reason: str) -> None:
        """Count one HTTP request the exporter refused before recording or forwarding anything."""
        route = route if route in contract.REJECT_ROUTES else "other"
        key = (route, reason if reason in contract.REJECT_REASONS else "invalid_payload")
        with self._lock:
            self._rejected[key] = self._rejected.get(key, 0) + 1

    # -- exposition ------------------------------------------------------------------------

    def describe(self) -> Iterable[Metric]:
        """Nothing to pre-declare: avoids a full collect() at registration."""
        return ()

    def collect(self) -> Iterator[Metric]:
        with self._lock:  # copy plain numbers under the lock; build and format families after it
            departments = [(labels, (s.success, s.error, s.input_tokens, s.output_tokens, s.cost_usd))
                           for labels, s in self._by_department.items()]
            by_class = [(labels, list(s.by_class.items())) for labels, s in self._by_department.items()
                        if s.by_class]
            calls = [(labels, dict(c.errors), [h.snapshot() for h in (c.duration, c.ttft, c.tpot, c.cost)])
                     for labels, c in self._by_call.items()]
            simple = [
                (contract.QUALITY, [((app,), score) for app, score in self._quality.items()]),
                (contract.FEEDBACK, list(self._feedback.items())),
                (contract.FLAGGED, list(self._flagged.items())),
                (contract.UNPRICED, [((m,), n) for m, n in self._unpriced.items()]),
                (contract.INVALID_VALUES, [((f,), n) for f, n in self._invalid.items()]),
                (contract.TELEMETRY_DROPPED, [((s,), n) for s, n in self._telemetry_dropped.items()]),
                (contract.REJECTED, list(self._rejected.items())),
                (contract.ALERT_NOTIFICATIONS, list(self._notifications.items())),
                (contract.ACTIVE, list(self._active.items())),
            ]
        yield from _call_families(departments, calls)
        yield _filled(contract.TOKENS_BY_CLASS, [((*labels, name), n) for labels, counts in by_class
                                                 for name, n in counts])
        for spec, values in simple:
            yield _filled(spec, values)
        yield _filled(contract.LABEL_OVERFLOW, [((k,), n) for k, n in self.guard.overflow_counts().items()])
        yield _filled(
            contract.BUDGET,
            [((dept, period), getattr(budget, period)) for dept, budget in self.budgets.departments.items()
             for period in contract.BUDGET_PERIODS],
        )
        yield from price_families(self.pricing)
        yield _filled(contract.EXPORTER_INFO, [((self.mode, self.version), 1)])
        if self.scenario is not None:
            yield _filled(contract.MOCK_SCENARIO, [((self.scenario(),), 1)])
        if self.gpu_source is not None:
            yield from collect_gpus(self.gpu_source)


def _call_families(
    departments: list[tuple[tuple[str, ...], tuple[int, int, int, int, float]]],
    calls: list[tuple[tuple[str, ...], dict[str, int], list[_HistogramSnapshot]]],
) -> Iterator[Metric]:
    requests, tokens, cost = _family(contract.REQUESTS), _family(contract.TOKENS), _family(contract.COST)
    for labels, (success, error, input_tokens, output_tokens, cost_usd) in departments:
        requests.add_metric([*labels, "success"], success)
        requests.add_metric([*labels, "error"], error)
        tokens.add_metric([*labels, "input"], input_tokens)
        tokens.add_metric([*labels, "output"], output_tokens)
        cost.add_metric(list(labels), cost_usd)
    errors = _family(contract.ERRORS)
    histograms = [_family(spec) for spec in (contract.DURATION, contract.TTFT, contract.TPOT, contract.REQUEST_COST)]
    for labels, error_counts, snapshots in calls:
        for error_type, n in error_counts.items():
            errors.add_metric([*labels, error_type], n)
        for family, snapshot in zip(histograms, snapshots, strict=True):
            family.add_metric(list(labels), snapshot.buckets(), snapshot.sum)
    yield from (requests, errors, tokens, cost, *histograms)


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




def price_families(pricing: Pricing) -> Iterator[Metric]:
    """The pricing file as series: USD per token for each priced name and alias, by direction (the
    base prices and each separately priced token class), and the GPU-hour cost of self-hosted models."""
    names = pricing.priced_names()
    yield _filled(contract.PRICE, [((sanitise(name), direction), usd) for name, price in names
                                   for direction, usd in price.per_token()])
    yield _filled(contract.SELF_HOSTED_PRICE, [((sanitise(name),), price.self_hosted_usd_per_hour)
                                               for name, price in names
                                               if price.self_hosted_usd_per_hour is not None])


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
    attributes = ("utilization_ratio", "memory_used_bytes", "memory_total_bytes", "power_watts",
                  "temperature_celsius")  # GPUReading's fields, in contract.GPU_METRICS order
    for spec, attribute in zip(contract.GPU_METRICS, attributes, strict=True):
        family = _family(spec)
        for gpu in readings or ():
            value = getattr(gpu, attribute)
            if value is not None:
                family.add_metric([gpu.index, gpu.uuid, gpu.name], value)
        yield family
