"""Every alert a source can feed fires, and stays silent, over that source's own series.

For each source the mock fleet's own calls (normal traffic, then a fault scenario) go through the
real recording path into the source's dialect (mock/dialects: the names, labels and buckets
recorded for its pinned version); the page is snapshotted every simulated minute and replayed
to promtool as input series, with the stack's own configuration (prices, budgets, objectives) as
its exporter exposes it. Only the source's series and the configuration are there: the alerts
must fire from them alone, and nothing may fire during normal traffic.
"""

from __future__ import annotations

import functools
import re
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from prometheus_client import CollectorRegistry, generate_latest

from llm_exporter import contract
from llm_exporter.config import load_budgets, load_pricing
from llm_exporter.mock.dialects import Dialects
from llm_exporter.mock.fleet import MODELS
from llm_exporter.mock.gpus import MockGPUSource
from llm_exporter.mock.simulator import Simulator
from llm_exporter.objectives import ObjectivesCollector, load_objectives
from llm_exporter.recorder import Recorder
from llm_exporter.sources import otel_genai
from prometheus.generator import capability, outputs
from tests.e2e_support import alerting
from tests.support.processes import CONFIG_DIR, REPO

START = 1_790_000_000.0  # a fixed clock, minute-aligned
NORMAL_MINUTES, FAULT_MINUTES = 50, 30
RPS = 8
FIRING = 'group by (alertname) (ALERTS{alertstate="firing"})'
CONFIGURATION = {spec.exposed_name for spec in capability.CONFIGURATION if spec is not contract.EXPORTER_INFO}
SELF_HOSTED = next(name for name, profile in MODELS.items() if profile.self_hosted)
_SAMPLE = re.compile(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{.*\})?\s+(\S+)")

# source -> fault scenario -> the alerts it must raise from that source's series alone. "spend" is
# normal traffic from a source without departments of its own, its target labelled with a
# department (as its target file may) whose daily budget it overruns.
# The slow burn waits for hours of history (prometheus/tests/slo.test.yml): it reads the same
# burn-rate series as the fast one, which these cases prove per source.
ERRORS = {"LLMErrorRatioHigh", "LLMErrorBudgetBurnFast"}
STOPPED = {"LLMTrafficStopped"}
SPEND = {"LLMDailyBudgetNearlySpent", "LLMDailyBudgetExceeded"}
EXPECTED: dict[str, dict[str, set[str]]] = {
    "litellm": {"error_burst": ERRORS, "latency_spike": {"LLMLatencyP95High", "LLMTimeToFirstTokenP95High"},
                "budget_overrun": {"LLMDailyBudgetNearlySpent", "LLMDailyBudgetExceeded"},
                "traffic_stop": STOPPED},
    "otel": {"error_burst": ERRORS, "latency_spike": {"LLMLatencyP95High"}, "traffic_stop": STOPPED, "spend": SPEND},
    "vllm": {"error_burst": ERRORS, "traffic_stop": STOPPED, "spend": SPEND,
             "latency_spike": {"LLMLatencyP95High", "LLMTimeToFirstTokenP95High", "LLMTimePerOutputTokenP95High"}},
    "sglang": {"error_burst": ERRORS, "traffic_stop": STOPPED, "spend": SPEND,
               "latency_spike": {"LLMLatencyP95High", "LLMTimeToFirstTokenP95High", "LLMTimePerOutputTokenP95High"}},
    "tgi": {"error_burst": ERRORS, "latency_spike": {"LLMLatencyP95High"}, "traffic_stop": STOPPED, "spend": SPEND},
    "nim": {"error_burst": ERRORS, "traffic_stop": STOPPED, "spend": SPEND,
            "latency_spike": {"LLMLatencyP95High", "LLMTimeToFirstTokenP95High", "LLMTimePerOutputTokenP95High"}},
    "dcgm": {"gpu_idle": {"LLMGPUUnderutilized"}},
}


