"""The live mock exporter's /sources/<name>/metrics pages: parsed back, every family, label and bucket
equals the recorded definition, and real Prometheus scrapes them through the target-file examples."""

from __future__ import annotations

import re
import shutil
import tempfile
from pathlib import Path

import pytest
import requests
import yaml

from llm_exporter.sources import SOURCES
from tests.support.metrics_text import parse_text
from tests.support.processes import REPO, run_prometheus, wait_for
from tests.support.source_pages import check_page

TARGETS = REPO / "prometheus" / "targets"

# What each page must show once the mock has run a while: written out here, not derived from the
# dialect code, so a family that silently disappears fails the test.
EXPECTED_FAMILIES = {
    "vllm": {"vllm:num_requests_running", "vllm:num_requests_waiting", "vllm:prompt_tokens_total",
             "vllm:generation_tokens_total", "vllm:request_success_total", "vllm:request_prompt_tokens",
             "vllm:request_generation_tokens", "vllm:time_to_first_token_seconds", "vllm:inter_token_latency_seconds",
             "vllm:request_time_per_output_token_seconds", "vllm:e2e_request_latency_seconds",
             "vllm:kv_cache_usage_perc"},
    "sglang": {"sglang:num_running_reqs", "sglang:num_queue_reqs", "sglang:prompt_tokens_total",
               "sglang:generation_tokens_total", "sglang:num_requests_total", "sglang:time_to_first_token_seconds",
               "sglang:inter_token_latency_seconds", "sglang:request_time_per_output_token_seconds",
               "sglang:e2e_request_latency_seconds", "sglang:token_usage"},
    "tgi": {"tgi_request_count", "tgi_request_success", "tgi_request_duration", "tgi_request_inference_duration",
            "tgi_request_mean_time_per_token_duration", "tgi_request_generated_tokens", "tgi_request_input_length",
            "tgi_queue_size", "tgi_batch_current_size"},
    "nim": {"num_requests_running", "num_requests_waiting", "prompt_tokens_total", "generation_tokens_total",
            "request_success_total", "request_finish_total", "time_to_first_token_seconds",
            "time_per_output_token_seconds", "e2e_request_latency_seconds", "gpu_cache_usage_perc"},
    "litellm": {"litellm_proxy_total_requests_metric_total", "litellm_request_total_latency_metric",
                "litellm_llm_api_latency_metric", "litellm_llm_api_time_to_first_token_metric",
                "litellm_spend_metric_total", "litellm_input_tokens_metric_total", "litellm_output_tokens_metric_total",
                "litellm_total_tokens_metric_total", "litellm_remaining_team_budget_metric",
                "litellm_team_max_budget_metric", "litellm_team_budget_remaining_hours_metric",
                "litellm_deployment_total_requests_total", "litellm_deployment_success_responses_total"},
    "otel": {"gen_ai_client_operation_duration_seconds", "gen_ai_client_token_usage", "target_info"},
    "dcgm": {"DCGM_FI_DEV_GPU_UTIL", "DCGM_FI_PROF_GR_ENGINE_ACTIVE", "DCGM_FI_DEV_FB_USED", "DCGM_FI_DEV_FB_FREE",
             "DCGM_FI_DEV_POWER_USAGE", "DCGM_FI_DEV_GPU_TEMP"},
}

# Families that appear once the mock has produced a failure of the kind the source counts.
ONCE_FAILED = {
    "vllm": set(), "sglang": {"sglang:num_aborted_requests_total"}, "tgi": {"tgi_request_failure"},
    "nim": {"request_failure_total"}, "dcgm": set(), "otel": set(),
    "litellm": {"litellm_proxy_failed_requests_metric_total", "litellm_deployment_failure_responses_total"},
}

# How each source prints bucket edges, checked on edges whose spelling differs between the styles.
LE_SPELLING = {
    "vllm": ("vllm:e2e_request_latency_seconds", {"1.0", "0.3", "7680.0"}),
    "nim": ("e2e_request_latency_seconds", {"1.0", "0.3"}),
    "sglang": ("sglang:time_to_first_token_seconds", {"1.0", "400.0", "0.1"}),
    "litellm": ("litellm_request_total_latency_metric", {"1.0", "0.005", "600.0"}),
    "tgi": ("tgi_request_input_length", {"163.84", "16384"}),
    "otel": ("gen_ai_client_token_usage", {"1", "67108864"}),
}


def page(url: str, name: str) -> requests.Response:
    return requests.get(f"{url}/sources/{name}/metrics", timeout=5)


