"""The LiteLLM proxy's Prometheus metrics, read in the v1.110.2 release (PyPI litellm==1.110.2).

Families are created in litellm/integrations/prometheus.py; their label lists are in
litellm/types/integrations/prometheus.py (PrometheusMetricLabels, with `org_id` and `org_alias`
appended to the families in `_org_label_metrics`, line 911). The label lists below are what
`PrometheusMetricLabels.get_labels(name)` returns with default settings, checked by running that
release. prometheus_client renders them, so counters gain `_total`, and a label the request has
no value for renders as the string "None" (prometheus_client calls str() on label values).

At this release /metrics asks for a key (`require_auth_for_metrics_endpoint` defaults to True,
litellm/__init__.py:171; the check is litellm/proxy/middleware/prometheus_auth_middleware.py:51):
scrape with `Authorization: Bearer <key>`, or set `litellm_settings.require_auth_for_metrics_endpoint:
false`. Which release changed the default was not confirmed here.
"""

from __future__ import annotations

from .model import Citation, Source, SourceMetric

VERSION = "v1.110.2"
INTEGRATION = "litellm/integrations/prometheus.py"
TYPES = "litellm/types/integrations/prometheus.py"

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.0, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 420.0,
                   600.0)  # types file line 143; the tuple ends in inf, which is the +Inf bucket

ORG = ("org_id", "org_alias")
PROXY_REQUESTS = ("end_user", "hashed_api_key", "api_key_alias", "requested_model", "team", "team_alias", "user",
                  "status_code", "user_email", "route", "client_ip", "user_agent", "model_id", "api_provider", *ORG)
PROXY_FAILURES = ("end_user", "hashed_api_key", "api_key_alias", "requested_model", "team", "team_alias", "user",
                  "user_email", "exception_status", "exception_class", "route", "client_ip", "user_agent",
                  "model_id", "api_provider", *ORG)
TOTAL_LATENCY = ("model_group", "end_user", "hashed_api_key", "api_key_alias", "requested_model", "team",
                 "team_alias", "user", "model", "model_id", "api_provider", "service_tier", *ORG)
API_LATENCY = ("model_group", "model", "hashed_api_key", "api_key_alias", "team", "team_alias", "requested_model",
               "end_user", "user", "model_id", "api_provider", "service_tier", *ORG)
SPEND = ("end_user", "hashed_api_key", "api_key_alias", "model", "team", "team_alias", "user", "user_email",
         "client_ip", "user_agent", "requested_model", "model_id", "api_provider", "service_tier", *ORG)
TOKENS = ("end_user", "hashed_api_key", "api_key_alias", "model", "team", "team_alias", "user", "user_email",
          "requested_model", "model_id", "api_provider", *ORG)
TEAM = ("team", "team_alias")
KEY = ("hashed_api_key", "api_key_alias")
DEPLOYMENT = ("model_group", "requested_model", "litellm_model_name", "model_id", "api_base", "api_provider",
              "hashed_api_key", "api_key_alias", "team", "team_alias", "client_ip", "user_agent")
DEPLOYMENT_FAILURE = ("model_group", "requested_model", "litellm_model_name", "model_id", "api_base",
                      "api_provider", "exception_status", "exception_class", "hashed_api_key", "api_key_alias",
                      "team", "team_alias", "client_ip", "user_agent")


def _at(line: int, labels_line: int) -> Citation:
    return Citation(f"{INTEGRATION} (labels: {TYPES}:{labels_line})", line, VERSION)


