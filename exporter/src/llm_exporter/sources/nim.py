"""NVIDIA NIM for LLMs: closed source, so recorded from NVIDIA's published documentation.

Two generations expose different names on the same path, /v1/metrics:

- NIM for LLMs 2.x (latest 2.1.6) is "an orchestration layer for vLLM or SGLang": its proxy passes
  /v1/metrics through to the bundled engine ("mgmt ... /v1/metrics -- proxy_pass --> engine",
  reference/architecture @ 2.1.4; "NIM passes through the inference backend's metrics",
  reference/logging-and-observability @ latest). Those are the engine's own names: use the vllm
  (or sglang) source with metrics_path /v1/metrics. The engine version depends on the NIM image.
- NIM for LLMs 1.x documents the unprefixed names below (observability.html; the same table is
  in the 1.14.0 Safety Guard NIM page). They are what METRICS records.

NVIDIA's 1.x table says "per model" without naming the label and publishes no bucket edges: the
`model_name` label and the buckets below are NOT confirmed by NVIDIA (see SOURCE.unconfirmed).
"""

from __future__ import annotations

from . import vllm
from .model import Citation, Source, SourceMetric

VERSION = "1.x (observability page; 2.x exposes the engine's names)"
PAGE_1X = "https://docs.nvidia.com/nim/large-language-models/latest/observability.html"
PAGE_1X_VERSIONED = "https://docs.nvidia.com/nim/llama-3-1-nemotron-safety-guard-8b/observability.md"
ARCHITECTURE_2X = "https://docs.nvidia.com/nim/large-language-models/2.1.4/reference/architecture.html"

LABELS = ("model_name",)


def _doc(page: str = PAGE_1X, ref: str = "NIM for LLMs 1.x (stored copy)") -> Citation:
    return Citation(page, None, ref)


_NO_BUCKETS = "NVIDIA publishes no edges; these are vLLM v0.33.0's, used by the mock (unconfirmed)"

METRICS = (
    SourceMetric("num_requests_running", "gauge", "requests", "Requests currently running on GPU.", LABELS,
                 _doc(), "running"),
    SourceMetric("num_requests_waiting", "gauge", "requests", "Requests waiting to be processed.", LABELS,
                 _doc(), "waiting"),
    SourceMetric("gpu_cache_usage_perc", "gauge", "ratio", "GPU KV-cache usage; 1 means 100 percent.", LABELS,
                 _doc(), "kv_cache_usage"),
    SourceMetric("prompt_tokens_total", "counter", "tokens", "Prefill tokens processed.", LABELS, _doc(),
                 "prompt_tokens"),
    SourceMetric("generation_tokens_total", "counter", "tokens", "Generation tokens processed.", LABELS, _doc(),
                 "generation_tokens"),
    SourceMetric("request_success_total", "counter", "requests",
                 "Successful requests: finish reason stop or length.", LABELS,
                 _doc("https://run-ai-docs.nvidia.com/self-hosted/reference/api/api-usage-guides/nim-metrics",
                      "NVIDIA Run:ai self-hosted docs (stored copy)"), "requests"),
    SourceMetric("request_failure_total", "counter", "requests", "Failed requests: any other finish reason.",
                 LABELS,
                 _doc("https://run-ai-docs.nvidia.com/self-hosted/reference/api/api-usage-guides/nim-metrics",
                      "NVIDIA Run:ai self-hosted docs (stored copy)"), "failures"),
    SourceMetric("request_finish_total", "counter", "requests", "Finished requests, by finish reason.",
                 (*LABELS, "finished_reason"), _doc(), note="Label name finished_reason unconfirmed."),
    SourceMetric("time_to_first_token_seconds", "histogram", "seconds", "Time to first token.", LABELS, _doc(),
                 "ttft", vllm.TIME_TO_FIRST_TOKEN_BUCKETS, _NO_BUCKETS),
    SourceMetric("time_per_output_token_seconds", "histogram", "seconds", "Time per output token.", LABELS,
                 _doc(), "itl", vllm.INTER_TOKEN_LATENCY_BUCKETS, _NO_BUCKETS),
    SourceMetric("e2e_request_latency_seconds", "histogram", "seconds", "End-to-end request latency.", LABELS,
                 _doc(), "e2e_latency", vllm.REQUEST_LATENCY_BUCKETS, _NO_BUCKETS),
)

SOURCE = Source(
    name="nim",
    project="NVIDIA NIM for LLMs (closed source)",
    version=VERSION,
    metrics_path="/v1/metrics",
    default_port=8000,
    labels={
        "model_name": "the served model (label name unconfirmed: NVIDIA's table says 'per model')",
        "finished_reason": "stop | length | ... (unconfirmed)",
    },
    metrics=METRICS,
    notes=(
        f"NIM for LLMs 2.x serves its engine's metrics on /v1/metrics ({ARCHITECTURE_2X}): read it with the "
        "vllm source (vllm: prefix) or the sglang source.",
        f"The 1.x table is also published, with version 1.14.0, at {PAGE_1X_VERSIONED}.",
    ),
    unconfirmed=(
        "label names (model_name, finished_reason): NVIDIA's pages do not name them",
        "histogram bucket edges: not published",
        "exact version the 1.x table applies to: the stored LLM page carries no version",
    ),
)
