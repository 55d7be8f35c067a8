"""Recorded source definitions, the two OpenTelemetry-to-Prometheus translators, and the mock's dialects
against the llm_* contract: the same simulated calls, counted the same way in every dialect."""

from __future__ import annotations

import math
import re

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from llm_exporter.config import load_budgets, load_pricing
from llm_exporter.mock.dialects import Dialects
from llm_exporter.mock.dialects.gateway import month_end
from llm_exporter.mock.dialects.store import Store, le_python
from llm_exporter.mock.fleet import MODELS
from llm_exporter.mock.gpus import MockGPUSource
from llm_exporter.mock.simulator import Simulator
from llm_exporter.recorder import LLMCall, Recorder
from llm_exporter.sources import SOURCES, otel_genai, tgi, vllm
from llm_exporter.sources.docs import generated
from llm_exporter.sources.otel_genai import otlp_label_name, otlp_metric_name, sdk_label_name, sdk_metric_name
from tests.support.metrics_text import families, parse_text, sample_sum
from tests.support.processes import CONFIG_DIR
from tests.support.source_pages import check_page

NOW = 1_790_000_000.0  # 2026-09-21, a fixed clock for the budget period
SELF_HOSTED = next(name for name, profile in MODELS.items() if profile.self_hosted)

# --------------------------------------------------------------------------- the records


@pytest.mark.parametrize("source", [*SOURCES.values(), *otel_genai.OTLP_SOURCES.values()], ids=lambda s: s.name)
def test_records_are_complete_and_consistent(source) -> None:
    names = [m.name for m in source.metrics]
    assert len(names) == len(set(names))
    for metric in source.metrics:
        assert metric.defined_in.file and metric.defined_in.ref, metric.name
        assert (metric.kind == "histogram") == bool(metric.buckets), metric.name
        assert list(metric.buckets) == sorted(set(metric.buckets)), metric.name
        assert not set(metric.labels) & set(metric.optional_labels), metric.name
        if not source.name.startswith("otlp-"):
            assert set(metric.all_labels) <= set(source.labels) | {"job", "instance"}, metric.name
    assert not {d.name for d in source.deprecated} & set(names)


def test_vllm_token_buckets_follow_the_1_2_5_series() -> None:
    edges = vllm.request_tokens_buckets(131_072)
    assert edges[:6] == (1, 2, 5, 10, 20, 50) and edges[-1] == 100_000 and len(edges) == 16


def test_tgi_duration_buckets_are_the_routers_geometric_series() -> None:
    edges = tgi.duration_buckets()
    assert len(edges) == 35 and edges[0] == pytest.approx(0.00015) and edges[-1] == pytest.approx(0.0001 * 1.5**35)


def test_vllm_deprecations_point_at_current_names() -> None:
    current = {m.name for m in vllm.SOURCE.metrics}
    for old in vllm.DEPRECATED:
        assert old.replaced_by in current, old
        deprecated, hidden, removed = (tuple(int(p) for p in v.lstrip("v").split(".")) for v in
                                       (old.deprecated_in, old.hidden_in, old.removed_in))
        assert deprecated < hidden < removed, old


# --------------------------------------------------------------------------- OTLP naming in Prometheus 3.x

# Cases from prometheus/otlptranslator's own metric_namer_test.go @ v1.0.0 (lines 44-283, suffixes on).
OTLPTRANSLATOR_METRIC_CASES = [
    ("simple_metric", "", "gauge", "simple_metric"),
    ("metric@with#special$chars", "", "gauge", "metric_with_special_chars"),
    ("123metric", "", "gauge", "_123metric"),
    ("metric@@##$$name", "", "gauge", "metric_name"),
    ("requests", "", "monotonic_counter", "requests_total"),
    ("cpu_usage", "1", "gauge", "cpu_usage_ratio"),
    ("items", "1", "monotonic_counter", "items_total"),
    ("response_time", "ms", "gauge", "response_time_milliseconds"),
    ("memory_usage", "By", "gauge", "memory_usage_bytes"),
    ("requests", "1/s", "gauge", "requests_per_second"),
    ("throughput", "By/s", "gauge", "throughput_bytes_per_second"),
    ("custom_metric", "custom_unit", "gauge", "custom_metric_custom_unit"),
    ("custom_metric", "{custom}", "gauge", "custom_metric"),
    ("custom_metric", "By/{custom}", "gauge", "custom_metric_bytes"),
]


@pytest.mark.parametrize(("name", "unit", "kind", "expected"), OTLPTRANSLATOR_METRIC_CASES)
def test_otlp_metric_name_matches_prometheus_translator(name, unit, kind, expected) -> None:
    assert otlp_metric_name(name, unit, kind) == expected


