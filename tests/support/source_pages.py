"""Checks a dialect page against its source's recorded definitions (llm_exporter.sources)."""

from __future__ import annotations

import re

from llm_exporter.sources import Source
from tests.support.metrics_text import parse_text

SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{|\s)", re.M)
TYPE_LINE = re.compile(r"^# TYPE (\S+) (\S+)$", re.M)


def check_page(source: Source, text: str) -> set[str]:
    """Assert every family, sample name, label and bucket edge on the page is the recorded one;
    return the family names (as on the `# TYPE` lines). Sample names are read raw: prometheus_client's
    parser renames a bare counter's samples (TGI's, dcgm-exporter's) to `..._total`."""
    types = dict(TYPE_LINE.findall(text))
    recorded_samples = {sample for metric in source.metrics for sample in metric.samples}
    assert set(SAMPLE.findall(text)) <= recorded_samples  # the guard: nothing the source does not expose
    for family_name, kind in types.items():
        assert kind == source.metric(family_name).kind, family_name
    for family in parse_text(text):  # raises on anything malformed
        (family_name,) = (n for n in types if n in (family.name, family.name + "_total"))
        metric = source.metric(family_name)
        buckets: dict[tuple, list[str]] = {}
        for sample in family.samples:
            labels = {k for k in sample.labels if k != "le"}
            assert set(metric.labels) <= labels <= set(metric.all_labels), (family_name, labels)
            if sample.name.endswith("_bucket"):
                key = tuple(sorted((k, v) for k, v in sample.labels.items() if k != "le"))
                buckets.setdefault(key, []).append(sample.labels["le"])
        for edges in buckets.values():
            assert edges[-1] == "+Inf" and [float(e) for e in edges[:-1]] == list(metric.buckets), family_name
    return set(types)
