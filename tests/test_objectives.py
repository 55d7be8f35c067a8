"""The objectives file: validated at start-up, exposed as llm_objective_* at every level it sets.

How the rules resolve the levels per app and model is proven by prometheus/tests/objectives.test.yml
(promtool) and, live, by tests/test_dashboards_live.py and tests/test_alerts_e2e.py.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from llm_exporter import contract
from llm_exporter.app import create_app
from llm_exporter.config import ConfigError
from llm_exporter.objectives import KEYS, ObjectiveValues, load_objectives
from llm_exporter.runtime import build_runtime
from llm_exporter.settings import Settings
from tests.support.metrics_text import families
from tests.support.processes import CONFIG_DIR

SHIPPED = CONFIG_DIR / "objectives.yaml"


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "objectives.yaml"
    path.write_text(text)
    return path


def test_the_file_keys_are_the_contract_families() -> None:
    assert set(KEYS) == {spec.name.removeprefix(contract.OBJECTIVE_PREFIX) for spec in contract.OBJECTIVE_METRICS}
    assert set(ObjectiveValues.model_fields) == set(KEYS)


def test_every_level_is_exposed_with_empty_labels_for_the_broader_ones(tmp_path: Path) -> None:
    path = _write(tmp_path, """
default: {latency_p95_seconds: 10, availability_ratio: 0.995}
models:
  gpt-4o: {latency_p95_seconds: 20}
apps:
  batch-app:
    ttft_p95_seconds: 5
    models:
      gpt-4o: {error_ratio: 0.1}
""")
    runtime = build_runtime(Settings(mode="mock", pricing_file=CONFIG_DIR / "pricing.yaml",
                                     budgets_file=CONFIG_DIR / "budgets.yaml", objectives_file=path))
    parsed = families(TestClient(create_app(runtime)).get("/metrics").text)

    def samples(name: str) -> dict[tuple[str, str], float]:
        return {(s.labels["app_id"], s.labels["model"]): s.value for s in parsed[name].samples}

    assert samples("llm_objective_latency_p95_seconds") == {("", ""): 10, ("", "gpt-4o"): 20}
    assert samples("llm_objective_availability_ratio") == {("", ""): 0.995}
    assert samples("llm_objective_ttft_p95_seconds") == {("batch-app", ""): 5}
    assert samples("llm_objective_error_ratio") == {("batch-app", "gpt-4o"): 0.1}
    assert samples("llm_objective_tpot_p95_seconds") == {}


def test_no_file_exposes_no_objective(tmp_path: Path) -> None:
    runtime = build_runtime(Settings(mode="mock", pricing_file=CONFIG_DIR / "pricing.yaml",
                                     budgets_file=CONFIG_DIR / "budgets.yaml"))
    parsed = families(TestClient(create_app(runtime)).get("/metrics").text)
    assert all(not parsed[spec.name].samples for spec in contract.OBJECTIVE_METRICS)


def test_the_shipped_file_covers_the_mock_fleet() -> None:
    """Every model and app the shipped file names is one the mock fleet records."""
    from llm_exporter.mock.fleet import APPS, MODELS

    objectives = load_objectives(SHIPPED)
    assert {o.model for o in objectives if o.model} <= set(MODELS)
    assert {o.app_id for o in objectives if o.app_id} <= {app.app_id for app in APPS}


@pytest.mark.parametrize(("text", "key", "problem"), [
    ("default: {latency_p95_second: 10}\n", "default.latency_p95_second", "Extra inputs are not permitted"),
    ("default: {latency_p95_seconds: 0}\n", "default.latency_p95_seconds", "greater than 0"),
    ("default: {latency_p95_seconds: .inf}\n", "default.latency_p95_seconds", "finite number"),
    ("default: {latency_p95_seconds: fast}\n", "default.latency_p95_seconds", "valid number"),
    ("models: {gpt-4o: {availability_ratio: 1}}\n", "models.gpt-4o.availability_ratio", "less than 1"),
    ("models: {gpt-4o: {error_ratio: -0.1}}\n", "models.gpt-4o.error_ratio", "greater than 0"),
    ("apps: {a: {models: {m: {tpot: 1}}}}\n", "apps.a.models.m.tpot", "Extra inputs are not permitted"),
    ("models: {gpt-4o: {}}\n", "models.gpt-4o", "sets no objective"),
    ("models: {'gpt 4o': {latency_p95_seconds: 9}}\n", "models.gpt 4o", "would be recorded as 'gpt_4o'"),
    ("weekly: {}\n", "weekly", "Extra inputs are not permitted"),
    ("- a list\n", "(document)", "expected a mapping"),
    ("default: {latency_p95_seconds: [\n", "line 2", "not valid YAML"),
])
def test_bad_files_name_the_key_and_the_problem(tmp_path: Path, text: str, key: str, problem: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_objectives(path)
    assert raised.value.path == str(path)
    assert raised.value.key.startswith(key), raised.value
    assert problem in raised.value.problem, raised.value


def test_a_bad_file_stops_start_up_with_exit_2(tmp_path: Path) -> None:
    path = _write(tmp_path, "models: {gpt-4o: {availability_ratio: 1.5}}\n")
    result = subprocess.run(
        [sys.executable, "-m", "llm_exporter", "--pricing-file", str(CONFIG_DIR / "pricing.yaml"),
         "--budgets-file", str(CONFIG_DIR / "budgets.yaml"), "--objectives-file", str(path), "--port", "1"],
        capture_output=True, text=True, timeout=30)
    assert result.returncode == 2, result.stderr
    assert f"{path}: models.gpt-4o.availability_ratio: Input should be less than 1" in result.stderr


def test_a_missing_file_is_an_error_not_silence(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="file not found"):
        load_objectives(tmp_path / "nope.yaml")