@pytest.mark.parametrize(("attribute", "expected"), [
    # label_namer_test.go @ v1.0.0, preserving multiple underscores and underscore sanitization on
    ("label:with:colons", "label_with_colons"), ("label.with.dots", "label_with_dots"),
    ("123label", "key_123label"), ("_label_starting_with_underscore", "key_label_starting_with_underscore"),
    ("__label_starting_with_2underscores", "__label_starting_with_2underscores"),
    ("label__with__double__underscores", "label__with__double__underscores"),
    ("label.name__with&&special##chars", "label_name__with__special__chars"),
    ("trailing_underscores___", "trailing_underscores___"), ("regular label", "regular_label"),
])
def test_otlp_label_name_matches_prometheus_translator(attribute, expected) -> None:
    assert otlp_label_name(attribute) == expected


def test_genai_names_over_otlp() -> None:
    """The facts adapter rules rely on: units become suffixes, {token} adds nothing, USD is kept as is."""
    assert otlp_metric_name("gen_ai.client.operation.duration", "s", "histogram") == \
        "gen_ai_client_operation_duration_seconds"
    assert otlp_metric_name("gen_ai.client.token.usage", "{token}", "histogram") == "gen_ai_client_token_usage"
    assert otlp_metric_name("gen_ai.client.token.usage", "token", "histogram") == "gen_ai_client_token_usage"
    assert otlp_metric_name("gen_ai.usage.cost", "USD", "histogram") == "gen_ai_usage_cost_USD"
    assert otlp_metric_name("gen_ai.client.generation.choices", "choice", "monotonic_counter") == \
        "gen_ai_client_generation_choices_choice_total"
    assert otlp_label_name("gen_ai.request.model") == "gen_ai_request_model"


# --------------------------------------------------------------------------- the SDK exporter's naming

@pytest.mark.parametrize(("name", "expected"), [
    # opentelemetry-python tests/test_mapping.py @ v1.44.0 (_mapping.py is identical in 0.66b2)
    ("valid:metric_name", "valid:metric_name"), ("1leading_digit", "_leading_digit"),
    ("consective_____underscores", "consective_underscores"), ("1_~#consective_underscores", "_consective_underscores"),
    ("1!2@3#4$5%6^7&8*9(0)_-", "_2_3_4_5_6_7_8_9_0_"), ("foo,./?;:[]{}bar", "foo_:_bar"),
])
def test_sdk_metric_name_sanitises_like_the_sdk(name, expected) -> None:
    assert sdk_metric_name(name, "", "gauge") == expected


@pytest.mark.parametrize(("attribute", "expected"), [
    ("sanitize:colons", "sanitize_colons"), ("1leading_digit", "_leading_digit"),
    ("1_~#consective_underscores", "_consective_underscores"), ("foo,./?;:[]{}bar", "foo_bar"),
])
def test_sdk_label_name_sanitises_like_the_sdk(attribute, expected) -> None:
    assert sdk_label_name(attribute) == expected


@pytest.mark.parametrize(("unit", "suffix"), [
    ("s", "_seconds"), ("By", "_bytes"), ("g{dogfood}", "_grams"), ("1", ""), ("{request}", ""),
    ("km/h", "_km_per_hour"), ("{foo}/s", "_per_second"), ("____", ""), ("1:foo#@!", "_1:foo"),
])
def test_sdk_unit_suffixes_like_the_sdk(unit, suffix) -> None:
    assert sdk_metric_name("m", unit, "gauge") == "m" + suffix


def test_genai_names_through_the_sdk_exporter() -> None:
    assert sdk_metric_name("gen_ai.client.operation.duration", "s", "histogram") == \
        "gen_ai_client_operation_duration_seconds"
    assert sdk_metric_name("gen_ai.client.token.usage", "{token}", "histogram") == "gen_ai_client_token_usage"
    assert sdk_metric_name("gen_ai.client.token.usage", "token", "histogram") == "gen_ai_client_token_usage_token"
    assert sdk_metric_name("gen_ai.client.generation.choices", "choice", "counter") == \
        "gen_ai_client_generation_choices_choice_total"


# --------------------------------------------------------------------------- dialects vs the contract


