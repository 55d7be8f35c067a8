"""Reading /metrics back with prometheus_client's own parsers, plus small histogram helpers."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Iterable

from prometheus_client.metrics_core import Metric
from prometheus_client.openmetrics.parser import text_string_to_metric_families as parse_openmetrics
from prometheus_client.parser import text_string_to_metric_families as parse_text

OPENMETRICS_ACCEPT = "application/openmetrics-text; version=1.0.0; charset=utf-8"

__all__ = ["OPENMETRICS_ACCEPT", "families", "histogram_series", "parse_openmetrics", "parse_text",
           "quantile", "sample_sum"]


def families(text: str, openmetrics: bool = False) -> dict[str, Metric]:
    parser = parse_openmetrics if openmetrics else parse_text
    return {family.name: family for family in parser(text)}


def sample_sum(metric: Metric, suffix: str = "", **match: str) -> float:
    """Sum of the samples named family+suffix whose labels include `match`."""
    name = metric.name + suffix
    return sum(s.value for s in metric.samples
               if s.name == name and all(s.labels.get(k) == v for k, v in match.items()))


def histogram_series(metric: Metric) -> dict[tuple, dict[str, object]]:
    """Group a histogram's samples per label set: {'buckets': [(le, count)...] in exposition order,
    'count': _count, 'sum': _sum}."""
    series: dict[tuple, dict[str, object]] = defaultdict(lambda: {"buckets": []})
    for s in metric.samples:
        key = tuple(sorted((k, v) for k, v in s.labels.items() if k != "le"))
        if s.name.endswith("_bucket"):
            series[key]["buckets"].append((float(s.labels["le"]), s.value))  # type: ignore[union-attr]
        elif s.name.endswith("_count"):
            series[key]["count"] = s.value
        elif s.name.endswith("_sum"):
            series[key]["sum"] = s.value
    return dict(series)


def quantile(q: float, buckets: Iterable[tuple[float, float]]) -> float:
    """histogram_quantile's linear interpolation over cumulative (le, count) buckets."""
    buckets = sorted(buckets)
    total = buckets[-1][1]
    if total == 0:
        return math.nan
    rank = q * total
    lower_edge, lower_count = 0.0, 0.0
    for edge, count in buckets:
        if count >= rank:
            if math.isinf(edge):
                return lower_edge
            return lower_edge + (edge - lower_edge) * (rank - lower_count) / max(count - lower_count, 1e-12)
        lower_edge, lower_count = edge, count
    return lower_edge
