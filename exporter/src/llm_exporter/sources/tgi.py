"""Text Generation Inference's Prometheus metrics, read at tag v3.3.7.

TGI's router records with the Rust `metrics` crate and renders with metrics-exporter-prometheus
0.15.3 (Cargo.lock @ v3.3.7). Three things differ from the Python servers:

- counters keep their bare names: `tgi_request_count`, not `tgi_request_count_total`
  (metrics-exporter-prometheus/src/recorder.rs:122 @ metrics-exporter-prometheus-v0.15.3 writes the
  name as recorded);
- no family has a model label: one TGI serves one model, so tell instances apart by `job`/`instance`;
- histograms get buckets only where router/src/server.rs:1974 sets them; any other histogram is
  rendered as a summary (quantiles 0, 0.5, 0.9, 0.95, 0.99, 0.999, 1 by the exporter's default).
  Bucket edges print as Rust prints floats: `le="1"`, never `le="1.0"`.

There is no time-to-first-token metric. The /metrics route is on the API port (server.rs:2243;
3000 by default, 80 in the official image) and also on --prometheus-port (9000).
"""

from __future__ import annotations

from .model import Citation, Source, SourceMetric

VERSION = "v3.3.7"
SERVER = "router/src/server.rs"

# The configuration the token-count buckets below are recorded for (the mock TGI's launch flags).
MAX_INPUT_TOKENS = 16_384
MAX_TOTAL_TOKENS = 32_768


def duration_buckets() -> tuple[float, ...]:
    """server.rs:1938: a geometric series, 35 edges, 0.0001 x 1.5^k computed by repeated multiplication."""
    edges, value = [], 0.0001
    for _ in range(35):
        value *= 1.5
        edges.append(value)
    return tuple(edges)


def linear_buckets(limit: int) -> tuple[float, ...]:
    """server.rs:1950: 100 edges, (limit / 100) x (k + 1)."""
    return tuple((limit / 100.0) * (x + 1) for x in range(100))


def _at(line: int, file: str = SERVER) -> Citation:
    return Citation(file, line, VERSION)


_DURATION = "0.0001 x 1.5^k, k = 1..35 (server.rs:1938, Matcher::Suffix(\"duration\"))"

METRICS = (
    SourceMetric("tgi_request_count", "counter", "requests", "Requests received (before validation).", (),
                 _at(203), "requests", note="Counts every request, including those that later fail."),
    SourceMetric("tgi_request_success", "counter", "requests", "Successful requests.", (), _at(415)),
    SourceMetric("tgi_request_failure", "counter", "requests", "Failed requests by cause.", ("err",),
                 _at(117, "router/src/infer/mod.rs"), "failures",
                 note="err: overloaded, validation, template, incomplete (router/src/infer/mod.rs), "
                      "generation, dropped (backends/v3/src/backend.rs:439, :545; queue.rs:282)."),
    SourceMetric("tgi_request_duration", "histogram", "seconds", "End-to-end request duration.", (), _at(416),
                 "e2e_latency", duration_buckets(), _DURATION),
    SourceMetric("tgi_request_queue_duration", "histogram", "seconds", "Time in the queue.", (), _at(418),
                 "queue_time", duration_buckets(), _DURATION),
    SourceMetric("tgi_request_inference_duration", "histogram", "seconds", "Inference time.", (), _at(419),
                 buckets=duration_buckets(), buckets_note=_DURATION),
    SourceMetric("tgi_request_mean_time_per_token_duration", "histogram", "seconds",
                 "Mean time per generated token: inference time / generated tokens, one per request.", (),
                 _at(420), "tpot", duration_buckets(), _DURATION),
    SourceMetric("tgi_request_generated_tokens", "histogram", "tokens", "Generated tokens per request.", (),
                 _at(422), "generation_tokens", linear_buckets(MAX_TOTAL_TOKENS),
                 f"(--max-total-tokens / 100) x k, k = 1..100 (server.rs:1954); recorded for "
                 f"--max-total-tokens {MAX_TOTAL_TOKENS}",
                 note="Generation tokens are its _sum; there is no token counter."),
    SourceMetric("tgi_request_input_length", "histogram", "tokens", "Input tokens per request.", (),
                 _at(192, "router/src/validation.rs"), "prompt_tokens", linear_buckets(MAX_INPUT_TOKENS),
                 f"(--max-input-tokens / 100) x k, k = 1..100 (server.rs:1949); recorded for "
                 f"--max-input-tokens {MAX_INPUT_TOKENS}",
                 note="Recorded at validation, so requests that fail later are in it too."),
    SourceMetric("tgi_queue_size", "gauge", "requests", "Requests in the queue.", (),
                 _at(143, "backends/v3/src/queue.rs"), "waiting"),
    SourceMetric("tgi_batch_current_size", "gauge", "requests", "Requests in the running batch.", (),
                 _at(170, "backends/v3/src/backend.rs"), "running"),
)

SOURCE = Source(
    name="tgi",
    project="huggingface/text-generation-inference",
    version=VERSION,
    metrics_path="/metrics",
    default_port=80,
    labels={"err": "overloaded | validation | template | incomplete | generation | dropped"},
    metrics=METRICS,
    notes=(
        "No time-to-first-token and no inter-token histogram: tgi_request_mean_time_per_token_duration is "
        "a per-request mean that includes the first token's wait.",
        "tgi_request_count counts requests on arrival; success + failure can lag it by the requests in flight.",
    ),
)