def simulate(scenario: str = "error_burst", seconds: float = 60, max_label_sets: int = 1000):
    """A fleet run in process: the same calls reach the contract (Recorder.record) and every dialect."""
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test", max_label_sets=max_label_sets)
    simulator = Simulator(recorder, rps=40, seed=11, scenario=scenario, clock=lambda: NOW)
    recorder.gpu_source = MockGPUSource(simulator, count=4, seed=11)
    dialects = Dialects(recorder, recorder.budgets, recorder.gpu_source, clock=lambda: NOW)
    for call in simulator.arrivals(NOW, seconds):
        recorder.record(call)
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    return recorder, dialects, families(generate_latest(registry).decode())


@pytest.fixture(scope="module")
def fleet_pages():
    _, dialects, contract = simulate()
    return contract, {name: dialects.render(name).decode() for name in dialects.by_name}


@pytest.fixture(scope="module")
def fleet(fleet_pages):
    contract, texts = fleet_pages
    return contract, {name: families(text) for name, text in texts.items()}


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_pages_with_every_kind_of_failure_match_the_records(fleet_pages, name: str) -> None:
    _, texts = fleet_pages
    assert check_page(SOURCES[name], texts[name])


def contract_sum(contract, family: str, suffix: str = "_total", **match: str) -> float:
    return sample_sum(contract[family], suffix, **match)


def test_simulated_run_exercises_engine_failures(fleet) -> None:
    contract, _ = fleet
    for error_type in ("server_error", "timeout", "rate_limit"):
        assert contract_sum(contract, "llm_errors", model=SELF_HOSTED, error_type=error_type) > 0, error_type


def test_litellm_counts_every_call_tokens_and_spend(fleet) -> None:
    contract, pages = fleet
    page = pages["litellm"]
    requests_total = contract_sum(contract, "llm_requests")
    assert sample_sum(page["litellm_proxy_total_requests_metric"], "_total") == requests_total
    assert sample_sum(page["litellm_proxy_total_requests_metric"], "_total", status_code="200") == \
        contract_sum(contract, "llm_requests", status="success")
    assert sample_sum(page["litellm_proxy_failed_requests_metric"], "_total") == \
        contract_sum(contract, "llm_requests", status="error")
    assert sample_sum(page["litellm_proxy_failed_requests_metric"], "_total", exception_status="429") == \
        contract_sum(contract, "llm_errors", error_type="rate_limit")
    assert sample_sum(page["litellm_input_tokens_metric"], "_total") == contract_sum(contract, "llm_tokens",
                                                                                       direction="input")
    assert sample_sum(page["litellm_output_tokens_metric"], "_total") == contract_sum(contract, "llm_tokens",
                                                                                        direction="output")
    for department in ("engineering", "support", "sales", "research"):
        assert sample_sum(page["litellm_spend_metric"], "_total", team=department) == pytest.approx(
            contract_sum(contract, "llm_cost_usd", department=department), rel=1e-9)
    assert sample_sum(page["litellm_spend_metric"], "_total", api_key_alias="support-bot") == pytest.approx(
        contract_sum(contract, "llm_cost_usd", app_id="support-bot"), rel=1e-9)
    streamed = contract_sum(contract, "llm_time_to_first_token_seconds", "_count")
    assert sample_sum(page["litellm_llm_api_time_to_first_token_metric"], "_count") == streamed


def test_litellm_team_budgets_follow_the_budgets_file(fleet) -> None:
    contract, pages = fleet
    page, budgets = pages["litellm"], load_budgets(CONFIG_DIR / "budgets.yaml")
    for department, budget in budgets.departments.items():
        assert sample_sum(page["litellm_team_max_budget_metric"], team=department) == budget.monthly
        spent = contract_sum(contract, "llm_cost_usd", department=department)
        assert sample_sum(page["litellm_remaining_team_budget_metric"], team=department) == pytest.approx(
            budget.monthly - spent, rel=1e-9)
        hours = sample_sum(page["litellm_team_budget_remaining_hours_metric"], team=department)
        assert hours == pytest.approx((month_end(NOW) - NOW) / 3600)


def test_litellm_budget_resets_with_the_month() -> None:
    clock = [NOW]
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test")
    dialects = Dialects(recorder, recorder.budgets, None, clock=lambda: clock[0])
    recorder.record(LLMCall("openai", "gpt-4o", "support-bot", "support", 1.0, 1_000_000, 0))
    remaining = families(dialects.render("litellm").decode())["litellm_remaining_team_budget_metric"]
    assert sample_sum(remaining, team="support") < 2500
    clock[0] = month_end(NOW) + 60
    remaining = families(dialects.render("litellm").decode())["litellm_remaining_team_budget_metric"]
    assert sample_sum(remaining, team="support") == 2500


