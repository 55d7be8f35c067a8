"""Structured logs: the JSON line format, one line per recorded call with its ids, levels by
environment, and prompts/completions that never reach a log (only length and hash)."""

from __future__ import annotations

import hashlib
import io
import json
import logging
import re
import subprocess
from collections.abc import Iterator

import pytest
import requests

from llm_exporter import cli
from llm_exporter.config import ConfigError, load_budgets, load_pricing
from llm_exporter.logs import JsonFormatter, configure_logging
from llm_exporter.recorder import LLMCall, Recorder
from llm_exporter.telemetry.config import QueueSettings, TelemetryConfig, log_level
from llm_exporter.telemetry.pipeline import Telemetry
from llm_exporter.telemetry.sdk_logs import safe_endpoint
from tests.support.metrics_text import families, sample_sum
from tests.support.processes import CONFIG_DIR, exporter_command, free_port, run_exporter, wait_for

CALL_FIELDS = {"timestamp", "level", "logger", "event", "message", "request_id", "trace_id", "span_id", "app_id",
               "department", "provider", "model", "tokens", "latency_ms", "cost_usd", "finish_reason", "error",
               "trace_sampled"}
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
PROMPT = "Summarise the account of jane.doe@example.com, card 4111 1111 1111 1111, key sk-abcdefghijklmnopqrstuv123"
COMPLETION = [{"role": "assistant", "content": "Jane's SSN is 123-45-6789."}]


