"""The OpenTelemetry GenAI path for real: the official openai-v2 instrumentation and the SDK's
Prometheus exporter (the pinned test extras) in a service calling an OpenAI-compatible upstream,
scraped by real Prometheus. The names and labels it stores must be the recorded ones
(llm_exporter/sources/otel_genai.py); the OTLP path's names are checked against Prometheus'
own translator cases in tests/test_sources.py."""

from __future__ import annotations

import pytest
import requests

from llm_exporter.sources import otel_genai
from llm_exporter.sources.otel_genai import OPENAI_V2_EXPERIMENTAL_ATTRS, SDK_SOURCE, sdk_label_name
from tests.e2e_support import alerting
from tests.support import dashboards as ds
from tests.support.openai_upstream import OpenAIUpstream
from tests.support.processes import Running, free_port, run_module, run_prometheus, wait_for

pytestmark = pytest.mark.e2e

APP = "tests.support.otel_genai_app"
TARGET_LABELS = {"__name__", "job", "instance", "le"}
EMPTY_ON_THE_PAGE = {"otel_scope_version"}  # openai-v2 gives its meter no version; Prometheus drops "" labels


@pytest.fixture(scope="module")
def scraped(tmp_path_factory: pytest.TempPathFactory):
    """Prometheus, with the shipped rules, scraping two instrumented services: the default and the
    experimental path (jobs `default` and `experimental`)."""
    rules = alerting.rule_files_evaluated_every("1s", tmp_path_factory.mktemp("rules"))
    with OpenAIUpstream() as upstream:
        ports = {"default": free_port(), "experimental": free_port()}
        env = {"default": {}, "experimental": {"OTEL_SEMCONV_STABILITY_OPT_IN": "gen_ai_latest_experimental"}}
        with run_module(APP, upstream.url, str(ports["default"]), port=ports["default"],
                        env={"OTEL_SERVICE_NAME": "genai-default", **env["default"]}), \
                run_module(APP, upstream.url, str(ports["experimental"]), port=ports["experimental"],
                           env={"OTEL_SERVICE_NAME": "genai-experimental", **env["experimental"]}):
            config = {"global": {"scrape_interval": "1s"}, "scrape_configs": [
                {"job_name": path, "static_configs": [{"targets": [f"127.0.0.1:{port}"]}]}
                for path, port in ports.items()]}
            with run_prometheus(config, rules) as prometheus:
                wait_for(lambda: all(any(s["__name__"] == "gen_ai_client_token_usage_count" for s in series(
                    prometheus, job)) for job in ports), timeout=30, what="both services scraped")
                yield prometheus


def series(prometheus: Running, job: str) -> list[dict[str, str]]:
    return requests.get(prometheus.url + "/api/v1/series", params={"match[]": f'{{job="{job}"}}'},
                        timeout=5).json()["data"]


@pytest.fixture(scope="module")
def stored(scraped: Running) -> dict[str, list[dict[str, str]]]:
    """Series Prometheus stored from each path."""
    return {job: series(scraped, job) for job in ("default", "experimental")}


def query(prometheus: Running, expr: str) -> dict[tuple[str, ...], float]:
    body = requests.get(prometheus.url + "/api/v1/query", params={"query": expr}, timeout=5).json()
    assert body["status"] == "success", (expr, body)
    return {tuple(r["metric"].get(k, "") for k in ("app_id", "model")): float(r["value"][1])
            for r in body["data"]["result"]}


def names(series: list[dict[str, str]]) -> set[str]:
    """Stored names, less Prometheus' own (up, scrape_*) and prometheus_client's default process_*
    and python_* collectors, which share the SDK exporter's default registry."""
    return {s["__name__"] for s in series if not s["__name__"].startswith(("up", "scrape_", "process_", "python_"))}


def test_default_path_names_are_the_recorded_ones(stored) -> None:
    recorded = {sample for metric in SDK_SOURCE.metrics for sample in metric.samples}
    assert names(stored["default"]) == recorded


