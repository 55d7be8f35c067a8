"""Pricing: which name gets which price, what a call with cached, audio or reasoning tokens costs,
the pricing file's validation, the shipped file, and the prices published as series."""

from __future__ import annotations

import pytest
from prometheus_client import CollectorRegistry, generate_latest

from llm_exporter import contract
from llm_exporter.config import Budgets, ConfigError, default_config_file, load_pricing
from llm_exporter.pricing import ModelPrice, Pricing, snapshot_base
from llm_exporter.recorder import LLMCall, Recorder
from llm_exporter.tokens import CLASS_NAMES, TokenDetails
from tests.support.metrics_text import families, sample_sum
from tests.support.processes import CONFIG_DIR

PRICES = Pricing({
    "gpt-4o": ModelPrice(input=2.5, cached_input=1.25, output=10),
    "gpt-4o-mini": ModelPrice(input=0.15, output=0.6),
    "gpt-4o-2024-05-13": ModelPrice(input=5, output=15),
    "gpt-4": ModelPrice(input=30, output=60),
    "o3": ModelPrice(input=2, output=8),
    "claude-sonnet-4": ModelPrice(input=3, cached_input=0.3, cache_write_input=3.75, output=15,
                                  aliases=("claude-sonnet-4-0", "sonnet")),
    "claude-3-5-haiku": ModelPrice(input=0.8, output=4),
    "gemini-1.5-pro": ModelPrice(input=1.25, output=5),
    "mistral-large": ModelPrice(input=2, output=6),
})


def priced_as(model: str) -> str | None:
    """The priced name whose entry `model` resolves to (None when unpriced)."""
    price = PRICES.price_for(model)
    return next((name for name, p in PRICES.prices.items() if p is price), None)


# -- matching ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("model", "expected"), [
    ("gpt-4o", "gpt-4o"),  # exact
    ("sonnet", "claude-sonnet-4"),  # declared alias
    ("claude-sonnet-4-0", "claude-sonnet-4"),
    ("gpt-4o-2024-08-06", "gpt-4o"),  # OpenAI -YYYY-MM-DD
    ("gpt-4o-mini-2024-07-18", "gpt-4o-mini"),
    ("gpt-4o-2024-05-13", "gpt-4o-2024-05-13"),  # an exact entry beats the snapshot rule
    ("claude-sonnet-4-20250514", "claude-sonnet-4"),  # Anthropic -YYYYMMDD
    ("claude-sonnet-4@20250514", "claude-sonnet-4"),  # Vertex AI @YYYYMMDD
    ("sonnet-20250514", "claude-sonnet-4"),  # a snapshot of an alias
    ("gpt-4-0613", "gpt-4"),  # OpenAI -MMDD
    ("mistral-large-2411", "mistral-large"),  # Mistral -YYMM
    ("gemini-1.5-pro-002", "gemini-1.5-pro"),  # Google -NNN
    ("claude-3-5-haiku-latest", "claude-3-5-haiku"),  # -latest
    ("mistral-large-latest", "mistral-large"),
])
def test_priced_names(model: str, expected: str) -> None:
    assert priced_as(model) == expected


@pytest.mark.parametrize("model", [
    "o3-pro", "o3-mini",  # variants are other models, not snapshots
    "gpt-4o-realtime-preview", "gpt-4o-realtime-preview-2024-12-17",
    "gpt-4o-mini-typo", "gpt-4omni", "gpt",
    "gpt-4o-2024-13-06", "gpt-4o-2024-02-30", "claude-sonnet-4-20251399",  # not real dates
    "gpt-4-2048",  # four digits that are neither MMDD nor YYMM
    "gpt-4o-12", "gpt-4o-12345",  # neither three, four nor eight digits
    "gpt-4-0125-preview",  # a snapshot of gpt-4-preview, not of gpt-4
    "gpt-4o-2024-08-06-latest", "gpt-4o-latest-2024-08-06",  # one suffix only
    "GPT-4o", "gpt-4o ",  # names are matched as given
])
def test_unpriced_names(model: str) -> None:
    assert PRICES.price_for(model) is None
    assert PRICES.cost(model, 100, 100) is None


def test_snapshot_base_on_its_own() -> None:
    assert snapshot_base("anything-2025-01-31") == "anything"
    assert snapshot_base("anything") is None
    assert snapshot_base("-latest") is None  # a suffix needs a name before it


# -- cost with token classes ------------------------------------------------------------------


