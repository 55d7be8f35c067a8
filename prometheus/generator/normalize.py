"""PromQL that reads every adapter's series as the stack's signals, and counts each call once.

`per_source(...)` gives the rules of a normalized family: one per adapter that has the signal, each
summed to the stack's labels and labelled with its `source` and `layer`. `counted_once(...)` keeps,
for each model, the outermost layer present (client, then gateway, then engine), and `at_layer`
narrows another signal to the layer chosen for the model's calls.
"""

from __future__ import annotations

from collections.abc import Callable

from .adapters import ADAPTERS, PREFERRED_LAYERS, Adapter, Labels, Series
from .model import Record


def _set(expr: str, label: str, value: str) -> str:
    return f'label_replace({expr}, "{label}", "{value}", "", "")'


def relabel(expr: str, labels: Labels) -> str:
    """The source's labels renamed to the stack's: for each target label, the first candidate that
    is set wins, then a "=constant" (a fallback when it follows label names). A value equal to
    `labels.unset` counts as not set."""
    for target, candidates in labels.items():
        names = [c for c in candidates if not c.startswith("=")]
        constants = [c[1:] for c in candidates if c.startswith("=")]
        if target in names and names[-1] != target:
            raise ValueError(f"{labels}: `{target}` itself must be the last label candidate for {target}")
        if labels.unset:
            for name in names:
                expr = f'label_replace({expr}, "{name}", "", "{name}", "{labels.unset}")'
        for name in reversed(names):  # lowest priority first: a higher one set later overwrites it
            if name != target:
                expr = f'label_replace({expr}, "{target}", "$1", "{name}", "(.+)")'
        if constants:
            source = target if names else ""  # after label names: only where none was set
            expr = f'label_replace({expr}, "{target}", "{constants[0]}", "{source}", "")'
    return expr


def read(series: Series, function: str, window: str, suffix: str = "") -> str:
    """`function(selector[window])` (a gauge's plain selector when `function` is empty) for each
    spelling of the series, the first present winning."""
    reads = [f"{function}({selector}[{window}])" if function else selector for selector in series.selectors(suffix)]
    return " or ".join(reads)


Term = Callable[[Adapter], Series | None]


def per_source(name: str, series_of: Term, by: str, function: str = "rate", window: str = "5m",
               suffix: str = "", labels: tuple[tuple[str, str], ...] = (),
               adapters: tuple[Adapter, ...] = ADAPTERS, aggregation: str = "sum") -> list[Record]:
    """One rule per adapter that has the series, all recording `name`: the source's series summed by
    `by` (the stack's labels) and `layer` with `aggregation`, with the static labels `source` (and
    `labels`). A target
    may say where it sits with a `layer` label (the proxy's target file sets `gateway`); without one
    the series gets its adapter's layer."""
    records = []
    for adapter in adapters:
        series = series_of(adapter)
        if series is None:
            continue
        expr = relabel(read(series, function, window, suffix), adapter.labels)
        expr = f'label_replace({expr}, "layer", "{adapter.layer}", "layer", "")'
        records.append(Record(name, f"{aggregation} by ({by}, layer) ({expr})",
                              labels=(("source", adapter.name), *labels)))
    return records


def counted_once(series: str, matching: str = "model") -> str:
    """`series` at the outermost layer that reports each model: a call seen by the app, LiteLLM and
    vLLM counts once. (`or on (model)` keeps the right side only for models the left lacks.)"""
    layers = [f'{series}{{layer="{layer}"}}' for layer in PREFERRED_LAYERS]
    return f"\n  or on ({matching}) ".join(layers) + "\n"


def at_layer(series: str, calls: str) -> str:
    """`series` from the layer (and model) `calls` was counted at: errors, latency, tokens and cost
    of a model come from the same layer as its calls, never mixed across layers."""
    return f"{series}\n  and on (model, layer) {calls}\n"
