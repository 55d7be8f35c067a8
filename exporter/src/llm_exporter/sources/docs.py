"""The per-source tables of docs/sources.md, generated from the records so the two cannot drift.

    python -m llm_exporter.sources.docs docs/sources.md   # rewrites the generated block in place

tests/test_sources.py fails when the block in the document differs from what this prints.
"""

from __future__ import annotations

import sys
from pathlib import Path

from . import SOURCES, otel_genai
from .model import Source, SourceMetric

BEGIN = "<!-- BEGIN GENERATED: python -m llm_exporter.sources.docs docs/sources.md -->"
END = "<!-- END GENERATED -->"


def _buckets(metric: SourceMetric) -> str:
    if not metric.buckets:
        return ""
    edges = [f"{b:g}" for b in metric.buckets]
    shown = ", ".join(edges) if len(edges) <= 8 else f"{', '.join(edges[:3])} … {', '.join(edges[-2:])} ({len(edges)})"
    return shown + (f"; {metric.buckets_note}" if metric.buckets_note else "")


def _row(metric: SourceMetric) -> str:
    labels = ", ".join(metric.labels) + (f" (+ optional {', '.join(metric.optional_labels)})"
                                         if metric.optional_labels else "")
    meaning = metric.help + (f" {metric.note}" if metric.note else "")
    cells = (f"`{metric.name}`", metric.kind, metric.unit, labels or "(none)", metric.signal or "", meaning,
             _buckets(metric), f"`{metric.defined_in}`")
    return "| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |"


def source_table(source: Source) -> str:
    lines = [f"#### `{source.name}`: {source.project} {source.version}", "",
             f"Scraped at `{source.metrics_path}`, port {source.default_port}.", "",
             "| Name | Type | Unit | Labels | Signal | Meaning | Buckets | Defined in |",
             "|---|---|---|---|---|---|---|---|", *(_row(m) for m in source.metrics)]
    if source.deprecated:
        lines += ["", "Older names (still exposed by older releases):", "",
                  "| Old name | Type | Replaced by | Deprecated | Hidden | Removed | Defined in |",
                  "|---|---|---|---|---|---|---|"]
        lines += [f"| `{d.name}` | {d.kind} | `{d.replaced_by}` | {d.deprecated_in} | {d.hidden_in} | {d.removed_in} | "
                  f"`{d.defined_in}` |" for d in source.deprecated]
    if source.unconfirmed:
        lines += ["", "Not confirmed: " + "; ".join(source.unconfirmed) + "."]
    return "\n".join(lines)


def generated() -> str:
    sources = [*SOURCES.values(), *otel_genai.OTLP_SOURCES.values()]
    return "\n\n".join([BEGIN, *(source_table(s) for s in sources), END])


def rewrite(path: Path) -> None:
    text = path.read_text()
    start, end = text.index(BEGIN), text.index(END) + len(END)
    path.write_text(text[:start] + generated() + text[end:])


if __name__ == "__main__":
    rewrite(Path(sys.argv[1]))