def test_cost_bills_each_class_at_its_price_and_the_rest_at_the_base_price() -> None:
    gpt4o, sonnet = PRICES.prices["gpt-4o"], PRICES.prices["claude-sonnet-4"]
    plain = gpt4o.cost(1000, 200)
    assert plain == pytest.approx((1000 * 2.5 + 200 * 10) / 1e6)
    cached = gpt4o.cost(1000, 200, TokenDetails(cached_input=400))
    assert cached == pytest.approx((600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6)
    # classes without a price of their own (gpt-4o has no reasoning or audio price) bill at the base price
    assert gpt4o.cost(1000, 200, TokenDetails(reasoning_output=150, audio_input=10)) == pytest.approx(plain)
    both = sonnet.cost(1000, 100, TokenDetails(cached_input=500, cache_write_input=300))
    assert both == pytest.approx((200 * 3 + 500 * 0.3 + 300 * 3.75 + 100 * 15) / 1e6)


def test_cost_never_bills_more_class_tokens_than_the_direction_holds() -> None:
    gpt4o = PRICES.prices["gpt-4o"]
    assert gpt4o.cost(100, 0, TokenDetails(cached_input=500)) == pytest.approx(100 * 1.25 / 1e6)


def test_token_classes_match_the_contract() -> None:
    assert tuple(contract.TOKEN_CLASSES) == CLASS_NAMES
    assert set(contract.TOKEN_CLASSES.values()) == set(contract.TOKEN_DIRECTIONS)
    assert set(contract.TOKEN_CLASSES) <= set(ModelPrice.model_fields), "each class can be priced"


def recorder_for(pricing: Pricing) -> tuple[Recorder, CollectorRegistry]:
    recorder = Recorder(pricing, Budgets({}), mode="instrument", version="test")
    registry = CollectorRegistry(auto_describe=False)
    registry.register(recorder)
    return recorder, registry


def call(**fields: object) -> LLMCall:
    return LLMCall(**{"provider": "openai", "model": "gpt-4o", "app_id": "app", "department": "eng",
                      "duration_s": 1.0, **fields})


def test_recorded_classes_keep_the_direction_totals_and_price_the_call() -> None:
    recorder, registry = recorder_for(PRICES)
    recorded = recorder.record(call(input_tokens=1000, output_tokens=200,
                                    token_details=TokenDetails(cached_input=400, reasoning_output=50)))
    assert recorded.cost_usd == pytest.approx((600 * 2.5 + 400 * 1.25 + 200 * 10) / 1e6)
    m = families(generate_latest(registry).decode())
    assert sample_sum(m["llm_tokens"], "_total", direction="input") == 1000
    assert sample_sum(m["llm_tokens"], "_total", direction="output") == 200
    assert sample_sum(m["llm_tokens_by_class"], "_total", token_class="cached_input") == 400
    assert sample_sum(m["llm_tokens_by_class"], "_total", token_class="reasoning_output") == 50
    assert {s.labels["token_class"] for s in m["llm_tokens_by_class"].samples} == {"cached_input", "reasoning_output"}
    assert sample_sum(m["llm_cost_usd"], "_total") == pytest.approx(recorded.cost_usd)


def test_impossible_class_counts_are_repaired_and_counted() -> None:
    recorder, registry = recorder_for(PRICES)
    recorded = recorder.record(call(input_tokens=100, output_tokens=10,
                                    token_details=TokenDetails(cached_input=500, audio_output=-3)))
    assert recorded.call.token_details == TokenDetails(cached_input=100)
    assert recorded.cost_usd == pytest.approx((100 * 1.25 + 10 * 10) / 1e6)
    m = families(generate_latest(registry).decode())
    assert sample_sum(m["llm_invalid_values"], "_total", field="cached_input_tokens") == 1
    assert sample_sum(m["llm_invalid_values"], "_total", field="audio_output_tokens") == 1
    recorder.record(call(token_details={"cached_input": 1}))  # type: ignore[arg-type]
    m = families(generate_latest(registry).decode())
    assert sample_sum(m["llm_invalid_values"], "_total", field="token_details") == 1


# -- prices as series -------------------------------------------------------------------------


def test_prices_are_published_per_name_and_alias() -> None:
    pricing = Pricing({
        "claude-sonnet-4": ModelPrice(input=3, cached_input=0.3, output=15, aliases=("sonnet",)),
        "llama-70b": ModelPrice(input=0, output=0, gpu_hour_usd=2.5, gpus=4),
    })
    _, registry = recorder_for(pricing)
    m = families(generate_latest(registry).decode())
    prices = {(s.labels["model"], s.labels["direction"]): s.value for s in m["llm_price_usd_per_token"].samples}
    assert prices == {
        ("claude-sonnet-4", "input"): pytest.approx(3e-6), ("claude-sonnet-4", "output"): pytest.approx(15e-6),
        ("claude-sonnet-4", "cached_input"): pytest.approx(0.3e-6),
        ("sonnet", "input"): pytest.approx(3e-6), ("sonnet", "output"): pytest.approx(15e-6),
        ("sonnet", "cached_input"): pytest.approx(0.3e-6),
        ("llama-70b", "input"): 0, ("llama-70b", "output"): 0,
    }
    assert set(direction for _, direction in prices) <= set(contract.PRICE_DIRECTIONS)
    hourly = {s.labels["model"]: s.value for s in m["llm_self_hosted_usd_per_hour"].samples}
    assert hourly == {"llama-70b": 10.0}


# -- the pricing file -------------------------------------------------------------------------

VALID = """\
currency: USD
as_of: "2026-01-01"
sources:
  openai: {url: "https://example.com/pricing", as_of: "2026-01-01"}
models:
  gpt-4o: {input: 2.5, output: 10, source: openai}
"""


def load(tmp_path, text: str) -> Pricing:
    path = tmp_path / "pricing.yaml"
    path.write_text(text)
    return load_pricing(path)


def test_a_valid_file_loads(tmp_path) -> None:
    assert load(tmp_path, VALID).price_for("gpt-4o-2024-08-06").input == 2.5


@pytest.mark.parametrize(("text", "key", "problem"), [
    (VALID + "  gpt-4o: {input: 1, output: 1}\n", "line 7, column 3", "duplicate key 'gpt-4o' (first at line 6)"),
    (VALID + "currency: USD\n", "line 7, column 1", "duplicate key 'currency' (first at line 1)"),
    (VALID.replace("currency: USD", "currency: EUR"), "currency", "unknown currency 'EUR'"),
    (VALID.replace("input: 2.5, ", ""), "models.gpt-4o.input", "Field required"),
    (VALID.replace("input: 2.5", "inptu: 2.5"), "models.gpt-4o.inptu", "Extra inputs are not permitted"),
    (VALID.replace("input: 2.5", "input: -1"), "models.gpt-4o.input", "greater than or equal to 0"),
    (VALID.replace("output: 10,", "output: 10, cached_input: .nan,"), "models.gpt-4o.cached_input", "finite"),
    (VALID.replace('as_of: "2026-01-01"\nsources', 'as_of: "soon"\nsources'), "as_of", "date"),
    (VALID.replace("source: openai", "source: anthropic"), "models.gpt-4o.source", "not one of the file's sources"),
    (VALID + "  gpt-4o-mini: {input: 1, output: 1, aliases: [gpt-4o]}\n", "models.gpt-4o-mini.aliases",
     "'gpt-4o' already names the model models.gpt-4o"),
    (VALID + "  a: {input: 1, output: 1, aliases: [x]}\n  b: {input: 1, output: 1, aliases: [x]}\n",
     "models.b.aliases", "'x' already names an alias of models.a"),
    (VALID.replace("source: openai", "gpus: 0"), "models.gpt-4o.gpus", "greater than or equal to 1"),
    ("currency: USD\nas_of: 2026-01-01\nmodels: {}\n", "models", "at least 1 item"),
    ("- a list\n", "(document)", "expected a mapping"),
])
def test_bad_files_name_the_file_key_and_problem(tmp_path, text: str, key: str, problem: str) -> None:
    with pytest.raises(ConfigError) as raised:
        load(tmp_path, text)
    error = raised.value
    assert error.path == str(tmp_path / "pricing.yaml")
    assert error.key == key, str(error)
    assert problem in error.problem, str(error)


def test_missing_file(tmp_path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_pricing(tmp_path / "nope.yaml")


# -- the shipped file -------------------------------------------------------------------------


def test_shipped_file_is_the_packaged_default_and_every_price_cites_a_dated_source() -> None:
    assert default_config_file("pricing.yaml").resolve() == (CONFIG_DIR / "pricing.yaml").resolve()
    import yaml

    raw = yaml.safe_load((CONFIG_DIR / "pricing.yaml").read_text())
    pricing = load_pricing(CONFIG_DIR / "pricing.yaml")
    for name, price in pricing.prices.items():
        assert price.source in raw["sources"], f"{name} cites no source"
    for name, source in raw["sources"].items():
        assert source["url"] and source["as_of"], name


@pytest.mark.parametrize(("variant", "base"), [
    ("o3-pro", "o3"), ("o3-mini", "o3"), ("gpt-4o-realtime-preview", "gpt-4o"),
    ("gpt-4o-mini-typo", "gpt-4o-mini"),
])
def test_shipped_file_never_prices_a_variant_as_its_base_model(variant: str, base: str) -> None:
    pricing = load_pricing(CONFIG_DIR / "pricing.yaml")
    assert pricing.price_for(base) is not None
    assert pricing.price_for(variant) is not pricing.price_for(base)
