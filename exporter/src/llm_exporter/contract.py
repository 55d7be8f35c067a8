"""The metric contract: every metric family the exporter exposes, in one place.

docs/metrics.md documents exactly these families and a test compares the two, so a name, a label
or a bucket changes here first. Bucket edges are chosen for LLM traffic: end-to-end latency runs
from a quarter second to minutes, time to first token from tens of milliseconds to seconds, and
time per output token from single milliseconds.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Kind = Literal["counter", "gauge", "histogram"]

ERROR_TYPES = (
    "rate_limit",
    "timeout",
    "server_error",
    "content_filter",
    "context_length_exceeded",
    "authentication",
    "invalid_request",
    "other",
)
FEEDBACK_RATINGS = ("positive", "negative")
FLAG_REASONS = ("hallucination", "refusal", "pii", "toxicity")
BUDGET_PERIODS = ("daily", "monthly")
TELEMETRY_SIGNALS = ("traces", "logs")
# Requests the exporter refused itself (nothing was recorded or sent upstream), by route and reason.
REJECT_ROUTES = (
    "/v1/chat/completions",
    "/v1/completions",
    "/v1/embeddings",
    "/mock/scenario",
    "/alertmanager/webhook",
    "other",
)
REJECT_REASONS = (
    "body_too_large",  # 413: over the route's size limit
    "body_timeout",  # 408: the body did not arrive within the body timeout
    "malformed_body",  # 400: not JSON, not UTF-8, or nested too deeply
    "invalid_payload",  # 400/422: JSON, but not what the route accepts
    "unauthorized",  # 401: the webhook's bearer token was missing or wrong
    "server_busy",  # 503: request bodies in progress would pass the memory budget
)

DURATION_BUCKETS = (0.25, 0.5, 1, 2, 3, 5, 7.5, 10, 15, 20, 30, 45, 60, 90, 120, 180, 300)
TTFT_BUCKETS = (0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5, 10, 20)
TPOT_BUCKETS = (0.005, 0.01, 0.015, 0.02, 0.03, 0.04, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.5)
COST_BUCKETS = (0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)


@dataclass(frozen=True)
class MetricSpec:
    """One metric family as exposed: `name` is the family name (counters gain `_total` on the wire)."""

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()

    @property
    def exposed_name(self) -> str:
        return f"{self.name}_total" if self.kind == "counter" else self.name


CALL = ("provider", "model", "app_id")
CALL_DEPT = ("provider", "model", "app_id", "department")
GPU = ("gpu", "uuid", "gpu_name")

REQUESTS = MetricSpec("llm_requests", "counter", "LLM calls completed, by outcome.", (*CALL_DEPT, "status"))
ERRORS = MetricSpec("llm_errors", "counter", "Failed LLM calls by error type.", (*CALL, "error_type"))
TOKENS = MetricSpec("llm_tokens", "counter", "Tokens consumed, by direction.", (*CALL_DEPT, "direction"))
COST = MetricSpec("llm_cost_usd", "counter", "Spend in US dollars from the pricing file.", CALL_DEPT)
DURATION = MetricSpec(
    "llm_request_duration_seconds", "histogram", "End-to-end LLM call latency, failed calls included.",
    CALL, DURATION_BUCKETS,
)
TTFT = MetricSpec(
    "llm_time_to_first_token_seconds", "histogram", "Time to the first streamed token.", CALL, TTFT_BUCKETS
)
TPOT = MetricSpec(
    "llm_time_per_output_token_seconds", "histogram", "Mean time per output token after the first.",
    CALL, TPOT_BUCKETS,
)
REQUEST_COST = MetricSpec(
    "llm_request_cost_usd", "histogram", "Cost of one priced LLM call in US dollars.", CALL, COST_BUCKETS
)
ACTIVE = MetricSpec("llm_active_requests", "gauge", "LLM calls in flight.", ("provider", "model"))
QUALITY = MetricSpec(
    "llm_quality_score", "gauge", "Rolling (exponentially weighted) response quality score, 0 to 5.", ("app_id",)
)
FEEDBACK = MetricSpec("llm_feedback", "counter", "User feedback on responses.", ("app_id", "rating"))
FLAGGED = MetricSpec("llm_responses_flagged", "counter", "Responses flagged by quality checks.", ("app_id", "reason"))
BUDGET = MetricSpec("llm_budget_usd", "gauge", "Configured spend budget in US dollars.", ("department", "period"))
UNPRICED = MetricSpec("llm_unpriced_requests", "counter", "LLM calls for a model with no price.", ("model",))
INVALID_VALUES = MetricSpec(
    "llm_invalid_values", "counter", "Recorded call fields that were negative, NaN or not numbers (counted as 0).",
    ("field",),
)
LABEL_OVERFLOW = MetricSpec(
    "llm_label_overflow", "counter", "Label values recorded as 'other' past the cardinality bound.", ("label",)
)
TELEMETRY_DROPPED = MetricSpec(
    "llm_telemetry_dropped", "counter", "Trace spans or log records dropped because export could not keep up.",
    ("signal",),
)
REJECTED = MetricSpec(
    "llm_rejected_requests", "counter",
    "HTTP requests refused by the exporter before any processing (never sent upstream, nothing recorded).",
    ("route", "reason"),
)
ALERT_NOTIFICATIONS = MetricSpec(
    "llm_alert_notifications", "counter", "Alertmanager webhook notifications received.",
    ("receiver", "status", "alertname"),
)
GPU_UP = MetricSpec("llm_gpu_up", "gauge", "1 when GPU telemetry could be read, 0 otherwise.")
GPU_UTILIZATION = MetricSpec("llm_gpu_utilization_ratio", "gauge", "GPU busy ratio, 0 to 1.", GPU)
GPU_MEMORY_USED = MetricSpec("llm_gpu_memory_used_bytes", "gauge", "GPU memory in use.", GPU)
GPU_MEMORY_TOTAL = MetricSpec("llm_gpu_memory_total_bytes", "gauge", "GPU memory installed.", GPU)
GPU_POWER = MetricSpec("llm_gpu_power_watts", "gauge", "GPU power draw.", GPU)
GPU_TEMPERATURE = MetricSpec("llm_gpu_temperature_celsius", "gauge", "GPU core temperature.", GPU)
EXPORTER_INFO = MetricSpec("llm_exporter_info", "gauge", "Exporter build and mode; always 1.", ("mode", "version"))
MOCK_SCENARIO = MetricSpec(
    "llm_mock_scenario", "gauge", "1 for the active mock scenario (mock mode only).", ("scenario",)
)

GPU_METRICS = (GPU_UTILIZATION, GPU_MEMORY_USED, GPU_MEMORY_TOTAL, GPU_POWER, GPU_TEMPERATURE)

ALL_METRICS: tuple[MetricSpec, ...] = (
    REQUESTS, ERRORS, TOKENS, COST, DURATION, TTFT, TPOT, REQUEST_COST, ACTIVE, QUALITY, FEEDBACK, FLAGGED,
    BUDGET, UNPRICED, INVALID_VALUES, LABEL_OVERFLOW, TELEMETRY_DROPPED, REJECTED, ALERT_NOTIFICATIONS, GPU_UP,
    *GPU_METRICS, EXPORTER_INFO, MOCK_SCENARIO,
)