METRICS = (
    SourceMetric("litellm_proxy_total_requests_metric_total", "counter", "requests",
                 "Client requests to the proxy, successes (status_code=\"200\") and failures.", PROXY_REQUESTS,
                 _at(563, 490), "requests"),
    SourceMetric("litellm_proxy_failed_requests_metric_total", "counter", "requests",
                 "Client requests that did not get a success response.", PROXY_FAILURES, _at(557, 507), "failures",
                 note="exception_status is the HTTP status as a string; exception_class is the provider, "
                      "capitalised, a dot and the exception class (\"Openai.RateLimitError\"), "
                      "prometheus.py:3814."),
    SourceMetric("litellm_request_total_latency_metric", "histogram", "seconds",
                 "End-to-end latency at the proxy, successful requests.", TOTAL_LATENCY, _at(570, 456),
                 "e2e_latency", LATENCY_BUCKETS, "litellm.prometheus_latency_buckets replaces them"),
    SourceMetric("litellm_llm_api_latency_metric", "histogram", "seconds",
                 "Latency of the call to the LLM API (the upstream).", API_LATENCY, _at(579, 426),
                 buckets=LATENCY_BUCKETS, buckets_note="litellm.prometheus_latency_buckets replaces them"),
    SourceMetric("litellm_llm_api_time_to_first_token_metric", "histogram", "seconds",
                 "Time to first token of streamed LLM API calls.", API_LATENCY, _at(586, 441), "ttft",
                 LATENCY_BUCKETS, "litellm.prometheus_latency_buckets replaces them"),
    SourceMetric("litellm_spend_metric_total", "counter", "USD", "Spend on LLM requests (LiteLLM's own prices).",
                 SPEND, _at(601, 597), "spend"),
    SourceMetric("litellm_total_tokens_metric_total", "counter", "tokens", "Input + output tokens.", TOKENS,
                 _at(608, 638)),
    SourceMetric("litellm_input_tokens_metric_total", "counter", "tokens", "Input tokens.", TOKENS, _at(614, 624),
                 "prompt_tokens"),
    SourceMetric("litellm_output_tokens_metric_total", "counter", "tokens", "Output tokens.", TOKENS,
                 _at(620, 652), "generation_tokens"),
    SourceMetric("litellm_remaining_team_budget_metric", "gauge", "USD",
                 "Team max budget minus team spend (+Inf when the team has no budget).", TEAM, _at(676, 719),
                 "budget_remaining"),
    SourceMetric("litellm_team_max_budget_metric", "gauge", "USD", "Team max budget.", TEAM, _at(683, 724),
                 "budget_max"),
    SourceMetric("litellm_team_budget_remaining_hours_metric", "gauge", "hours", "Hours until the team budget resets.",
                 TEAM, _at(690, 729), "budget_reset_hours"),
    SourceMetric("litellm_remaining_api_key_budget_metric", "gauge", "USD",
                 "Key max budget minus key spend (+Inf without a budget).", KEY, _at(725, 754)),
    SourceMetric("litellm_api_key_max_budget_metric", "gauge", "USD", "Key max budget.", KEY, _at(732, 759)),
    SourceMetric("litellm_deployment_total_requests_total", "counter", "requests",
                 "Requests to each upstream deployment.", DEPLOYMENT, _at(946, 811)),
    SourceMetric("litellm_deployment_success_responses_total", "counter", "requests",
                 "Successful responses of each upstream deployment.", DEPLOYMENT, _at(935, 826)),
    SourceMetric("litellm_deployment_failure_responses_total", "counter", "requests",
                 "Failed responses of each upstream deployment.", DEPLOYMENT_FAILURE, _at(940, 794)),
)

SOURCE = Source(
    name="litellm",
    project="BerriAI/litellm",
    version=VERSION,
    metrics_path="/metrics",
    default_port=4000,
    labels={
        "team": "team id", "team_alias": "team name",
        "hashed_api_key": "SHA-256 of the virtual key (litellm.proxy.utils.hash_token)",
        "api_key_alias": "the key's alias",
        "requested_model": "the model name the client asked for (the model group)",
        "model_group": "the model group (same as requested_model on these families)",
        "model": "the LiteLLM model name of the deployment that answered",
        "litellm_model_name": "the same, on the deployment families",
        "model_id": "the deployment id", "api_base": "the deployment's upstream URL",
        "api_provider": "LiteLLM's provider name: openai, anthropic, gemini, hosted_vllm, ...",
        "status_code": "HTTP status returned to the client, as a string",
        "exception_status": "HTTP status of the failure", "exception_class": "Provider.ExceptionClass",
        "end_user": "the end user id the client sent", "user": "internal user id", "user_email": "its e-mail",
        "route": "the proxy route (/chat/completions)", "client_ip": "requester IP", "user_agent": "client UA",
        "service_tier": "the provider's service tier", "org_id": "organisation id", "org_alias": "its name",
    },
    metrics=METRICS,
    notes=(
        "The latency families swap api_key_alias for user_email (or add it) when "
        "prometheus_deployment_and_latency_caller_identity is user_email (or both).",
        "Optional labels are appended to all label lists above: custom metadata labels, tag_<tag>, "
        "and stream on the total-requests family (litellm.prometheus_emit_stream_label).",
        "For a 401 the failure families carry hashed_api_key=\"None\" (prometheus.py:3079).",
    ),
)
