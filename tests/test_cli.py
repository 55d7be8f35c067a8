"""The `llm-exporter` command: its help, a bare start on the packaged defaults, a port in use, and
the shutdown drain that lets long streams finish."""

from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import threading
import time

import pytest
import requests
import yaml

from llm_exporter.config import default_config_file
from llm_exporter.settings import Settings
from tests.support.metrics_text import families, sample_sum
from tests.support.openai_upstream import OpenAIUpstream
from tests.support.processes import REPO, exporter_command, run_exporter, wait_for


def help_text() -> str:
    result = subprocess.run(exporter_command("--help"), capture_output=True, text=True, timeout=30,
                            env={"COLUMNS": "200", "PATH": ""})
    assert result.returncode == 0, result.stderr
    return " ".join(result.stdout.partition("options:")[2].split())  # the flags' descriptions


def test_help_shows_the_defaults() -> None:
    text = help_text()
    defaults = Settings()
    for flag, value in (("--port", defaults.port), ("--mode", defaults.mode), ("--mock-rps", defaults.mock_rps),
                        ("--upstream-timeout", defaults.upstream_timeout),
                        ("--shutdown-timeout", defaults.shutdown_timeout), ("--env", defaults.env)):
        entry = re.search(rf"{flag} \S+ (.*?)(?= --[a-z-]+ [A-Z{{]|$)", text)  # up to the next flag
        assert entry and f"(default: {value})" in entry.group(1), (flag, entry and entry.group(1))
    assert "unset: the pricing.yaml shipped in the package" in text
    assert "(default: None)" not in text


def test_help_describes_each_mode() -> None:
    text = help_text()
    mode = re.search(r"--mode \{mock,real,proxy,config\} (.*?) --host", text).group(1)
    assert "mock: a simulated LLM fleet" in mode
    assert "real: GPU telemetry from NVIDIA's driver (NVML); records no LLM calls itself" in mode
    assert "proxy: an OpenAI-compatible metering proxy in front of --upstream-url" in mode
    assert "config: only the pricing, budgets and objectives files as series" in mode


def test_help_reflects_the_environment() -> None:
    result = subprocess.run(exporter_command("--help"), capture_output=True, text=True, timeout=30,
                            env={"COLUMNS": "200", "LLM_EXPORTER_PORT": "9333"})
    assert "port to listen on (default: 9333)" in " ".join(result.stdout.split())


def test_bare_start_uses_the_packaged_pricing_and_budgets(monkeypatch) -> None:
    for variable in ("LLM_EXPORTER_PRICING_FILE", "LLM_EXPORTER_BUDGETS_FILE"):
        monkeypatch.delenv(variable, raising=False)
    budgets = yaml.safe_load(default_config_file("budgets.yaml").read_text())["departments"]
    pricing = yaml.safe_load(default_config_file("pricing.yaml").read_text())["models"]
    with run_exporter(config_files=False) as exporter:  # run from a temporary directory
        fams = families(requests.get(exporter.url + "/metrics", timeout=10).text)
    for department, budget in budgets.items():
        assert sample_sum(fams["llm_budget_usd"], department=department, period="daily") == budget["daily"]
    for model, price in pricing.items():
        assert sample_sum(fams["llm_price_usd_per_token"], model=model, direction="output") == pytest.approx(
            price["output"] / 1e6)


def test_a_port_in_use_is_reported_before_anything_says_started() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run(exporter_command("--host", "127.0.0.1", "--port", str(port)), capture_output=True,
                                text=True, timeout=30, cwd=REPO)
    assert result.returncode == 2
    assert result.stderr.strip() == (f"llm-exporter: cannot listen on 127.0.0.1:{port}: Address already in use "
                                     "(is another process using that port? choose one with --port)")
    events = [json.loads(line).get("event") for line in result.stdout.splitlines() if line.startswith("{")]
    assert "listen_failed" in events and "startup" not in events


def stream_through(proxy_url: str, received: bytearray, done: threading.Event) -> None:
    payload = {"model": "gated-stream", "messages": [{"role": "user", "content": "hi"}], "stream": True}
    try:
        with requests.post(proxy_url + "/v1/chat/completions", json=payload, stream=True, timeout=30) as response:
            for chunk in response.iter_content(chunk_size=None):
                received += chunk
    except requests.RequestException:
        pass  # a connection cut mid-stream
    finally:
        done.set()


@pytest.mark.parametrize(("shutdown_timeout", "completes"), [("30", True), ("0.5", False)])
def test_sigterm_lets_a_stream_in_flight_finish_within_the_shutdown_timeout(shutdown_timeout: str,
                                                                           completes: bool) -> None:
    with OpenAIUpstream() as upstream, run_exporter(
            "--mode", "proxy", "--upstream-url", upstream.url, "--shutdown-timeout", shutdown_timeout) as proxy:
        received, done = bytearray(), threading.Event()
        threading.Thread(target=stream_through, args=(proxy.url, received, done), daemon=True).start()
        wait_for(lambda: b"tok0" in received, 10, "the first token through the proxy")
        proxy.process.send_signal(signal.SIGTERM)
        time.sleep(1.5)  # past the short timeout; within the long one
        upstream.release()
        assert done.wait(15)
        status = proxy.process.wait(timeout=15)
        exchange = upstream.last()
    assert status in (0, -signal.SIGTERM)
    assert received.endswith(b"data: [DONE]\n\n") is completes
    if completes:
        assert bytes(received) == bytes(exchange.response_body)
    else:  # cut: the proxy closed both legs when the drain ran out
        assert exchange.aborted