def engine_counts(contract) -> dict[str, float]:
    errors = {t: contract_sum(contract, "llm_errors", model=SELF_HOSTED, error_type=t) for t in ("server_error",
                                                                                                "timeout")}
    return {"success": contract_sum(contract, "llm_requests", model=SELF_HOSTED, status="success"), **errors,
            "input": contract_sum(contract, "llm_tokens", model=SELF_HOSTED, direction="input"),
            "output": contract_sum(contract, "llm_tokens", model=SELF_HOSTED, direction="output"),
            "ttft": sample_sum(contract["llm_time_to_first_token_seconds"], "_count", model=SELF_HOSTED),
            "tpot": sample_sum(contract["llm_time_per_output_token_seconds"], "_count", model=SELF_HOSTED)}


def test_vllm_sees_the_self_hosted_calls(fleet) -> None:
    contract, pages = fleet
    page, want = pages["vllm"], engine_counts(contract)
    finished = page["vllm:request_success"]
    assert sample_sum(finished, "_total", finished_reason="stop") + sample_sum(
        finished, "_total", finished_reason="length") == want["success"]
    assert sample_sum(finished, "_total", finished_reason="error") == want["server_error"]
    assert sample_sum(finished, "_total", finished_reason="abort") == want["timeout"]
    assert sample_sum(page["vllm:prompt_tokens"], "_total") == want["input"]
    assert sample_sum(page["vllm:generation_tokens"], "_total") == want["output"]
    assert sample_sum(page["vllm:e2e_request_latency_seconds"], "_count") == want["success"] + want[
        "server_error"] + want["timeout"]
    assert sample_sum(page["vllm:time_to_first_token_seconds"], "_count") == want["ttft"]
    assert sample_sum(page["vllm:request_time_per_output_token_seconds"], "_count") == want["tpot"]
    assert sample_sum(page["vllm:request_prompt_tokens"], "_sum") == want["input"]


def test_sglang_sees_the_self_hosted_calls(fleet) -> None:
    contract, pages = fleet
    page, want = pages["sglang"], engine_counts(contract)
    engine_failures = want["server_error"] + want["timeout"]
    assert sample_sum(page["sglang:num_requests"], "_total") == want["success"] + engine_failures
    assert sample_sum(page["sglang:num_aborted_requests"], "_total") == engine_failures
    assert sample_sum(page["sglang:prompt_tokens"], "_total") == want["input"]
    assert sample_sum(page["sglang:generation_tokens"], "_total") == want["output"]
    assert sample_sum(page["sglang:time_to_first_token_seconds"], "_count", is_streaming="true") == want["ttft"]
    assert sample_sum(page["sglang:request_time_per_output_token_seconds"], "_count") == want["tpot"]


def test_tgi_sees_the_self_hosted_calls(fleet) -> None:
    contract, pages = fleet
    page, want = pages["tgi"], engine_counts(contract)
    assert sample_sum(page["tgi_request_count"], "_total") == want["success"] + want["server_error"] + want["timeout"]
    assert sample_sum(page["tgi_request_success"], "_total") == want["success"]
    assert sample_sum(page["tgi_request_failure"], "_total", err="generation") == want["server_error"]
    assert sample_sum(page["tgi_request_failure"], "_total", err="dropped") == want["timeout"]
    assert sample_sum(page["tgi_request_generated_tokens"], "_sum") == want["output"]
    assert sample_sum(page["tgi_request_input_length"], "_sum") == want["input"]
    assert sample_sum(page["tgi_request_duration"], "_count") == want["success"]


def test_nim_sees_the_self_hosted_calls(fleet) -> None:
    contract, pages = fleet
    page, want = pages["nim"], engine_counts(contract)
    assert sample_sum(page["request_success"], "_total") == want["success"]
    assert sample_sum(page["request_failure"], "_total") == want["server_error"] + want["timeout"]
    assert sample_sum(page["prompt_tokens"], "_total") == want["input"]
    assert sample_sum(page["generation_tokens"], "_total") == want["output"]
    assert sample_sum(page["time_to_first_token_seconds"], "_count") == want["ttft"]


def test_otel_sees_every_call_and_tokens_of_unstreamed_successes(fleet) -> None:
    contract, pages = fleet
    duration = pages["otel"]["gen_ai_client_operation_duration_seconds"]
    assert sample_sum(duration, "_count") == contract_sum(contract, "llm_requests")
    failed = sum(s.value for s in duration.samples if s.name.endswith("_count") and s.labels["error_type"])
    assert failed == contract_sum(contract, "llm_errors")
    assert sample_sum(duration, "_count", error_type="RateLimitError") == contract_sum(contract, "llm_errors",
                                                                                       error_type="rate_limit")
    unstreamed = contract_sum(contract, "llm_requests", status="success") - contract_sum(
        contract, "llm_time_to_first_token_seconds", "_count")
    tokens = pages["otel"]["gen_ai_client_token_usage"]
    assert sample_sum(tokens, "_count", gen_ai_token_type="input") == unstreamed