def test_index_lists_every_dialect(mock_exporter) -> None:
    index = requests.get(mock_exporter.url + "/sources", timeout=5).json()
    assert set(index) == set(SOURCES) == set(EXPECTED_FAMILIES)
    assert index["nim"]["real_metrics_path"] == "/v1/metrics" and index["vllm"]["layer"] == "engine"


def test_unknown_dialect_is_a_404_naming_the_valid_ones(mock_exporter) -> None:
    response = page(mock_exporter.url, "ollama")
    assert response.status_code == 404
    assert set(response.json()["valid_sources"]) == set(SOURCES)


@pytest.mark.parametrize("name", sorted(EXPECTED_FAMILIES))
def test_page_matches_the_recorded_definitions(mock_exporter, name: str) -> None:
    response = page(mock_exporter.url, name)
    assert response.status_code == 200
    assert response.headers["content-type"] == "text/plain; version=0.0.4; charset=utf-8"
    families = check_page(SOURCES[name], response.text)
    assert EXPECTED_FAMILIES[name] <= families <= EXPECTED_FAMILIES[name] | ONCE_FAILED[name]


@pytest.mark.parametrize("name", sorted(LE_SPELLING))
def test_bucket_edges_are_spelled_as_the_source_spells_them(mock_exporter, name: str) -> None:
    family_name, spellings = LE_SPELLING[name]
    edges = set(re.findall(rf'^{re.escape(family_name)}_bucket{{.*?le="([^"]+)"', page(mock_exporter.url, name).text,
                           re.M))
    assert spellings <= edges, sorted(edges)[:10]


def test_gateway_and_engine_see_the_same_self_hosted_requests(mock_exporter) -> None:
    """LiteLLM in front of vLLM: a self-hosted success shows on both pages (give or take the calls that
    finish between the two scrapes)."""
    litellm, vllm = (parse_text(page(mock_exporter.url, n).text) for n in ("litellm", "vllm"))
    (answered,) = (f for f in litellm if f.name == "litellm_deployment_success_responses")
    (finished,) = (f for f in vllm if f.name == "vllm:request_success")
    through_gateway = sum(s.value for s in answered.samples
                          if s.name.endswith("_total") and s.labels["api_provider"] == "hosted_vllm")
    at_engine = sum(s.value for s in finished.samples
                    if s.name.endswith("_total") and s.labels["finished_reason"] in ("stop", "length"))
    assert at_engine > 0 and abs(through_gateway - at_engine) <= 0.05 * at_engine + 5


@pytest.mark.e2e
def test_prometheus_scrapes_every_dialect_through_the_target_examples(mock_exporter) -> None:
    """Each prometheus/targets/<source>.yml.example, copied as the user would and pointed at the mock's
    page for that source, loads in real Prometheus, which stores the recorded names."""
    sd_dir = Path(tempfile.mkdtemp(prefix="targets-"))
    host = mock_exporter.url.removeprefix("http://")
    jobs = {}
    for name in EXPECTED_FAMILIES:
        (group,) = yaml.safe_load((TARGETS / f"{name}.yml.example").read_text())
        assert group["targets"] and group["labels"]["job"], name
        jobs[name] = group["labels"]["job"]
        group = {"targets": [host], "labels": {**group["labels"], "__metrics_path__": f"/sources/{name}/metrics"}}
        (sd_dir / f"{name}.yml").write_text(yaml.safe_dump([group]))
    config = {"global": {"scrape_interval": "1s"},
              "scrape_configs": [{"job_name": "sources", "file_sd_configs": [{"files": [str(sd_dir / "*.yml")],
                                                                                "refresh_interval": "1s"}]}]}
    try:
        with run_prometheus(config) as prometheus:
            def stored(name: str) -> set[str]:
                result = requests.get(prometheus.url + "/api/v1/label/__name__/values",
                                      params={"match[]": f'{{job="{jobs[name]}"}}'}, timeout=5).json()
                return set(result["data"])

            wanted = {name: {s for f in families for s in SOURCES[name].metric(f).samples}
                      for name, families in EXPECTED_FAMILIES.items()}
            wait_for(lambda: all(wanted[n] <= stored(n) for n in wanted), timeout=30,
                     what="every dialect's recorded names stored by Prometheus")
            up = requests.get(prometheus.url + "/api/v1/query", params={"query": "up"}, timeout=5).json()
            assert {r["metric"]["job"] for r in up["data"]["result"] if r["value"][1] == "1"} == set(jobs.values())
    finally:
        shutil.rmtree(sd_dir, ignore_errors=True)
