"""The exporter as a service: endpoints, scenario switching, bad input, settings, shutdown."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import pytest
import requests

from llm_exporter.mock.scenarios import SCENARIOS
from llm_exporter.settings import parse_settings
from tests.support.processes import CONFIG_DIR, run_exporter


def test_index_and_health(mock_exporter) -> None:
    index = requests.get(mock_exporter.url + "/", timeout=5).json()
    assert index["mode"] == "mock" and index["version"]
    for path in index["links"].values():
        if path not in ("/alertmanager/webhook",):  # POST-only
            assert requests.get(mock_exporter.url + path, timeout=5).status_code == 200, path
    assert requests.get(mock_exporter.url + "/healthz", timeout=5).json() == {"status": "ok"}
    assert requests.get(mock_exporter.url + "/readyz", timeout=5).status_code == 200


def test_scenario_switch_and_bad_requests() -> None:
    with run_exporter("--mode", "mock", "--mock-rps", "5") as exporter:
        url = exporter.url + "/mock/scenario"
        listing = requests.get(url, timeout=5).json()
        assert listing["active"] == "normal" and set(listing["scenarios"]) == set(SCENARIOS)

        switched = requests.post(url, json={"scenario": "error_burst"}, timeout=5)
        assert switched.status_code == 200 and switched.json()["active"] == "error_burst"
        assert 'llm_mock_scenario{scenario="error_burst"} 1.0' in requests.get(exporter.url + "/metrics").text

        bad_bodies = [
            (b'{"scenario": "meteor_strike"}', 422),
            (b'{"scenario": 3}', 422),
            (b"not json", 400),
            (b'["error_burst"]', 400),
            (b'{"scenario": "normal", "extra": 1}', 400),
            (b"", 400),
        ]
        for body, status in bad_bodies:
            response = requests.post(url, data=body, headers={"Content-Type": "application/json"}, timeout=5)
            assert response.status_code == status, body
            assert response.json()["valid_scenarios"] == list(SCENARIOS), body
            assert "error" in response.json()
        assert requests.get(url, timeout=5).json()["active"] == "error_burst", "a bad request changed nothing"


def test_scenarios_are_mock_only() -> None:
    with run_exporter("--mode", "real") as exporter:
        response = requests.post(exporter.url + "/mock/scenario", json={"scenario": "normal"}, timeout=5)
        assert response.status_code == 404 and "in real mode" in response.json()["error"]


def test_sigterm_shuts_down_cleanly() -> None:
    with run_exporter("--mode", "mock") as exporter:
        exporter.process.send_signal(signal.SIGTERM)
        # uvicorn drains, runs our shutdown, then re-raises the signal so the exit status tells why
        assert exporter.process.wait(timeout=15) in (0, -signal.SIGTERM)
        log = exporter.log()
        assert '"event":"shutdown"' in log and "Traceback" not in log


def test_environment_equivalents() -> None:
    settings = parse_settings([], {"LLM_EXPORTER_MODE": "real", "LLM_EXPORTER_PORT": "9200",
                                   "LLM_EXPORTER_MOCK_RPS": "2.5", "LLM_EXPORTER_HOST": "0.0.0.0"})
    assert (settings.mode, settings.port, settings.mock_rps, settings.host) == ("real", 9200, 2.5, "0.0.0.0")
    flags_win = parse_settings(["--port", "9300"], {"LLM_EXPORTER_PORT": "9200"})
    assert flags_win.port == 9300
    bounded = parse_settings([], {"LLM_EXPORTER_LABEL_BOUNDS": "app_id=200, model=100",
                                  "LLM_EXPORTER_MAX_LABEL_SETS": "5000"})
    assert (bounded.label_bounds, bounded.max_label_sets) == ((("app_id", 200), ("model", 100)), 5000)


@pytest.mark.parametrize(
    ("args", "env", "message"),
    [
        (["--mode", "banana"], {}, "invalid choice: 'banana'"),
        (["--port", "70000"], {}, "--port"),
        (["--mock-rps", "-1"], {}, "--mock-rps"),
        ([], {"LLM_EXPORTER_PORT": "http"}, "LLM_EXPORTER_PORT='http'"),
        ([], {"LLM_EXPORTER_SCENARIO": "meteor"}, "LLM_EXPORTER_SCENARIO='meteor' must be one of"),
        (["--mode", "proxy"], {}, "proxy mode needs --upstream-url"),
        (["--label-bounds", "app_id=0"], {}, "--label-bounds"),
        ([], {"LLM_EXPORTER_LABEL_BOUNDS": "colour=5"}, "LLM_EXPORTER_LABEL_BOUNDS='colour=5'"),
        (["--max-label-sets", "-1"], {}, "--max-label-sets"),
    ],
)
def test_bad_settings_exit_with_a_clear_message(args: list[str], env: dict[str, str], message: str) -> None:
    result = subprocess.run([sys.executable, "-m", "llm_exporter", *args], capture_output=True, text=True,
                            env={**os.environ, **env}, timeout=30)
    assert result.returncode == 2
    assert message in result.stderr


def _run_with_config(tmp_path, pricing: str | None, budgets: str | None) -> subprocess.CompletedProcess:
    pricing_path, budgets_path = tmp_path / "pricing.yaml", tmp_path / "budgets.yaml"
    pricing_path.write_text(pricing if pricing is not None else (CONFIG_DIR / "pricing.yaml").read_text())
    budgets_path.write_text(budgets if budgets is not None else (CONFIG_DIR / "budgets.yaml").read_text())
    if pricing == "<missing>":
        pricing_path.unlink()
    return subprocess.run(
        [sys.executable, "-m", "llm_exporter", "--pricing-file", str(pricing_path), "--budgets-file",
         str(budgets_path), "--port", "1"], capture_output=True, text=True, timeout=30)


@pytest.mark.parametrize(
    ("pricing", "budgets", "expected"),
    [
        ("<missing>", None, "pricing.yaml: (file): file not found"),
        ("currency: USD\nas_of: 2026-01-01\nmodels: {gpt-4o: {input: 1, output: [}\n", None, "pricing.yaml: line 3"),
        ("currency: USD\nas_of: 2026-01-01\nmodels:\n  gpt-4o: {input: -1, output: 2}\n", None,
         "pricing.yaml: models.gpt-4o.input: Input should be greater than or equal to 0"),
        ("currency: USD\nas_of: 2026-01-01\nmodels:\n  gpt-4o: {input: 1}\n", None,
         "pricing.yaml: models.gpt-4o.output: Field required"),
        ("currency: EUR\nas_of: 2026-01-01\nmodels:\n  gpt-4o: {input: 1, output: 1}\n", None,
         "pricing.yaml: currency: unknown currency 'EUR'"),
        ("- just\n- a list\n", None, "pricing.yaml: (document): expected a mapping"),
        (None, "currency: USD\ndepartments:\n  eng: {daily: 10, monthly: 5}\n",
         "budgets.yaml: departments.eng.monthly"),
        (None, "currency: USD\ndepartments:\n  eng: {daily: 10, monthly: 500, weekly: 3}\n",
         "budgets.yaml: departments.eng.weekly: Extra inputs are not permitted"),
        (None, "currency: USD\ndepartments: {}\n", "budgets.yaml: departments"),
        ("currency: USD\nas_of: 2026-01-01\nmodels:\n  gpt-4o: {input: 1, output: 1}\n"
         "  gpt-4o: {input: 2, output: 2}\n", None,
         "pricing.yaml: line 5, column 3: duplicate key 'gpt-4o' (first at line 4)"),
    ],
    ids=["missing", "bad-yaml", "negative-price", "missing-key", "currency", "not-a-mapping", "monthly<daily",
         "unknown-key", "empty", "duplicate-model"],
)
def test_bad_config_stops_startup_naming_file_and_key(tmp_path, pricing, budgets, expected) -> None:
    result = _run_with_config(tmp_path, pricing, budgets)
    assert result.returncode == 2, result.stderr
    assert expected in result.stderr, result.stderr
