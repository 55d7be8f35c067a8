"""The gateway layer's dialects: every call of the mock fleet as LiteLLM and as OpenTelemetry show it.

LiteLLM: the mock's departments are LiteLLM teams (team = team_alias = department) and its apps
are virtual keys (api_key_alias = app_id, hashed_api_key = SHA-256 of a made-up key "sk-mock-<app>",
as LiteLLM hashes real keys). A team's max budget is its department's monthly budget from
budgets.yaml, reset at the start of each UTC month; spend is the contract's cost. Labels LiteLLM
would fill from request metadata the mock does not have (end_user, user, user_email, client_ip,
user_agent, org, service tier) carry "None", as LiteLLM renders an unset label.

OpenTelemetry: every app calls through the OpenAI Python client instrumented by
opentelemetry-instrumentation-openai-v2 (default path), exported by the SDK's Prometheus exporter.
"""

from __future__ import annotations

import calendar
import functools
import hashlib
import time
from collections.abc import Callable
from datetime import UTC, datetime

from ...config import Budgets
from ...sources import litellm, otel_genai
from ..fleet import GATEWAY
from .calls import SeenCall
from .engines import Active
from .store import Store, le_python, le_str

# The mock's providers as LiteLLM names them (custom_llm_provider), and where their calls go.
LITELLM_PROVIDERS = {"openai": "openai", "anthropic": "anthropic", "google": "gemini", "vllm": "hosted_vllm"}
API_BASES = {"openai": "https://api.openai.com/v1", "anthropic": "https://api.anthropic.com",
             "google": "https://generativelanguage.googleapis.com", "vllm": "http://vllm:8000/v1"}
# Mock error type -> (HTTP status, LiteLLM exception class): litellm/exceptions.py @ v1.110.2.
LITELLM_FAILURES = {
    "rate_limit": ("429", "RateLimitError"), "server_error": ("500", "InternalServerError"),
    "timeout": ("408", "Timeout"), "content_filter": ("400", "ContentPolicyViolationError"),
    "context_length_exceeded": ("400", "ContextWindowExceededError"), "invalid_request": ("400", "BadRequestError"),
    "authentication": ("401", "AuthenticationError"), "other": ("500", "APIConnectionError"),
}
UNSET = "None"


@functools.lru_cache(maxsize=1024)
def hashed_key(app_id: str) -> str:
    """What LiteLLM shows for the app's virtual key: the SHA-256 of a made-up key, never a real one."""
    return hashlib.sha256(f"sk-mock-{app_id}".encode()).hexdigest()


@functools.lru_cache(maxsize=1024)
def deployment_id(model: str) -> str:
    return hashlib.sha256(f"mock-{model}".encode()).hexdigest()


def month_end(now: float) -> float:
    """The first second of the next UTC month: when a monthly LiteLLM budget resets."""
    day = datetime.fromtimestamp(now, UTC)
    year, month = (day.year + 1, 1) if day.month == 12 else (day.year, day.month + 1)
    return calendar.timegm((year, month, 1, 0, 0, 0))


