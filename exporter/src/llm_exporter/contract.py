"""The metric contract: every metric family the exporter exposes, in one place.

The table in docs/metrics.md is generated from these specs (`make rules`) and a test compares it,
the code and a live exporter, so a name, a label or a bucket changes here first. `required` marks
the families every source must expose for the dashboards and alerts to work (a user's own service
included); every alert can fire from those plus the families it is about.

Bucket edges are chosen for LLM traffic: end-to-end latency runs from a quarter second to minutes,
time to first token from tens of milliseconds to seconds, and time per output token from single
milliseconds.
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
    "insufficient_quota",
    "other",
)
FEEDBACK_RATINGS = ("positive", "negative")
FLAG_REASONS = ("hallucination", "refusal", "pii", "toxicity")
BUDGET_PERIODS = ("daily", "monthly")
# token class -> the direction whose total includes it (llm_exporter/tokens.py explains each)
TOKEN_CLASSES = {
    "cached_input": "input",
    "cache_write_input": "input",
    "audio_input": "input",
    "reasoning_output": "output",
    "audio_output": "output",
}
TOKEN_DIRECTIONS = ("input", "output")
# the `direction` values of llm_price_usd_per_token: the two base prices, then each class's own
PRICE_DIRECTIONS = (*TOKEN_DIRECTIONS, *TOKEN_CLASSES)
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
    """One metric family as exposed: `name` is the family name (counters gain `_total` on the wire).

    `help` is the HELP line; `unit`, `doc` and `example` are the docs/metrics.md columns.
    """

    name: str
    kind: Kind
    help: str
    labels: tuple[str, ...] = ()
    buckets: tuple[float, ...] = ()
    unit: str = ""
    doc: str = ""
    example: str = ""
    required: bool = False

    @property
    def exposed_name(self) -> str:
        return f"{self.name}_total" if self.kind == "counter" else self.name


CALL = ("provider", "model", "app_id")
CALL_DEPT = ("provider", "model", "app_id", "department")
GPU = ("gpu", "uuid", "gpu_name")
OBJECTIVE = ("app_id", "model")
OBJECTIVE_PREFIX = "llm_objective_"  # + the objective's key in the objectives file

REQUESTS = MetricSpec(
    "llm_requests", "counter", "LLM calls completed, by outcome.", (*CALL_DEPT, "status"),
    unit="calls", required=True,
    doc="LLM calls completed; `status` is `success` or `error`.",
    example="sum by (model) (rate(llm_requests_total[5m]))",
)
ERRORS = MetricSpec(
    "llm_errors", "counter", "Failed LLM calls by error type.", (*CALL, "error_type"),
    unit="calls",
    doc="Failed calls by `error_type`: " + ", ".join(ERROR_TYPES) + ". `insufficient_quota` is a 429 saying "
        "the account is out of credit or over its spend limit (no retry helps); other 429s are `rate_limit`.",
    example="sum by (error_type) (rate(llm_errors_total[5m]))",
)
TOKENS = MetricSpec(
    "llm_tokens", "counter", "Tokens consumed, by direction.", (*CALL_DEPT, "direction"),
    unit="tokens", required=True,
    doc="Tokens billed; `direction` is `input` or `output`, each the direction's whole total: input counts "
        "cached prompt tokens too (OpenAI's `prompt_tokens` as reported; for Anthropic, `input_tokens` + "
        "`cache_read_input_tokens` + `cache_creation_input_tokens`), output counts reasoning tokens too. Failed "
        "calls count the tokens the provider reported (usually none).",
    example="sum by (direction) (rate(llm_tokens_total[5m]))",
)
TOKENS_BY_CLASS = MetricSpec(
    "llm_tokens_by_class", "counter", "Tokens of a class billed at its own price; part of llm_tokens_total.",
    (*CALL_DEPT, "token_class"), unit="tokens",
    doc="The part of `llm_tokens_total` in each separately priced class, where the provider reports it: "
        "`token_class` is `cached_input`, `cache_write_input`, `audio_input` (part of input) or "
        "`reasoning_output`, `audio_output` (part of output). A label set has a series once a call reported "
        "that class ([pricing.md](pricing.md#cached-audio-and-reasoning-tokens)).",
    example='sum(rate(llm_tokens_by_class_total{token_class="cached_input"}[1h])) '
            '/ sum(rate(llm_tokens_total{direction="input"}[1h]))',
)
COST = MetricSpec(
    "llm_cost_usd", "counter", "Spend in US dollars from the pricing file.", CALL_DEPT,
    unit="USD",
    doc="Spend computed from the pricing file. Unpriced models add nothing here (see "
        "`llm_unpriced_requests_total`).",
    example="sum by (department) (increase(llm_cost_usd_total[1d]))",
)
DURATION = MetricSpec(
    "llm_request_duration_seconds", "histogram", "End-to-end LLM call latency, failed calls included.",
    CALL, DURATION_BUCKETS, unit="seconds", required=True,
    doc="End-to-end latency of every call, **failed calls included** (a timeout is latency the user felt). "
        "Buckets 0.25 s … 300 s. Exemplar `trace_id` (and `request_id`).",
    example="histogram_quantile(0.95, sum by (le, model) (rate(llm_request_duration_seconds_bucket[5m])))",
)
TTFT = MetricSpec(
    "llm_time_to_first_token_seconds", "histogram", "Time to the first streamed token.", CALL, TTFT_BUCKETS,
    unit="seconds",
    doc="Time to the first streamed token; only calls whose first token was observed (streaming). "
        "Buckets 0.05 s … 20 s. Exemplar `trace_id`.",
    example="histogram_quantile(0.95, sum by (le, model) (rate(llm_time_to_first_token_seconds_bucket[5m])))",
)
TPOT = MetricSpec(
    "llm_time_per_output_token_seconds", "histogram", "Mean time per output token after the first.",
    CALL, TPOT_BUCKETS, unit="seconds",
    doc="Mean time per output token after the first; successful streamed calls with at least 2 output "
        "tokens. Buckets 5 ms … 500 ms.",
    example="histogram_quantile(0.5, sum by (le, model) (rate(llm_time_per_output_token_seconds_bucket[5m])))",
)
REQUEST_COST = MetricSpec(
    "llm_request_cost_usd", "histogram", "Cost of one priced LLM call in US dollars.", CALL, COST_BUCKETS,
    unit="USD",
    doc='Cost of one priced call. Buckets $0.0001 … $10 (a `1.0` edge for the "request above $1" alert). '
        "Exemplar `trace_id`.",
    example="sum(increase(llm_request_cost_usd_count[1h])) "
            r'- sum(increase(llm_request_cost_usd_bucket{le=~"1(\\.0)?"}[1h]))',
)
ACTIVE = MetricSpec(
    "llm_active_requests", "gauge", "LLM calls in flight.", ("provider", "model"),
    unit="calls", doc="Calls in flight.", example="sum by (model) (llm_active_requests)",
)
QUALITY = MetricSpec(
    "llm_quality_score", "gauge", "Rolling (exponentially weighted) response quality score, 0 to 5.", ("app_id",),
    unit="score 0–5",
    doc="Rolling response quality: exponentially weighted mean, each scored response moving it 5% of the way.",
    example="min by (app_id) (llm_quality_score)",
)
FEEDBACK = MetricSpec(
    "llm_feedback", "counter", "User feedback on responses.", ("app_id", "rating"),
    unit="responses", doc="User feedback; `rating` is `positive` or `negative`.",
    example='sum by (app_id) (rate(llm_feedback_total{rating="negative"}[1h])) '
            "/ sum by (app_id) (rate(llm_feedback_total[1h]))",
)
FLAGGED = MetricSpec(
    "llm_responses_flagged", "counter", "Responses flagged by quality checks.", ("app_id", "reason"),
    unit="responses",
    doc="Responses flagged by quality checks; `reason` is hallucination, refusal, pii or toxicity.",
    example="sum by (reason) (rate(llm_responses_flagged_total[1h]))",
)
BUDGET = MetricSpec(
    "llm_budget_usd", "gauge", "Configured spend budget in US dollars.", ("department", "period"),
    unit="USD", doc="Budget from `budgets.yaml`; `period` is `daily` or `monthly`.",
    example='llm_budget_usd{period="daily"}',
)
PRICE = MetricSpec(
    "llm_price_usd_per_token", "gauge", "Price from the pricing file in US dollars per token.",
    ("model", "direction"), unit="USD per token",
    doc="The pricing file as series (every mode that loads one), one per priced name and per declared alias: "
        "`direction` is `input` and `output` (base prices) and each token class priced on its own "
        "(`cached_input`, `cache_write_input`, `audio_input`, `reasoning_output`, `audio_output`). For spend of "
        "sources that count tokens but not cost. Dated snapshots have no series of their own "
        "([pricing.md](pricing.md#prices-as-series)).",
    example='sum by (model) (rate(llm_tokens_total{direction="output"}[5m]) * on (model) group_left '
            'max by (model) (llm_price_usd_per_token{direction="output"}))',
)
SELF_HOSTED_PRICE = MetricSpec(
    "llm_self_hosted_usd_per_hour", "gauge", "Hourly cost of a self-hosted model's GPUs from the pricing file.",
    ("model",), unit="USD per hour",
    doc="A self-hosted model's GPU cost from the pricing file (`gpu_hour_usd` × `gpus`), for priced names and "
        "aliases that declare one.",
    example="sum(max by (model) (llm_self_hosted_usd_per_hour)) * 24",
)
UNPRICED = MetricSpec(
    "llm_unpriced_requests", "counter", "LLM calls for a model with no price.", ("model",),
    unit="calls", doc="Calls for a model with no price in the pricing file (logged once per model).",
    example="sum by (model) (increase(llm_unpriced_requests_total[1h])) > 0",
)
INVALID_VALUES = MetricSpec(
    "llm_invalid_values", "counter", "Recorded call fields that were negative, NaN or not numbers (counted as 0).",
    ("field",), unit="values",
    doc="Recorded call fields that could not be true (negative, NaN, infinite, not a number): `duration_s`, "
        "`ttft_s`, `input_tokens`, `output_tokens`, `quality_score`, `token_details`, and `<class>_tokens` for "
        "a token class count that is not a count or exceeds its direction's total (it is then counted as that "
        "total). They count as 0 (or absent); the call itself is still counted. Logged once per field.",
    example="sum by (field) (increase(llm_invalid_values_total[1h])) > 0",
)
LABEL_OVERFLOW = MetricSpec(
    "llm_label_overflow", "counter", "Label values recorded as 'other' past the cardinality bound.", ("label",),
    unit="recordings",
    doc="Recordings whose label value became `other` because the label reached its bound (`label` is the "
        "label name), or whose whole label set did because `--max-label-sets` was reached "
        '(`label="label_set"`).',
    example="rate(llm_label_overflow_total[5m]) > 0",
)
TELEMETRY_DROPPED = MetricSpec(
    "llm_telemetry_dropped", "counter", "Trace spans or log records dropped because export could not keep up.",
    ("signal",), unit="records",
    doc="Spans (`traces`) or log records (`logs`) dropped because the OTLP backend was down or slow.",
    example="rate(llm_telemetry_dropped_total[5m])",
)
REJECTED = MetricSpec(
    "llm_rejected_requests", "counter",
    "HTTP requests refused by the exporter before any processing (never sent upstream, nothing recorded).",
    ("route", "reason"), unit="requests",
    doc="Requests the exporter refused itself, before anything was recorded or sent upstream: the proxy's "
        "`/v1/...` routes, `/mock/scenario` and `/alertmanager/webhook` (`route`; `other` for any other path). "
        "`reason`: `body_too_large` (413), `body_timeout` (408), `malformed_body` (400: not JSON), "
        "`invalid_payload` (400/422: JSON of the wrong shape, e.g. a proxy request without a string `model`), "
        "`unauthorized` (401: webhook bearer token), `server_busy` (503). The first rejection of each kind is "
        "logged. See [reliability.md](reliability.md).",
    example="sum by (route, reason) (rate(llm_rejected_requests_total[5m])) > 0",
)
ALERT_NOTIFICATIONS = MetricSpec(
    "llm_alert_notifications", "counter", "Alertmanager webhook notifications received.",
    ("receiver", "status", "alertname"), unit="notifications",
    doc="Alertmanager webhook notifications received by the exporter; `status` is `firing` or `resolved`.",
    example="sum by (alertname) (increase(llm_alert_notifications_total[1h]))",
)
GPU_UP = MetricSpec(
    "llm_gpu_up", "gauge", "1 when GPU telemetry could be read, 0 otherwise.",
    unit="boolean", doc="1 when GPU telemetry could be read (mock GPUs or NVML), 0 otherwise.",
    example="llm_gpu_up == 0",
)
GPU_UTILIZATION = MetricSpec("llm_gpu_utilization_ratio", "gauge", "GPU busy ratio, 0 to 1.", GPU,
                             unit="ratio 0–1", doc="GPU busy ratio.", example="avg(llm_gpu_utilization_ratio)")
GPU_MEMORY_USED = MetricSpec("llm_gpu_memory_used_bytes", "gauge", "GPU memory in use.", GPU, unit="bytes",
                             doc="GPU memory in use.",
                             example="llm_gpu_memory_used_bytes / llm_gpu_memory_total_bytes")
GPU_MEMORY_TOTAL = MetricSpec("llm_gpu_memory_total_bytes", "gauge", "GPU memory installed.", GPU, unit="bytes",
                              doc="GPU memory installed.", example="sum(llm_gpu_memory_total_bytes)")
GPU_POWER = MetricSpec("llm_gpu_power_watts", "gauge", "GPU power draw.", GPU, unit="watts",
                       doc="GPU power draw.", example="sum(llm_gpu_power_watts)")
GPU_TEMPERATURE = MetricSpec("llm_gpu_temperature_celsius", "gauge", "GPU core temperature.", GPU, unit="°C",
                             doc="GPU core temperature.", example="max(llm_gpu_temperature_celsius)")
EXPORTER_INFO = MetricSpec(
    "llm_exporter_info", "gauge", "Exporter build and mode; always 1.", ("mode", "version"),
    unit="1", doc="Always 1; tells the mode (`mock`, `real`, `proxy`, `config`, or `instrument` inside your own "
                  "service) and version.",
    example="llm_exporter_info",
)
MOCK_SCENARIO = MetricSpec(
    "llm_mock_scenario", "gauge", "1 for the active mock scenario (mock mode only).", ("scenario",),
    unit="1", doc="Mock mode only: 1 for the active scenario.", example="llm_mock_scenario == 1",
)


def _objective(key: str, help_: str, unit: str, example_value: str) -> MetricSpec:
    name = OBJECTIVE_PREFIX + key
    return MetricSpec(
        name, "gauge", help_, OBJECTIVE, unit=unit,
        doc=f"{help_} From the objectives file: `app_id` and `model` are empty on the broader levels "
            "(default; per app; per model); the alerts use the most specific one.",
        example=f'{name}{{app_id="", model="{example_value}"}}',
    )


OBJECTIVE_LATENCY = _objective("latency_p95_seconds", "Objective for P95 end-to-end latency.",
                               "seconds", "gpt-4o")
OBJECTIVE_TTFT = _objective("ttft_p95_seconds", "Objective for P95 time to first token.",
                            "seconds", "gpt-4o")
OBJECTIVE_TPOT = _objective("tpot_p95_seconds", "Objective for P95 time per output token.",
                            "seconds", "gpt-4o")
OBJECTIVE_ERROR_RATIO = _objective("error_ratio", "Objective: largest share of failed calls.",
                                   "ratio 0–1", "gpt-4o")
OBJECTIVE_AVAILABILITY = _objective("availability_ratio",
                                    "Availability objective (SLO target) over 30 days.", "ratio 0–1", "gpt-4o")

GPU_METRICS = (GPU_UTILIZATION, GPU_MEMORY_USED, GPU_MEMORY_TOTAL, GPU_POWER, GPU_TEMPERATURE)
OBJECTIVE_METRICS = (OBJECTIVE_LATENCY, OBJECTIVE_TTFT, OBJECTIVE_TPOT, OBJECTIVE_ERROR_RATIO, OBJECTIVE_AVAILABILITY)

ALL_METRICS: tuple[MetricSpec, ...] = (
    REQUESTS, ERRORS, TOKENS, TOKENS_BY_CLASS, COST, DURATION, TTFT, TPOT, REQUEST_COST, ACTIVE, QUALITY, FEEDBACK,
    FLAGGED, BUDGET, *OBJECTIVE_METRICS, PRICE, SELF_HOSTED_PRICE, UNPRICED, INVALID_VALUES, LABEL_OVERFLOW,
    TELEMETRY_DROPPED, REJECTED, ALERT_NOTIFICATIONS,
    GPU_UP, *GPU_METRICS, EXPORTER_INFO, MOCK_SCENARIO,
)