@pytest.fixture
def captured() -> Iterator[io.StringIO]:
    """JSON lines written by the llm_exporter loggers during the test."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("llm_exporter")
    old_level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)


def lines(stream: io.StringIO, event: str = "llm_call") -> list[dict]:
    return [entry for entry in map(json.loads, stream.getvalue().splitlines()) if entry.get("event") == event]


def recorder_with_telemetry(**config) -> tuple[Recorder, Telemetry]:
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test")
    telemetry = Telemetry(recorder, TelemetryConfig(**config)).install()
    return recorder, telemetry


def make_call(**overrides) -> LLMCall:
    fields = dict(provider="openai", model="gpt-4o", app_id="support-bot", department="support", duration_s=1.25,
                  input_tokens=1200, output_tokens=300, ttft_s=0.4, streaming=True, finish_reason="stop",
                  trace_id="4bf92f3577b34da6a3ce929d0e0e4736", span_id="00f067aa0ba902b7", request_id="req-1")
    return LLMCall(**{**fields, **overrides})


def test_json_formatter_line() -> None:
    record = logging.makeLogRecord({"name": "llm_exporter.x", "levelno": logging.WARNING, "levelname": "WARNING",
                                    "msg": "hello %s", "args": ("world",), "event": "greeting", "app_id": "bot"})
    entry = json.loads(JsonFormatter().format(record))
    assert TIMESTAMP.match(entry["timestamp"])
    assert entry | {"timestamp": None} == {"timestamp": None, "level": "warning", "logger": "llm_exporter.x",
                                           "event": "greeting", "message": "hello world", "app_id": "bot"}
    try:
        raise ValueError("boom")
    except ValueError:
        import sys

        record = logging.makeLogRecord({"msg": "failed", "exc_info": sys.exc_info()})
    entry = json.loads(JsonFormatter().format(record))
    assert entry["event"] == "failed" and "ValueError: boom" in entry["exception"]


def test_one_line_per_call_with_ids_and_measurements(captured: io.StringIO) -> None:
    recorder, telemetry = recorder_with_telemetry(sample_ratio=1.0)
    recorded = recorder.record(make_call())
    recorder.record(make_call(error_type="rate_limit", duration_s=0.08, input_tokens=0, output_tokens=0,
                              ttft_s=None, finish_reason=None, request_id="req-2",
                              extra={"error_message": "429 for key sk-abcdefghijklmnopqrstuvwxyz"}))
    telemetry.shutdown()
    ok, failed = lines(captured)
    assert set(ok) >= CALL_FIELDS and set(failed) >= CALL_FIELDS
    assert ok["level"] == "info" and failed["level"] == "warning"
    assert ok["logger"] == "llm_exporter.calls"
    assert ok["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736" and ok["span_id"] == "00f067aa0ba902b7"
    assert ok["request_id"] == "req-1" and failed["request_id"] == "req-2"
    assert (ok["app_id"], ok["department"], ok["provider"], ok["model"]) == ("support-bot", "support", "openai",
                                                                             "gpt-4o")
    assert ok["tokens"] == {"input": 1200, "output": 300}
    assert ok["latency_ms"] == 1250.0 and ok["ttft_ms"] == 400.0
    assert ok["cost_usd"] == pytest.approx(recorded.cost_usd) and ok["cost_usd"] > 0
    assert ok["finish_reason"] == "stop" and ok["error"] is None
    assert failed["error"] == "rate_limit" and failed["latency_ms"] == 80.0
    assert "sk-abc" not in failed["error_message"] and "[REDACTED:api_key]" in failed["error_message"]
    assert ok["trace_sampled"] is True


def test_call_without_ids_gets_fresh_ones(captured: io.StringIO) -> None:
    recorder, _ = recorder_with_telemetry()
    recorder.record(make_call(trace_id=None, span_id=None))
    recorder.record(make_call(trace_id="not-hex", span_id="zz"))
    for entry in lines(captured):
        assert re.fullmatch(r"[0-9a-f]{32}", entry["trace_id"]) and re.fullmatch(r"[0-9a-f]{16}", entry["span_id"])


def test_prompt_and_completion_are_never_logged(captured: io.StringIO) -> None:
    recorder, _ = recorder_with_telemetry()
    recorder.record(make_call(extra={"prompt": PROMPT, "completion": COMPLETION}))
    text = captured.getvalue()
    (entry,) = lines(captured)
    for secret in ("jane.doe", "4111", "sk-abc", "Summarise", "123-45-6789", "SSN"):
        assert secret not in text
    assert entry["prompt_chars"] == len(PROMPT)
    assert entry["prompt_sha256"] == hashlib.sha256(PROMPT.encode()).hexdigest()
    completion_text = json.dumps(COMPLETION, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    assert entry["completion_sha256"] == hashlib.sha256(completion_text.encode()).hexdigest()
    assert "prompt_preview" not in entry and "completion_preview" not in entry


def test_opt_in_preview_is_truncated_and_redacted(captured: io.StringIO) -> None:
    recorder, _ = recorder_with_telemetry(preview_chars=60)
    recorder.record(make_call(extra={"prompt": PROMPT, "completion": COMPLETION}))
    (entry,) = lines(captured)
    preview = entry["prompt_preview"]
    assert preview.startswith("Summarise the account of [REDACTED:email]")
    assert len(preview) == 61 and preview.endswith("…")
    assert "jane" not in preview and "4111" not in preview
    assert "123-45-6789" not in entry["completion_preview"] and "[REDACTED:ssn]" in entry["completion_preview"]


@pytest.mark.parametrize(("env", "override", "level"), [
    ("development", "", logging.DEBUG), ("production", "", logging.INFO), ("production", "debug", logging.DEBUG),
    ("development", "warning", logging.WARNING),
])
def test_level_by_environment(env: str, override: str, level: int) -> None:
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging(env, log_level(env, {"LLM_EXPORTER_LOG_LEVEL": override}))
        assert root.level == level
    finally:
        root.handlers[:], root.level = saved[0], saved[1]


def test_invalid_log_level_stops_start() -> None:
    with pytest.raises(ConfigError, match="LLM_EXPORTER_LOG_LEVEL"):
        log_level("production", {"LLM_EXPORTER_LOG_LEVEL": "verbose"})
    result = subprocess.run(
        exporter_command("--port", str(free_port()), "--pricing-file", str(CONFIG_DIR / "pricing.yaml"),
                         "--budgets-file", str(CONFIG_DIR / "budgets.yaml")),
        env={"LLM_EXPORTER_LOG_LEVEL": "verbose", "OTEL_SDK_DISABLED": "true", "PATH": "/usr/bin:/bin"},
        capture_output=True, text=True, timeout=60)
    assert result.returncode == 2, result.stderr
    assert "LLM_EXPORTER_LOG_LEVEL" in result.stderr


@pytest.mark.parametrize(("env", "problem"), [
    ({"LLM_EXPORTER_LOG_LEVEL": "verbose"}, "LLM_EXPORTER_LOG_LEVEL"),
    ({"LLM_EXPORTER_LOG_LEVEL": "warning"}, "pricing"),
])
def test_logging_is_configured_once(env: dict[str, str], problem: str, monkeypatch: pytest.MonkeyPatch,
                                    capsys: pytest.CaptureFixture[str]) -> None:
    """One configure_logging per start, also when the level or a configuration file is invalid;
    the config_error line is still a JSON line."""
    calls: list[tuple] = []
    monkeypatch.setattr(cli, "configure_logging", lambda *args: calls.append(args) or configure_logging(*args))
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        code = cli.main(["--mode", "mock", "--env", "production", "--port", str(free_port()),
                         "--pricing-file", "/nonexistent/pricing.yaml",
                         "--budgets-file", str(CONFIG_DIR / "budgets.yaml")])
    finally:
        root.handlers[:], root.level = saved[0], saved[1]
    assert code == 2
    assert len(calls) == 1, calls
    errors = [json.loads(line) for line in capsys.readouterr().out.splitlines() if '"config_error"' in line]
    assert len(errors) == 1 and problem in json.dumps(errors[0]), errors


@pytest.mark.parametrize(("url", "safe"), [
    ("http://tempo:4318/v1/traces", "http://tempo:4318/v1/traces"),
    ("https://user:pa55@otlp.example.com/v1/logs", "https://[REDACTED]@otlp.example.com/v1/logs"),
    ("http://h:4318/v1/logs?api_key=k3y&token=t0k&flag", "http://h:4318/v1/logs?api_key=[REDACTED]&token=[REDACTED]&[REDACTED]"),
    ("http://:s3cret@h/v1/traces#frag", "http://[REDACTED]@h/v1/traces#[REDACTED]"),
    ("http://[::1/v1/traces?token=x", "[REDACTED]"),  # unparseable: nothing of it
    (None, None),
])
def test_safe_endpoint(url: str | None, safe: str | None) -> None:
    assert safe_endpoint(url) == safe


def test_endpoint_credentials_and_headers_are_never_logged(captured: io.StringIO,
                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """Userinfo and query values of the endpoints, and OTEL_EXPORTER_OTLP_HEADERS values (the SDK
    quotes a malformed header in its warning), appear in no log line, the SDK's included."""
    monkeypatch.setenv("OTEL_EXPORTER_OTLP_HEADERS", "authorization: Bearer hdr-s3cret-1,x-api-key=hdr-s3cret-2")
    root_stream = io.StringIO()
    root_handler = logging.StreamHandler(root_stream)
    root_handler.setFormatter(JsonFormatter())
    logging.getLogger().addHandler(root_handler)
    port = free_port()  # nothing listens: every export fails and the SDK logs the URL it tried
    endpoint = "http://otlp-user:pa55word@127.0.0.1:{}/v1/{}?api_key=qk3yvalue&tenant=acme-s3cret"
    quick = QueueSettings(delay_s=0.05, timeout_s=0.3)
    try:
        recorder, telemetry = recorder_with_telemetry(
            sample_ratio=1.0, traces_endpoint=endpoint.format(port, "traces"),
            logs_endpoint=endpoint.format(port, "logs"), traces_queue=quick, logs_queue=quick)
        recorder.record(make_call())
        wait_for(lambda: len(lines(captured, "telemetry_export_failing")) == 2, timeout=20,
                 what="export failing for both signals")
        telemetry.shutdown(1.0)
    finally:
        logging.getLogger().removeHandler(root_handler)
    text = captured.getvalue() + root_stream.getvalue()
    for secret in ("otlp-user", "pa55word", "qk3yvalue", "acme-s3cret", "hdr-s3cret-1", "hdr-s3cret-2"):
        assert secret not in text, secret
    (configured,) = lines(captured, "telemetry_configured")
    assert configured["traces_endpoint"] == (f"http://[REDACTED]@127.0.0.1:{port}/v1/traces"
                                             "?api_key=[REDACTED]&tenant=[REDACTED]")
    for entry in lines(captured, "telemetry_export_failing"):
        assert entry["endpoint"].startswith("http://[REDACTED]@127.0.0.1:") and entry["reason"] == "connection refused"
    assert "Header format invalid" in root_stream.getvalue()  # the SDK's warning stays, without the header


