"""SGLang's Prometheus metrics (`--enable-metrics`), read at release v0.5.23.

The collectors live in sglang/srt/observability/metrics_collector.py (before 0.5.2x they were in
sglang/srt/metrics/collector.py). Two label sets: the tokenizer manager's per-request families
carry `model_name` and `engine_type` (tokenizer_metric_labels, line 1804), several of them also
`is_streaming`; the scheduler's gauges carry `model_name`, `engine_type`, `tp_rank`, `pp_rank`,
`moe_ep_rank` (line 1382; `dp_rank` too with data parallelism). SGLang runs prometheus_client in
multiprocess mode, so there are no `_created` samples. Counter names already end in `_total` in the
code; prometheus_client keeps a single `_total`.
"""

from __future__ import annotations

from .model import Citation, Source, SourceMetric

VERSION = "v0.5.23"
COLLECTOR = "sglang/srt/observability/metrics_collector.py"

TOKENIZER = ("model_name", "engine_type")
STREAMING = (*TOKENIZER, "is_streaming")
SCHEDULER = ("model_name", "engine_type", "tp_rank", "pp_rank", "moe_ep_rank")

TIME_TO_FIRST_TOKEN_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400)
E2E_REQUEST_LATENCY_BUCKETS = (0.1, 0.2, 0.4, 0.6, 0.8, 1, 2, 4, 6, 8, 10, 20, 40, 60, 80, 100, 200, 400, 600,
                               1200, 1800, 2400)
INTER_TOKEN_LATENCY_BUCKETS = (0.002, 0.004, 0.006, 0.008, 0.010, 0.015, 0.020, 0.025, 0.030, 0.035, 0.040, 0.060,
                               0.080, 0.100, 0.200, 0.400, 0.600, 0.800, 1.000, 2.000, 4.000, 6.000, 8.000)
QUEUE_TIME_BUCKETS = (0.000, 0.001, 0.005, 0.010, 0.050, 0.100, 0.200, 0.500, 1, 2, 3, 4, 5, 10, 15, 20, 30, 40, 50,
                      60, 70, 80, 90, 100, 200, 300, 400, 500, 600, 700, 800, 900, 1000, 1200, 1400, 1600, 1800,
                      2000, 2500, 3000)


def _at(line: int) -> Citation:
    return Citation(COLLECTOR, line, VERSION)


_OVERRIDE = "defaults; --bucket-time-to-first-token / --bucket-e2e-request-latency / --bucket-inter-token-latency " \
            "replace them"

METRICS = (
    SourceMetric("sglang:num_running_reqs", "gauge", "requests", "Running requests.", SCHEDULER, _at(365), "running"),
    SourceMetric("sglang:num_queue_reqs", "gauge", "requests", "Requests in the waiting queue.", SCHEDULER, _at(371),
                 "waiting"),
    SourceMetric("sglang:token_usage", "gauge", "ratio", "KV-cache token usage, 0..1.", SCHEDULER, _at(405),
                 "kv_cache_usage"),
    SourceMetric("sglang:queue_time_seconds", "histogram", "seconds", "Queueing time.", SCHEDULER, _at(838),
                 "queue_time", QUEUE_TIME_BUCKETS),
    SourceMetric("sglang:prompt_tokens_total", "counter", "tokens", "Prefill tokens processed.", STREAMING,
                 _at(1856), "prompt_tokens"),
    SourceMetric("sglang:generation_tokens_total", "counter", "tokens", "Generation tokens processed.", STREAMING,
                 _at(1861), "generation_tokens"),
    SourceMetric("sglang:num_requests_total", "counter", "requests",
                 "Finished requests, aborted ones included.", STREAMING, _at(1941), "requests",
                 note="observe_one_finished_request (line 2092) runs for every finished request, aborts too "
                      "(sglang/srt/managers/tokenizer_manager.py:3287)."),
    SourceMetric("sglang:num_aborted_requests_total", "counter", "requests", "Aborted requests.", TOKENIZER,
                 _at(1960), "failures",
                 note="No finish-reason label: an abort by the client and one by an engine error count alike."),
    SourceMetric("sglang:time_to_first_token_seconds", "histogram", "seconds", "Time to first token.", STREAMING,
                 _at(2041), "ttft", TIME_TO_FIRST_TOKEN_BUCKETS, _OVERRIDE),
    SourceMetric("sglang:inter_token_latency_seconds", "histogram", "seconds",
                 "Inter-token latency, one observation per generated token.", TOKENIZER, _at(2051), "itl",
                 INTER_TOKEN_LATENCY_BUCKETS, _OVERRIDE),
    SourceMetric("sglang:request_time_per_output_token_seconds", "histogram", "seconds",
                 "Per-request TPOT: (finished - first token) / (completion tokens - 1); stop/length only.",
                 STREAMING, _at(2058), "tpot", INTER_TOKEN_LATENCY_BUCKETS, _OVERRIDE),
    SourceMetric("sglang:e2e_request_latency_seconds", "histogram", "seconds", "End-to-end request latency.",
                 STREAMING, _at(2068), "e2e_latency", E2E_REQUEST_LATENCY_BUCKETS, _OVERRIDE),
)

SOURCE = Source(
    name="sglang",
    project="sgl-project/sglang",
    version=VERSION,
    metrics_path="/metrics",
    default_port=30000,
    labels={
        "model_name": "the served model name",
        "engine_type": "unified | prefill | decode (disaggregation mode; sglang/srt/disaggregation/utils.py:156)",
        "is_streaming": "\"true\" | \"false\": whether the request streamed",
        "tp_rank": "tensor-parallel rank of the scheduler reporting (\"0\" by default: only rank 0 reports)",
        "pp_rank": "pipeline-parallel rank",
        "moe_ep_rank": "expert-parallel rank",
    },
    metrics=METRICS,
    notes=(
        "Metrics are off unless the server starts with --enable-metrics "
        "(sglang/srt/arg_groups/fields/observability.py:70).",
        "/metrics needs no API key even when --api-key is set (sglang/srt/utils/auth.py:104).",
        "Optional labels: priority (with priority scheduling), dp_rank, and custom labels "
        "(--tokenizer-metrics-allowed-custom-labels, --extra-metric-labels).",
    ),
)
