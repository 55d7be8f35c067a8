"""vLLM's Prometheus metrics (the V1 engine), read in vllm/v1/metrics/ at tag v0.33.0.

Every family carries `model_name` (the served model name) and `engine` (the engine index, "0"
for a single engine). The API server exposes them on /metrics through prometheus_client, so
counters gain `_total`. With one API server the default registry also adds `_created` samples; with
several (`--api-server-count > 1`) the multiprocess collector does not. Histogram edges come from
vllm/v1/metrics/buckets.py and can be replaced with `--custom-histogram-buckets`.

Names removed in recent releases are in DEPRECATED: a deployment on an older vLLM still exposes
them, so adapter rules should accept both.
"""

from __future__ import annotations

from .model import Citation, Deprecated, Source, SourceMetric

VERSION = "v0.33.0"
LOGGERS = "vllm/v1/metrics/loggers.py"
BUCKETS = "vllm/v1/metrics/buckets.py"

LABELS = ("model_name", "engine")

REQUEST_LATENCY_BUCKETS = (0.3, 0.5, 0.8, 1.0, 1.5, 2.0, 2.5, 5.0, 10.0, 15.0, 20.0, 30.0, 40.0, 50.0, 60.0,
                           120.0, 240.0, 480.0, 960.0, 1920.0, 7680.0)
TIME_TO_FIRST_TOKEN_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0,
                               7.5, 10.0, 20.0, 40.0, 80.0, 160.0, 640.0, 2560.0)
INTER_TOKEN_LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5,
                               10.0, 20.0, 40.0, 80.0)
MAX_MODEL_LEN = 131_072  # the configuration the token-count buckets below are recorded for


def request_tokens_buckets(max_model_len: int) -> tuple[float, ...]:
    """vLLM's `build_1_2_5_buckets(max_model_len)` (buckets.py:195): 1, 2, 5, 10, ... up to the limit."""
    edges: list[float] = []
    scale = 1
    while True:
        for mantissa in (1, 2, 5):
            if mantissa * scale > max_model_len:
                return tuple(edges)
            edges.append(mantissa * scale)
        scale *= 10


def _at(line: int, file: str = LOGGERS) -> Citation:
    return Citation(file, line, VERSION)


_TOKENS_NOTE = f"1-2-5 series up to --max-model-len (buckets.py:234); recorded for max_model_len={MAX_MODEL_LEN}"