def _requests_total(url: str) -> float:
    return sample_sum(families(requests.get(url + "/metrics", timeout=5).text)["llm_requests"], "_total")


def _errors_total(url: str) -> float:
    return sample_sum(families(requests.get(url + "/metrics", timeout=5).text)["llm_requests"], "_total",
                      status="error")


@pytest.mark.parametrize("env", ["development", "production"])
def test_live_exporter_writes_one_json_line_per_call(env: str) -> None:
    """Mock calls are simulated: a debug line each (so development shows every one), and only the
    failed ones, at warning, at the production level."""
    with run_exporter("--mode", "mock", "--mock-rps", "40", "--seed", "3", "--env", env,
                      "--scenario", "error_burst") as exporter:
        wait_for(lambda: _requests_total(exporter.url) >= 30 and _errors_total(exporter.url) >= 3, timeout=60,
                 what="30 recorded calls, 3 of them failed")
        before, failed_before = _requests_total(exporter.url), _errors_total(exporter.url)
        entries = [json.loads(line) for line in exporter.log().splitlines() if line.strip()]
        after, failed_after = _requests_total(exporter.url), _errors_total(exporter.url)
    calls = [e for e in entries if e.get("event") == "llm_call"]
    if env == "development":
        assert before <= len(calls) <= after, "exactly one log line per recorded call"
    else:
        assert failed_before <= len(calls) <= failed_after, "one line per failed call, none for the others"
    for entry in calls:
        assert set(entry) >= CALL_FIELDS, set(CALL_FIELDS) - set(entry)
        assert TIMESTAMP.match(entry["timestamp"])
        assert re.fullmatch(r"[0-9a-f]{32}", entry["trace_id"]) and re.fullmatch(r"[0-9a-f]{16}", entry["span_id"])
        assert entry["level"] == ("warning" if entry["error"] else "debug")
    levels = {e["level"] for e in entries}
    assert ("debug" in levels) is (env == "development")
