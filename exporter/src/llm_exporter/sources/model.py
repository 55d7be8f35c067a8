"""The shape of a recorded source: typed data, no behaviour beyond naming the exposed samples."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal["counter", "gauge", "histogram", "summary"]

# What a metric tells, in the stack's own words; adapter rules map each source's names onto these.
Signal = Literal[
    "requests",            # calls finished (with their outcome in a label, where the source has one)
    "failures",            # failed calls
    "e2e_latency",         # end-to-end latency of one call
    "ttft",                # time to first token
    "itl",                 # inter-token latency: one observation per generated token after the first
    "tpot",                # mean time per output token: one observation per call
    "queue_time",          # time a call waited before running
    "prompt_tokens",
    "generation_tokens",
    "running",             # calls running now
    "waiting",             # calls queued now
    "kv_cache_usage",      # KV-cache usage, 0..1
    "spend",               # money spent
    "budget_max",          # a budget's limit
    "budget_remaining",    # what is left of a budget
    "budget_reset_hours",  # hours until a budget resets
    "gpu_utilization",
    "gpu_engine_active",
    "gpu_memory_used",
    "gpu_memory_free",
    "gpu_power",
    "gpu_temperature",
]


@dataclass(frozen=True)
class Citation:
    """Where a fact was read: a file (and line) in the project's own repository at `ref`, or a page."""

    file: str
    line: int | None
    ref: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.line else self.file
        return f"{where} @ {self.ref}"


@dataclass(frozen=True)
class SourceMetric:
    """One metric family as the source exposes it.

    `name` is the family name of the `# TYPE` line, which is also the sample name for counters and
    gauges: `vllm:prompt_tokens_total` (prometheus_client adds `_total`), but `tgi_request_count`
    (the Rust exporter adds nothing). `buckets` are the upper bounds without +Inf, for the
    configuration `buckets_note` states when they depend on one. `optional_labels` are present only
    on some series (an OpenTelemetry attribute that is set conditionally).
    """

    name: str
    kind: Kind
    unit: str
    help: str
    labels: tuple[str, ...]
    defined_in: Citation
    signal: Signal | None = None
    buckets: tuple[float, ...] = ()
    buckets_note: str = ""
    optional_labels: tuple[str, ...] = ()
    note: str = ""

    @property
    def samples(self) -> tuple[str, ...]:
        """The sample names that appear on the page for this family."""
        if self.kind == "histogram":
            return (f"{self.name}_bucket", f"{self.name}_sum", f"{self.name}_count")
        if self.kind == "summary":
            return (self.name, f"{self.name}_sum", f"{self.name}_count")
        return (self.name,)

    @property
    def all_labels(self) -> tuple[str, ...]:
        return (*self.labels, *self.optional_labels)


@dataclass(frozen=True)
class Deprecated:
    """A name the source used to expose, still found on older deployments."""

    name: str
    kind: Kind
    replaced_by: str
    deprecated_in: str
    hidden_in: str  # from this release on it appears only with the source's escape hatch
    removed_in: str
    defined_in: Citation
    note: str = ""


@dataclass(frozen=True)
class Source:
    """A project whose metrics the stack reads, pinned at one version."""

    name: str
    project: str
    version: str
    metrics_path: str
    default_port: int
    labels: dict[str, str]  # every label name used below -> what its values are
    metrics: tuple[SourceMetric, ...]
    deprecated: tuple[Deprecated, ...] = ()
    notes: tuple[str, ...] = ()
    unconfirmed: tuple[str, ...] = field(default=())  # facts that could not be read in the source itself

    @functools.cached_property
    def _by_name(self) -> dict[str, SourceMetric]:
        return {metric.name: metric for metric in self.metrics}

    def metric(self, name: str) -> SourceMetric:
        try:
            return self._by_name[name]
        except KeyError:
            raise KeyError(f"{self.name} {self.version} has no recorded metric {name!r}") from None

    def by_signal(self, signal: Signal) -> tuple[SourceMetric, ...]:
        return tuple(m for m in self.metrics if m.signal == signal)