METRICS = (
    SourceMetric("vllm:num_requests_running", "gauge", "requests", "Requests in model execution batches.",
                 LABELS, _at(528), "running"),
    SourceMetric("vllm:num_requests_waiting", "gauge", "requests", "Requests waiting to be processed.",
                 LABELS, _at(538), "waiting"),
    SourceMetric("vllm:kv_cache_usage_perc", "gauge", "ratio", "KV-cache usage; 1 means 100 percent.",
                 LABELS, _at(620), "kv_cache_usage", note="A ratio 0..1 despite the `_perc` name."),
    SourceMetric("vllm:prefix_cache_queries_total", "counter", "tokens", "Prefix-cache queries, in queried tokens.",
                 LABELS, _at(662)),
    SourceMetric("vllm:prefix_cache_hits_total", "counter", "tokens", "Prefix-cache hits, in cached tokens.",
                 LABELS, _at(673)),
    SourceMetric("vllm:num_preemptions_total", "counter", "preemptions", "Cumulative preemptions by the engine.",
                 LABELS, _at(739)),
    SourceMetric("vllm:prompt_tokens_total", "counter", "tokens", "Prefill tokens processed.",
                 LABELS, _at(748), "prompt_tokens"),
    SourceMetric("vllm:generation_tokens_total", "counter", "tokens", "Generation tokens processed.",
                 LABELS, _at(799), "generation_tokens"),
    SourceMetric("vllm:request_success_total", "counter", "requests",
                 "Finished requests by finish reason (despite the name, aborted and failed ones too).",
                 (*LABELS, "finished_reason"), _at(809), "requests",
                 note="finished_reason is stop, length, abort, error or repetition (vllm/v1/engine/__init__.py:37); "
                      "error is a retryable engine-side failure, abort a client that went away. Requests rejected "
                      "before the engine (validation, HTTP 4xx) are not counted."),
    SourceMetric("vllm:request_prompt_tokens", "histogram", "tokens", "Prefill tokens per request.",
                 LABELS, _at(865), buckets=request_tokens_buckets(MAX_MODEL_LEN), buckets_note=_TOKENS_NOTE),
    SourceMetric("vllm:request_generation_tokens", "histogram", "tokens", "Generation tokens per request.",
                 LABELS, _at(875), buckets=request_tokens_buckets(MAX_MODEL_LEN), buckets_note=_TOKENS_NOTE),
    SourceMetric("vllm:time_to_first_token_seconds", "histogram", "seconds", "Time to first token.",
                 LABELS, _at(931), "ttft", TIME_TO_FIRST_TOKEN_BUCKETS,
                 note="Recorded for every request, streamed or not."),
    SourceMetric("vllm:inter_token_latency_seconds", "histogram", "seconds",
                 "Inter-token latency: one observation per decode step of each request.",
                 LABELS, _at(941), "itl", INTER_TOKEN_LATENCY_BUCKETS),
    SourceMetric("vllm:request_time_per_output_token_seconds", "histogram", "seconds",
                 "Mean time per output token, one observation per request.",
                 LABELS, _at(951), "tpot", INTER_TOKEN_LATENCY_BUCKETS),
    SourceMetric("vllm:e2e_request_latency_seconds", "histogram", "seconds", "End-to-end request latency.",
                 LABELS, _at(961), "e2e_latency", REQUEST_LATENCY_BUCKETS),
    SourceMetric("vllm:request_queue_time_seconds", "histogram", "seconds", "Time spent WAITING.",
                 LABELS, _at(971), "queue_time", REQUEST_LATENCY_BUCKETS),
    SourceMetric("vllm:request_inference_time_seconds", "histogram", "seconds", "Time spent RUNNING.",
                 LABELS, _at(981), buckets=REQUEST_LATENCY_BUCKETS),
    SourceMetric("vllm:request_prefill_time_seconds", "histogram", "seconds", "Time spent in PREFILL.",
                 LABELS, _at(991), buckets=REQUEST_LATENCY_BUCKETS),
    SourceMetric("vllm:request_decode_time_seconds", "histogram", "seconds", "Time spent in DECODE.",
                 LABELS, _at(1001), buckets=REQUEST_LATENCY_BUCKETS),
)

DEPRECATED = (
    Deprecated("vllm:gpu_cache_usage_perc", "gauge", "vllm:kv_cache_usage_perc", "v0.9.2", "v0.11.0", "v0.12.0",
               Citation(LOGGERS, 215, "v0.11.0"),
               "Shown in v0.11 only with --show-hidden-metrics-for-version=0.10; gone from v0.12.0."),
    Deprecated("vllm:gpu_prefix_cache_queries_total", "counter", "vllm:prefix_cache_queries_total", "v0.9.2",
               "v0.11.0", "v0.12.0", Citation(LOGGERS, 229, "v0.11.0")),
    Deprecated("vllm:gpu_prefix_cache_hits_total", "counter", "vllm:prefix_cache_hits_total", "v0.9.2", "v0.11.0",
               "v0.12.0", Citation(LOGGERS, 243, "v0.11.0")),
    Deprecated("vllm:time_per_output_token_seconds", "histogram", "vllm:inter_token_latency_seconds", "v0.11.0",
               "v0.12.0", "v0.13.0", Citation(LOGGERS, 390, "v0.11.0"),
               "Same buckets as inter_token_latency; v0.12 shows it only with "
               "--show-hidden-metrics-for-version=0.11 (loggers.py:689 @ v0.12.0)."),
)

SOURCE = Source(
    name="vllm",
    project="vllm-project/vllm",
    version=VERSION,
    metrics_path="/metrics",
    default_port=8000,
    labels={
        "model_name": "the served model name (--served-model-name, else the model path)",
        "engine": "engine index; \"0\" unless data parallelism runs several engines",
        "finished_reason": "stop | length | abort | error | repetition",
    },
    metrics=METRICS,
    deprecated=DEPRECATED,
    notes=(
        "Labels are the same on every family: model_name and engine (loggers.py:499).",
        "Counters are exposed with _total; the family name in the code has no suffix.",
        "A deprecated name is hidden one minor release after deprecation and removed the next "
        "(observability config show_hidden_metrics_for_version, vllm/config/observability.py:23).",
    ),
)
