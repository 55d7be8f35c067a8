"""Plain numbers per (family, label set), turned into prometheus_client families on scrape.

Every family a dialect writes must be one its source records (llm_exporter.sources): the store
takes name, type, labels and buckets from that record, and refuses a label the record does not list.
prometheus_client does the exposition; the one thing it cannot write is a counter whose samples
have no `_total` (TGI, dcgm-exporter), so such families go out as untyped and their `# TYPE` line
is set back to `counter` (the text format allows bare counter names; prometheus_client's classes
always add the suffix).
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Iterator, Mapping

from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.exposition import generate_latest
from prometheus_client.utils import floatToGoString

from ...sources import Source, SourceMetric

LabelFormat = Callable[[float], str]
LabelKey = tuple[str | None, ...]  # values in the order of the record's all_labels; None: not set


def le_python(bound: float) -> str:
    """How prometheus_client prints a bucket edge: "1.0", "0.005", "+Inf"."""
    return floatToGoString(bound)


def le_rust(bound: float) -> str:
    """How Rust's `{}` prints an f64 (metrics-exporter-prometheus): shortest round-trip, no ".0"."""
    text = repr(float(bound))
    return text[:-2] if text.endswith(".0") else text


def le_str(bound: float) -> str:
    """How the OpenTelemetry SDK's Prometheus exporter prints an edge: str() of the advised value."""
    return f"{bound}"


class Buckets:
    """One histogram series: per-bucket (non-cumulative) counts, +Inf last, and the sum."""

    __slots__ = ("bounds", "counts", "sum")

    def __init__(self, bounds: tuple[float, ...]) -> None:
        self.bounds = bounds
        self.counts = [0] * (len(bounds) + 1)
        self.sum = 0.0

    def observe(self, value: float, count: int = 1) -> None:
        self.counts[bisect.bisect_left(self.bounds, value)] += count
        self.sum += value * count

    def cumulative(self, le: LabelFormat) -> list[tuple[str, float]]:
        out, running = [], 0
        for bound, count in zip((*self.bounds, None), self.counts, strict=True):
            running += count
            out.append(("+Inf" if bound is None else le(bound), running))
        return out


class Store:
    """The numbers one dialect has accumulated, keyed by family name and label set."""

    def __init__(self, source: Source, le: LabelFormat) -> None:
        self.source = source
        self.le = le
        self._values: dict[str, dict[LabelKey, float]] = {}
        self._histograms: dict[str, dict[LabelKey, Buckets]] = {}

    def _key(self, metric: SourceMetric, labels: Mapping[str, str]) -> LabelKey:
        key = tuple(map(labels.get, metric.all_labels))
        unknown = len(labels) != len(key) - key.count(None)  # a label the record does not list
        if unknown or None in key[:len(metric.labels)]:
            raise ValueError(f"{self.source.name}: {metric.name} takes {metric.all_labels}, got {sorted(labels)}")
        return key

    def inc(self, name: str, labels: Mapping[str, str], amount: float = 1.0) -> None:
        series = self._values.setdefault(name, {})
        key = self._key(self.source.metric(name), labels)
        series[key] = series.get(key, 0.0) + amount

    def set(self, name: str, labels: Mapping[str, str], value: float) -> None:
        self._values.setdefault(name, {})[self._key(self.source.metric(name), labels)] = value

    def observe(self, name: str, labels: Mapping[str, str], value: float, count: int = 1) -> None:
        metric = self.source.metric(name)
        series = self._histograms.setdefault(name, {})
        key = self._key(metric, labels)
        buckets = series.get(key)
        if buckets is None:
            buckets = series[key] = Buckets(metric.buckets)
        buckets.observe(value, count)

    def series_count(self) -> int:
        return sum(len(s) for s in self._values.values()) + sum(len(s) for s in self._histograms.values())

    def collect(self) -> Iterator[Metric]:
        """The families written so far, in the order the source records them."""
        for metric in self.source.metrics:
            if metric.name in self._histograms:
                yield self._histogram(metric, self._histograms[metric.name])
            elif metric.name in self._values:
                yield _scalar(metric, self._values[metric.name])

    def _histogram(self, metric: SourceMetric, series: dict[LabelKey, Buckets]) -> Metric:
        used = _used(metric, series)
        family = HistogramMetricFamily(metric.name, metric.help, labels=[metric.all_labels[i] for i in used])
        for key, buckets in series.items():
            family.add_metric(_values(key, used), buckets.cumulative(self.le), buckets.sum)
        return family

    def render(self) -> bytes:
        """The page in the Prometheus text format 0.0.4."""
        families = list(self.collect())

        class _Families:
            @staticmethod
            def collect() -> list[Metric]:
                return families

        text = generate_latest(_Families())  # type: ignore[arg-type]
        for metric in self.source.metrics:
            if metric.kind == "counter" and not metric.name.endswith("_total"):
                untyped, counter = (f"# TYPE {metric.name} {kind}\n".encode() for kind in ("untyped", "counter"))
                text = text.replace(untyped, counter)
        return text


def _used(metric: SourceMetric, series: Mapping[LabelKey, object]) -> list[int]:
    """Positions of the labels any series of the family has; a series lacking one shows it empty (as
    the OpenTelemetry SDK exporter does, and as Prometheus treats an empty label: absent)."""
    return [i for i in range(len(metric.all_labels)) if any(key[i] is not None for key in series)]


def _values(key: LabelKey, used: list[int]) -> list[str]:
    return [key[i] or "" for i in used]


def _scalar(metric: SourceMetric, series: dict[LabelKey, float]) -> Metric:
    used = _used(metric, series)
    names = [metric.all_labels[i] for i in used]
    if metric.kind == "gauge":
        family: Metric = GaugeMetricFamily(metric.name, metric.help, labels=names)
    elif metric.name.endswith("_total"):
        family = CounterMetricFamily(metric.name, metric.help, labels=names)
    else:  # a bare counter: untyped here, its TYPE line restored by Store.render
        family = Metric(metric.name, metric.help, "unknown")
        for key, value in series.items():
            family.add_sample(metric.name, dict(zip(names, _values(key, used), strict=True)), value)
        return family
    for key, value in series.items():
        family.add_metric(_values(key, used), value)  # type: ignore[attr-defined]
    return family