class LiteLLM:
    """LiteLLM proxy v1.110.2 in front of the whole fleet."""

    source = litellm.SOURCE
    layer = GATEWAY

    def __init__(self, budgets: Budgets, clock: Callable[[], float] = time.time) -> None:
        self.store = Store(self.source, le_python)
        self.budgets = budgets
        self.clock = clock
        self._month_end = month_end(clock())
        self._month_spend: dict[str, float] = {}

    def _labels(self, call: SeenCall) -> dict[str, str]:
        """Every label value LiteLLM could put on this call; each family takes the ones it has."""
        return {
            "end_user": UNSET, "user": UNSET, "user_email": UNSET, "client_ip": UNSET, "user_agent": UNSET,
            "org_id": UNSET, "org_alias": UNSET, "service_tier": UNSET, "route": "/chat/completions",
            "hashed_api_key": hashed_key(call.app_id), "api_key_alias": call.app_id,
            "team": call.department, "team_alias": call.department,
            "requested_model": call.model, "model_group": call.model, "model": call.model,
            "litellm_model_name": call.model, "model_id": deployment_id(call.model),
            "api_provider": LITELLM_PROVIDERS.get(call.provider, call.provider),
            "api_base": API_BASES.get(call.provider, UNSET),
        }

    def _inc(self, name: str, values: dict[str, str], amount: float = 1.0, **extra: str) -> None:
        metric = self.source.metric(name)
        self.store.inc(name, {**{k: values[k] for k in metric.labels if k not in extra}, **extra}, amount)

    def _observe(self, name: str, values: dict[str, str], value: float) -> None:
        labels = {k: values[k] for k in self.source.metric(name).labels}
        self.store.observe(name, labels, value)

    def observe(self, call: SeenCall) -> None:
        values = self._labels(call)
        self._inc("litellm_deployment_total_requests_total", values)
        if call.error_type is not None:
            status, exception = LITELLM_FAILURES.get(call.error_type, LITELLM_FAILURES["other"])
            if status == "401":  # prometheus.py:3079
                values["hashed_api_key"] = UNSET
            provider = values["api_provider"]
            exception_class = f"{provider[:1].upper()}{provider[1:]}.{exception}"  # prometheus.py:3847
            self._inc("litellm_proxy_failed_requests_metric_total", values, exception_status=status,
                      exception_class=exception_class)
            self._inc("litellm_proxy_total_requests_metric_total", values, status_code=status)
            self._inc("litellm_deployment_failure_responses_total", values, exception_status=status,
                      exception_class=exception_class)
            return
        self._inc("litellm_proxy_total_requests_metric_total", values, status_code="200")
        self._inc("litellm_deployment_success_responses_total", values)
        self._observe("litellm_request_total_latency_metric", values, call.duration_s)
        self._observe("litellm_llm_api_latency_metric", values, call.duration_s)
        if call.ttft_s is not None:
            self._observe("litellm_llm_api_time_to_first_token_metric", values, call.ttft_s)
        self._inc("litellm_spend_metric_total", values, call.cost_usd or 0.0)
        self._inc("litellm_input_tokens_metric_total", values, call.input_tokens)
        self._inc("litellm_output_tokens_metric_total", values, call.output_tokens)
        self._inc("litellm_total_tokens_metric_total", values, call.input_tokens + call.output_tokens)
        self._roll_month()
        self._month_spend[call.department] = self._month_spend.get(call.department, 0.0) + (call.cost_usd or 0.0)

    def _roll_month(self) -> None:
        now = self.clock()
        if now >= self._month_end:
            self._month_end = month_end(now)
            self._month_spend.clear()

    def refresh(self, active: Active) -> None:
        """Team budgets, as LiteLLM sets them for every team at start-up and after each request."""
        self._roll_month()
        hours_left = (self._month_end - self.clock()) / 3600
        for department, budget in self.budgets.departments.items():
            team = {"team": department, "team_alias": department}
            self.store.set("litellm_team_max_budget_metric", team, budget.monthly)
            self.store.set("litellm_remaining_team_budget_metric", team,
                           budget.monthly - self._month_spend.get(department, 0.0))
            self.store.set("litellm_team_budget_remaining_hours_metric", team, hours_left)


# The OpenAI Python client's exception for each mock error type (what error.type carries).
OPENAI_ERRORS = {
    "rate_limit": "RateLimitError", "server_error": "InternalServerError", "timeout": "APITimeoutError",
    "content_filter": "BadRequestError", "context_length_exceeded": "BadRequestError",
    "invalid_request": "BadRequestError", "authentication": "AuthenticationError", "other": "APIConnectionError",
}
SCOPE = {"otel_scope_name": otel_genai.OPENAI_V2.scope_name, "otel_scope_version": "",
         "otel_scope_schema_url": otel_genai.OPENAI_V2.scope_schema_url}
RESOURCE = {"service_name": "llm-mock-apps", "telemetry_sdk_language": "python",
            "telemetry_sdk_name": "opentelemetry", "telemetry_sdk_version": "1.45.2"}


class Otel:
    """openai-v2 2.4b0 (default path) through opentelemetry-exporter-prometheus 0.66b2."""

    source = otel_genai.SDK_SOURCE
    layer = GATEWAY
    DURATION, TOKENS = (m.name for m in otel_genai.SDK_SOURCE.metrics[:2])

    def __init__(self) -> None:
        self.store = Store(self.source, le_str)

    def observe(self, call: SeenCall) -> None:
        labels = {"gen_ai_operation_name": "chat", "gen_ai_system": "openai", "gen_ai_request_model": call.model,
                  **SCOPE}
        if call.error_type is not None:
            self.store.observe(self.DURATION, {**labels, "error_type": OPENAI_ERRORS.get(call.error_type,
                                                                                         "APIConnectionError")},
                               call.duration_s)
            return
        labels["gen_ai_response_model"] = call.model
        self.store.observe(self.DURATION, labels, call.duration_s)
        if not call.streaming:  # the default path records no token usage for streamed calls
            self.store.observe(self.TOKENS, {**labels, "gen_ai_token_type": "input"}, call.input_tokens)
            self.store.observe(self.TOKENS, {**labels, "gen_ai_token_type": "output"}, call.output_tokens)

    def refresh(self, active: Active) -> None:
        self.store.set("target_info", RESOURCE, 1)