def test_dcgm_shows_the_mock_gpus(fleet) -> None:
    contract, pages = fleet
    page = pages["dcgm"]
    uuids = {s.labels["uuid"] for s in contract["llm_gpu_memory_total_bytes"].samples}
    assert {s.labels["UUID"] for s in page["DCGM_FI_DEV_GPU_UTIL"].samples} == uuids
    total_mib = {s.labels["uuid"]: s.value / 2**20 for s in contract["llm_gpu_memory_total_bytes"].samples}
    for used in page["DCGM_FI_DEV_FB_USED"].samples:
        free = sample_sum(page["DCGM_FI_DEV_FB_FREE"], UUID=used.labels["UUID"])
        assert used.value + free == pytest.approx(total_mib[used.labels["UUID"]], abs=1)
    for util in page["DCGM_FI_DEV_GPU_UTIL"].samples:
        active = sample_sum(page["DCGM_FI_PROF_GR_ENGINE_ACTIVE"], UUID=util.labels["UUID"])
        assert 0 <= active <= 1 and util.value == round(active * 100)


def test_hosted_models_never_reach_an_engine(fleet) -> None:
    _, pages = fleet
    models = {s.labels["model_name"] for s in pages["vllm"]["vllm:request_success"].samples}
    assert models == {SELF_HOSTED}


def test_dialect_state_is_bounded_like_the_contract() -> None:
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test", max_label_sets=3)
    dialects = Dialects(recorder, recorder.budgets, None, clock=lambda: NOW)
    for n in range(40):
        recorder.record(LLMCall("openai", "gpt-4o", f"app-{n}", "support", 1.0, 10, 10))
        recorder.record(LLMCall("vllm", SELF_HOSTED, f"app-{n}", "support", 1.0, 10, 10, error_type="rate_limit"))
    page = families(dialects.render("litellm").decode())
    aliases = {s.labels["api_key_alias"] for s in page["litellm_proxy_total_requests_metric"].samples}
    # three label sets: (gpt-4o, app-0), (llama, app-0), (gpt-4o, app-1); everything later is "other"
    assert aliases == {"app-0", "app-1", "other"}
    assert sample_sum(page["litellm_proxy_total_requests_metric"], "_total") == 80
    series = {name: d.store.series_count() for name, d in dialects.by_name.items()}
    for n in range(40, 400):  # 360 more distinct apps add no series anywhere
        recorder.record(LLMCall("openai", "gpt-4o", f"app-{n}", "support", 1.0, 10, 10))
    assert {name: d.store.series_count() for name, d in dialects.by_name.items()} == series


def test_unknown_dialect_is_refused_with_the_valid_names() -> None:
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test")
    dialects = Dialects(recorder, recorder.budgets, None)
    with pytest.raises(KeyError) as raised:
        dialects.render("ollama")
    assert "vllm" in raised.value.message  # type: ignore[attr-defined]


def test_bare_counters_keep_their_type_line() -> None:
    _, dialects, _ = simulate(seconds=5)
    text = dialects.render("tgi").decode()
    assert "# TYPE tgi_request_count counter\n" in text and re.search(r"^tgi_request_count \d", text, re.M)
    assert "untyped" not in text
    assert all(not math.isnan(s.value) for f in parse_text(text) for s in f.samples)


def test_docs_tables_are_the_records() -> None:
    document = (CONFIG_DIR.parents[1] / "docs" / "sources.md").read_text()
    assert generated() in document, "docs/sources.md is stale: python -m llm_exporter.sources.docs docs/sources.md"


def test_a_dialect_cannot_write_what_its_source_does_not_expose() -> None:
    store = Store(vllm.SOURCE, le_python)
    with pytest.raises(KeyError, match="no recorded metric"):
        store.inc("vllm:requests_total", {"model_name": "m", "engine": "0"})
    with pytest.raises(ValueError, match="takes"):
        store.inc("vllm:prompt_tokens_total", {"model_name": "m", "engine": "0", "app_id": "a"})
    with pytest.raises(ValueError, match="takes"):
        store.inc("vllm:prompt_tokens_total", {"model_name": "m"})
    store.inc("vllm:prompt_tokens_total", {"model_name": "m", "engine": "0"}, 3)
    assert store.series_count() == 1