def _samples(text: str, labels: str) -> Iterator[tuple[str, float]]:
    """(series as a promtool selector, value) for every sample line of a text exposition."""
    for line in text.splitlines():
        match = _SAMPLE.match(line)
        if match is None or line.startswith("#"):
            continue
        name, block, value = match.groups()
        inner = block[1:-1] if block else ""
        yield f"{name}{{{labels}{',' if inner else ''}{inner}}}", float(value)


def _configuration() -> str:
    """The stack's configuration as its exporter exposes it: prices, budgets, objectives."""
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="real", version="test")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    registry.register(ObjectivesCollector(load_objectives(CONFIG_DIR / "objectives.yaml")))
    text = generate_latest(registry).decode()
    return "\n".join(line for line in text.splitlines()
                     if _SAMPLE.match(line) and _SAMPLE.match(line).group(1) in CONFIGURATION)


EXAMPLES = {"otel": "otel"}  # source -> its target example in prometheus/targets/ (default: the same name)


SPEND_DEPARTMENT, SPEND_DAILY_BUDGET = "engineering", 1.0


def target_labels(source: str, scenario: str) -> str:
    """The labels a user's target file gives the source's series: its example's, with the mock's
    self-hosted model where the example names a placeholder model (TGI), and a department for the
    "spend" scenario."""
    path = REPO / "prometheus" / "targets" / f"{EXAMPLES.get(source, source)}.yml.example"
    (entry,) = yaml.safe_load(path.read_text())
    labels = {k: v for k, v in entry["labels"].items() if not k.startswith("__")}
    if "model" in labels:
        labels["model"] = SELF_HOSTED
    if scenario == "spend":
        labels["department"] = SPEND_DEPARTMENT
    labels["instance"] = entry["targets"][0]
    return ",".join(f'{k}="{v}"' for k, v in labels.items())


@functools.cache
def replay(scenario: str) -> dict[str, dict[str, tuple[float | None, ...]]]:
    """Every dialect page, minute by minute: normal traffic, then `scenario` (source -> series)."""
    clock = {"now": START}
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test")
    simulator = Simulator(recorder, rps=RPS, seed=5, clock=lambda: clock["now"])
    simulator.started_at = START
    recorder.gpu_source = MockGPUSource(simulator, count=4, seed=5)
    dialects = Dialects(recorder, recorder.budgets, recorder.gpu_source, clock=lambda: clock["now"])
    minutes = NORMAL_MINUTES + FAULT_MINUTES
    pages: dict[str, dict[str, list[float | None]]] = {source: {} for source in EXPECTED}
    for minute in range(minutes + 1):
        if minute == NORMAL_MINUTES and scenario != "spend":
            simulator.set_scenario(scenario)
        for second in range(0, 60, 5):
            clock["now"] = START + minute * 60 + second
            for call in simulator.arrivals(clock["now"], 5.0):
                recorder.record(call)
        for source, series in pages.items():
            for key, value in _samples(dialects.render(source).decode(), target_labels(source, scenario)):
                series.setdefault(key, [None] * (minutes + 1))[minute] = value
    for series in pages.values():
        for key, value in _samples(_configuration(), 'job="llm-exporter",instance="exporter:9101"'):
            if scenario == "spend" and f'department="{SPEND_DEPARTMENT}",period="daily"' in key:
                value = SPEND_DAILY_BUDGET
            series[key] = [value] * (minutes + 1)
    return {source: {key: tuple(values) for key, values in series.items()} for source, series in pages.items()}