def test_default_path_labels_are_the_recorded_ones(stored) -> None:
    for s in stored["default"]:
        family = next((m for m in SDK_SOURCE.metrics if s["__name__"] in m.samples), None)
        if family is None:
            continue
        labels = set(s) - TARGET_LABELS
        assert set(family.labels) - EMPTY_ON_THE_PAGE <= labels <= set(family.all_labels), (s["__name__"], labels)
        if family.name != "target_info":
            assert s["gen_ai_system"] == "openai" and s["otel_scope_name"] == otel_genai.OPENAI_V2.scope_name
            assert s["otel_scope_schema_url"] == otel_genai.OPENAI_V2.scope_schema_url


def test_default_path_quirks(stored) -> None:
    """error.type is the exception's class name; streamed calls record no token usage; token bucket
    edges are spelled as ints; server.address is absent with openai 3.x."""
    series = stored["default"]
    durations = [s for s in series if s["__name__"] == "gen_ai_client_operation_duration_seconds_count"]
    assert {s.get("error_type") for s in durations} == {None, "RateLimitError", "InternalServerError"}
    assert not any("server_address" in s for s in series)
    tokens = [s for s in series if s["__name__"] == "gen_ai_client_token_usage_bucket"]
    assert {s["gen_ai_token_type"] for s in tokens} == {"input", "output"}
    assert {s["le"] for s in tokens} == {*(str(b) for b in otel_genai.TOKEN_BUCKETS), "+Inf"}
    assert {s["le"] for s in series if s["__name__"] == "gen_ai_client_operation_duration_seconds_bucket"} == \
        {*(str(b) for b in otel_genai.DURATION_BUCKETS), "+Inf"}
    (target,) = (s for s in series if s["__name__"] == "target_info")
    assert target["service_name"] == "genai-default" and target["telemetry_sdk_name"] == "opentelemetry"


def test_experimental_path_uses_the_newer_attributes(stored) -> None:
    series = [s for s in stored["experimental"] if s["__name__"].startswith("gen_ai_")]
    assert names(series) == names([s for s in stored["default"] if s["__name__"].startswith("gen_ai_")])
    for s in series:
        assert {sdk_label_name(a) for a in OPENAI_V2_EXPERIMENTAL_ATTRS} <= set(s) and "gen_ai_system" not in s
        assert s["otel_scope_name"] == "opentelemetry.util.genai.handler"


OVERVIEW_PANELS = ("Requests / s", "Error ratio", "P95 latency", "Tokens / s", "Traffic by model",
                   "Error ratio by model", "P95 latency by model")


def test_the_stacks_rules_and_dashboards_read_it(scraped: Running) -> None:
    """With the shipped rules both services are the stack's `otel` source: each service an app
    (its job: the SDK exporter keeps service.name on target_info only), its calls counted per model
    with their failures, its tokens, and the overview's panels filled with the source selector at
    `otel`."""
    expected = {(job, model) for job in ("default", "experimental")
                for model in ("gpt-4o-mini", "fail-429", "fail-500")}
    calls = 'app_model:llm_requests:rate5m{source="otel", layer="client", provider="openai"}'
    wait_for(lambda: set(query(scraped, f"{calls} > 0")) == expected, timeout=60, what="otel calls per app and model")
    errors = query(scraped, f'app_model:llm_request_errors:rate5m{{source="otel"}} / {calls}')
    assert errors == {pair: 1.0 if pair[1].startswith("fail-") else 0.0 for pair in expected}
    # Only the services' unstreamed calls count tokens: their rate needs two scrapes after the first.
    tokens = 'app_model:llm_tokens:rate5m{source="otel"} > 0'
    wait_for(lambda: set(query(scraped, tokens)) == {(job, "gpt-4o-mini") for job in ("default", "experimental")},
             timeout=60, what="otel tokens per app and model")

    overview = ds.load_dashboards()["llm-overview"]
    for panel in overview["panels"]:
        if panel.get("title") not in OVERVIEW_PANELS:
            continue
        for target in panel["targets"]:
            expr = ds.expand(target["expr"], overview).replace('source=~".*"', 'source=~"otel"')
            wait_for(lambda e=expr: query(scraped, e), timeout=30, what=f"{panel['title']}: {expr}")
