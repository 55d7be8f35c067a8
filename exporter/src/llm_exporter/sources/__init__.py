"""What other projects expose, recorded at pinned versions: the names the stack's adapters read.

One module per source: vllm, sglang, tgi, nim, litellm, dcgm, and otel_genai (the OpenTelemetry
GenAI conventions, their emitters, and the names they get in Prometheus). Each records, for every
metric the stack can map: the exposed name (with `_total` or not, as on the wire), type, labels,
unit, buckets, and the file, line and tag where the project defines it. docs/sources.md is the
reader's version of the same facts; the mock's dialects (llm_exporter.mock.dialects) render them.

How to move a pin (say vLLM v0.33.0 -> v0.34.0):

1. Read the project at the new tag, not its docs: `fetch` or `pip download --no-deps` the release,
   then open the file each `Citation` names (vllm/v1/metrics/loggers.py, buckets.py, ...).
2. For every recorded metric check name, type, labels and buckets at the new tag; update the
   module's VERSION and every line number in its citations; add what is new and useful.
3. A name that disappeared goes to the module's DEPRECATED (with the release that deprecated,
   hid and removed it) so adapter rules keep accepting it for deployments still on the old release.
4. Run the tests: tests/test_sources.py checks the records' consistency and that every dialect page
   of the mock matches them; update docs/sources.md (pins table and names) in the same commit.
"""

from __future__ import annotations

from . import dcgm, litellm, nim, otel_genai, sglang, tgi, vllm
from .model import Citation, Deprecated, Kind, Signal, Source, SourceMetric

SOURCES: dict[str, Source] = {
    source.name: source
    for source in (vllm.SOURCE, sglang.SOURCE, tgi.SOURCE, nim.SOURCE, litellm.SOURCE, dcgm.SOURCE,
                   otel_genai.SDK_SOURCE)
}

__all__ = ["SOURCES", "Citation", "Deprecated", "Kind", "Signal", "Source", "SourceMetric", "dcgm", "litellm",
           "nim", "otel_genai", "sglang", "tgi", "vllm"]