def promtool_test(source: str, scenario: str, directory: Path) -> Path:
    series = replay(scenario)[source]
    header = yaml.safe_load(outputs.test_header("sources.test.yml"))
    header["rule_files"] = [str(path) for path in alerting.shipped_rule_files()]
    expected = sorted(EXPECTED[source][scenario])
    test = {
        "interval": "1m",
        "input_series": [{"series": key, "values": " ".join("_" if v is None else repr(v) for v in values)}
                         for key, values in sorted(series.items())],
        "promql_expr_test": [
            *([] if scenario == "spend" else [{"expr": FIRING, "eval_time": f"{NORMAL_MINUTES - 1}m",
                                               "exp_samples": []}]),
            {"expr": FIRING, "eval_time": f"{NORMAL_MINUTES + FAULT_MINUTES}m",
             "exp_samples": [{"labels": f'{{alertname="{name}"}}', "value": 1} for name in expected]},
        ],
    }
    path = directory / f"{source}-{scenario}.test.yml"
    path.write_text(yaml.safe_dump({**header, "tests": [test]}, sort_keys=False, width=10_000))
    return path


CASES = [(source, scenario) for source, scenarios in EXPECTED.items() for scenario in scenarios]


@pytest.mark.parametrize(("source", "scenario"), CASES, ids=[f"{s}-{c}" for s, c in CASES])
def test_alerts_fire_from_the_sources_own_series(source: str, scenario: str, tmp_path: Path) -> None:
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make deps`")
    path = promtool_test(source, scenario, tmp_path)
    result = subprocess.run([promtool, "test", "rules", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:]


# OpenLIT records the conventions' time to first chunk and its own time per output token, which
# openai-v2 (the mock's OpenTelemetry dialect) does not: its latency alerts are proven on series
# built from OpenLIT's recorded names, labels and buckets (OTLP into Prometheus).
OPENLIT_LATENCY = {"LLMTimeToFirstTokenP95High", "LLMTimePerOutputTokenP95High"}


def _openlit_histogram(name: str, normal: float, fault: float, per_minute: int) -> list[dict[str, str]]:
    metric = next(m for m in otel_genai.OTLP_SOURCES["openlit"].metrics if m.name == name)
    values = {"telemetry_sdk_name": "openlit", "service_name": "chat-app", "deployment_environment": "production",
              "gen_ai_operation_name": "chat", "gen_ai_provider_name": "openai", "gen_ai_request_model": "gpt-4o",
              "server_address": "api.openai.com", "server_port": "443", "gen_ai_response_model": "gpt-4o",
              "job": "chat-app", "instance": "chat-app-1"}
    labels = ",".join(f'{label}="{values[label]}"' for label in metric.labels)
    series = []
    for edge in (*metric.buckets, float("inf")):
        counts, total = [], 0
        for minute in range(NORMAL_MINUTES + FAULT_MINUTES + 1):
            total += per_minute if edge >= (normal if minute < NORMAL_MINUTES else fault) else 0
            counts.append(str(total))
        le = "+Inf" if edge == float("inf") else repr(float(edge))
        series.append({"series": f'{name}_bucket{{{labels},le="{le}"}}', "values": " ".join(counts)})
    if name == "gen_ai_client_operation_duration_seconds":
        count = " ".join(str(per_minute * minute) for minute in range(NORMAL_MINUTES + FAULT_MINUTES + 1))
        series.append({"series": f"{name}_count{{{labels}}}", "values": count})
    return series


def test_openlit_latency_alerts_fire_from_its_own_series(tmp_path: Path) -> None:
    header = yaml.safe_load(outputs.test_header("sources.test.yml"))
    header["rule_files"] = [str(path) for path in alerting.shipped_rule_files()]
    series = [*_openlit_histogram("gen_ai_client_operation_duration_seconds", 1.0, 1.0, 60),
              *_openlit_histogram("gen_ai_client_operation_time_to_first_chunk_seconds", 0.3, 6.0, 60),
              *_openlit_histogram("gen_ai_server_time_per_output_token_seconds", 0.03, 0.3, 60)]
    test = {"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": FIRING, "eval_time": f"{NORMAL_MINUTES - 1}m", "exp_samples": []},
        {"expr": FIRING, "eval_time": f"{NORMAL_MINUTES + FAULT_MINUTES}m",
         "exp_samples": [{"labels": f'{{alertname="{name}"}}', "value": 1} for name in sorted(OPENLIT_LATENCY)]},
    ]}
    path = tmp_path / "openlit.test.yml"
    path.write_text(yaml.safe_dump({**header, "tests": [test]}, sort_keys=False, width=10_000))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_openai_v2_pushed_over_otlp_is_read_as_its_service(tmp_path: Path) -> None:
    """Over Prometheus' OTLP receiver, openai-v2's series carry `job` = service.name and no
    service_name label (only target_info has the resource): the app is the service, its calls,
    failures and tokens are read, and spend comes from the pricing file's prices."""
    metrics = {m.name: m for m in otel_genai.OTLP_SOURCES["openai-v2"].metrics}
    base = {"gen_ai_operation_name": "chat", "gen_ai_system": "openai", "gen_ai_request_model": "gpt-4o",
            "gen_ai_response_model": "gpt-4o", "job": "support-bot", "instance": "0b6a5f3c"}

    def counter(name: str, per_minute: int, **extra: str) -> dict[str, str]:
        labels = ",".join(f'{k}="{v}"' for k, v in {**base, **extra}.items())
        values = " ".join(str(per_minute * minute) for minute in range(NORMAL_MINUTES + 1))
        return {"series": f"{name}{{{labels}}}", "values": values}

    duration, usage = metrics["gen_ai_client_operation_duration_seconds"], metrics["gen_ai_client_token_usage"]
    assert "service_name" not in duration.labels  # the receiver keeps the resource on target_info
    series = [counter(f"{duration.name}_count", 60), counter(f"{duration.name}_count", 6, error_type="RateLimitError"),
              counter(f"{usage.name}_sum", 6000, gen_ai_token_type="input"),
              counter(f"{usage.name}_sum", 3000, gen_ai_token_type="output"),
              {"series": 'llm_price_usd_per_token{model="gpt-4o",direction="input"}', "values": "0.0000025+0x60"},
              {"series": 'llm_price_usd_per_token{model="gpt-4o",direction="output"}', "values": "0.00001+0x60"}]
    at = f"{NORMAL_MINUTES}m"
    pair = '{app_id="support-bot",job="support-bot",layer="client",model="gpt-4o",provider="openai",source="otel"}'
    test = {"interval": "1m", "input_series": series, "promql_expr_test": [
        {"expr": "source_app_model:llm_requests:rate5m", "eval_time": at,
         "exp_samples": [{"labels": f"source_app_model:llm_requests:rate5m{pair}", "value": 66 / 60}]},
        {"expr": "app_model:llm_request_errors:rate5m", "eval_time": at,
         "exp_samples": [{"labels": f"app_model:llm_request_errors:rate5m{pair}", "value": 6 / 60}]},
        {"expr": "sum(app_model:llm_cost_usd:rate5m)", "eval_time": at,
         "exp_samples": [{"labels": "{}", "value": round((6000 * 0.0000025 + 3000 * 0.00001) / 60, 12)}]},
    ]}
    header = yaml.safe_load(outputs.test_header("sources.test.yml"))
    header["rule_files"] = [str(path) for path in alerting.shipped_rule_files()]
    path = tmp_path / "otlp.test.yml"
    path.write_text(yaml.safe_dump({**header, "tests": [test]}, sort_keys=False, width=10_000))
    result = subprocess.run(["promtool", "test", "rules", str(path)], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]


def test_every_alert_a_source_can_feed_is_proven_for_it() -> None:
    """The cases above cover, for every source, each alert the capability matrix says it feeds,
    but for those that need hours or days of history (slow burn, token anomaly, month-end forecast)."""
    from prometheus import generator

    needs_days = {"LLMTokenUsageAnomaly", "LLMMonthlyBudgetForecastExceeded", "LLMErrorBudgetBurnSlow"}
    for source, scenarios in EXPECTED.items():
        proven = set().union(*scenarios.values()) | (OPENLIT_LATENCY if source == "otel" else set())
        feeds = {a.name for a in generator.alerts() if source in capability.alert_sources(a)} - needs_days
        assert feeds == proven, (source, sorted(feeds ^ proven))
