"""`--mode config`, the production stack's exporter: the pricing, budgets and objectives files as
series and the alert webhook, and nothing of the mock fleet.

Live: the exporter in config mode and a service instrumented with the library alone (which exposes
calls and prices but no budget and no objective) scraped by a real Prometheus with the shipped
rules; the department's budget usage and the pair's objective must come out of the rules.
"""

from __future__ import annotations

import requests

from llm_exporter import contract
from llm_exporter.config import load_budgets
from llm_exporter.objectives import load_objectives
from prometheus.generator import capability
from tests.e2e_support.alerting import shipped_rule_files
from tests.support.metrics_text import families
from tests.support.processes import CONFIG_DIR, free_port, run_exporter, run_module, run_prometheus, wait_for

CONFIGURATION = {spec.name for spec in capability.CONFIGURATION}
# Families every exporter exposes, empty until something happens (a refusal, a notification, ...).
BOOKKEEPING = {"llm_rejected_requests", "llm_alert_notifications", "llm_label_overflow",
               "llm_invalid_values", "llm_telemetry_dropped", "llm_active_requests", "llm_unpriced_requests"}


def test_config_mode_serves_the_configuration_and_no_mock() -> None:
    with run_exporter("--mode", "config") as exporter:
        parsed = families(requests.get(exporter.url + "/metrics", timeout=5).text)
        nonzero = {name for name, family in parsed.items() if any(s.value for s in family.samples)}
        assert nonzero == CONFIGURATION, nonzero ^ CONFIGURATION
        (info,) = parsed["llm_exporter_info"].samples
        assert info.labels["mode"] == "config"
        assert not {"llm_mock_scenario", "llm_gpu_up"} & set(parsed)
        assert set(parsed) - CONFIGURATION <= BOOKKEEPING | set(_call_families()), set(parsed) - CONFIGURATION
        for path in ("/mock/scenario", "/sources", "/sources/vllm/metrics", "/docs", "/openapi.json",
                     "/v1/chat/completions"):
            response = requests.get(exporter.url + path, timeout=5)
            assert response.status_code in (404, 405), path
            assert response.status_code == 405 or response.json()["mode"] == "config", path
        links = requests.get(exporter.url + "/", timeout=5).json()["links"]
        assert links["notifications"] == "/alertmanager/notifications"
        assert "scenario" not in links and "sources" not in links and "docs" not in links


def _call_families() -> set[str]:
    """Contract families that stay empty until a call is recorded (none is, in config mode)."""
    return {spec.name for spec in contract.ALL_METRICS}


def query(url: str, expr: str) -> list[dict]:
    body = requests.get(f"{url}/api/v1/query", params={"query": expr}, timeout=10).json()
    assert body["status"] == "success", (expr, body)
    return body["data"]["result"]


def test_budgets_and_objectives_reach_a_library_only_service_through_the_rules() -> None:
    department, app_id, model = "engineering", "chat-service", "gpt-4o"
    daily_budget = load_budgets(CONFIG_DIR / "budgets.yaml").departments[department].daily
    latency_objective = next(o.value for o in load_objectives(CONFIG_DIR / "objectives.yaml")
                             if o.key == "latency_p95_seconds" and o.model == model and not o.app_id)
    service_port = free_port()
    with (run_exporter("--mode", "config") as exporter,
          run_module("tests.support.instrumented_service", str(service_port), department, "10",
                     port=service_port) as service):
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "scrape_configs": [
                      {"job_name": "llm-exporter", "static_configs": [{"targets": [exporter.url[7:]]}]},
                      {"job_name": "my-service", "static_configs": [{"targets": [service.url[7:]]}]}]}
        with run_prometheus(config, shipped_rule_files()) as prometheus:
            usage = f'department:llm_budget_daily_usage:ratio{{department="{department}"}}'
            wait_for(lambda: query(prometheus.url, usage), timeout=60, what=usage)
            budget = query(prometheus.url, f'department:llm_budget_usd:daily{{department="{department}"}}')
            assert [float(s["value"][1]) for s in budget] == [daily_budget]
            spent = float(query(prometheus.url, f'department:llm_cost_usd:increase1d{{department="{department}"}}')
                          [0]["value"][1])
            ratio = float(query(prometheus.url, usage)[0]["value"][1])
            assert spent > 0 and abs(ratio - spent / daily_budget) <= 0.05 * ratio
            objective = "app_model:llm_objective_latency_p95_seconds:resolved"
            pair = f'{objective}{{job="my-service", app_id="{app_id}", model="{model}"}}'
            wait_for(lambda: query(prometheus.url, pair), timeout=30, what=pair)
            assert float(query(prometheus.url, pair)[0]["value"][1]) == latency_objective
