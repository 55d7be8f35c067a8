"""The metric contract: docs/metrics.md, contract.py and the live /metrics must agree."""

from __future__ import annotations

import re
from pathlib import Path

import requests

from llm_exporter import contract
from tests.support.metrics_text import families

DOC = Path(__file__).resolve().parents[1] / "docs" / "metrics.md"
ROW = re.compile(r"^\| `(?P<name>[a-z0-9_]+)` \| (?P<type>counter|gauge|histogram) \| [^|]+ \| (?P<labels>[^|]+) \|")


def documented() -> dict[str, tuple[str, frozenset[str]]]:
    rows = {}
    for line in DOC.read_text().splitlines():
        match = ROW.match(line)
        if match:
            labels = match["labels"].strip()
            names = frozenset() if labels == "(none)" else frozenset(x.strip() for x in labels.split(","))
            rows[match["name"]] = (match["type"], names)
    return rows


def test_document_lists_exactly_the_contract() -> None:
    in_code = {m.exposed_name: (m.kind, frozenset(m.labels)) for m in contract.ALL_METRICS}
    assert documented() == in_code


def test_issue_minimum_contract_is_present() -> None:
    required = {
        "llm_requests_total", "llm_errors_total", "llm_request_duration_seconds", "llm_time_to_first_token_seconds",
        "llm_time_per_output_token_seconds", "llm_tokens_total", "llm_cost_usd_total", "llm_request_cost_usd",
        "llm_active_requests", "llm_quality_score", "llm_feedback_total", "llm_responses_flagged_total",
        "llm_budget_usd", "llm_gpu_utilization_ratio", "llm_gpu_memory_used_bytes", "llm_gpu_memory_total_bytes",
        "llm_gpu_power_watts", "llm_gpu_temperature_celsius", "llm_exporter_info", "llm_unpriced_requests_total",
        "llm_label_overflow_total",
    }
    assert required <= set(documented())


def test_naming_conventions() -> None:
    for name, (kind, _) in documented().items():
        assert name.startswith("llm_"), name
        assert name.endswith("_total") == (kind == "counter"), f"{name}: only counters end in _total"
        assert not re.search(r"_(ms|milliseconds|kb|mb|percent)(_|$)", name), f"{name}: use base units"


def test_live_exposition_matches_document(mock_exporter) -> None:
    text = requests.get(mock_exporter.url + "/metrics", timeout=5).text
    exposed = families(text)
    # the text parser names counter families without _total
    live = {}
    for family in exposed.values():
        name = family.name + "_total" if family.type == "counter" else family.name
        labels = {k for s in family.samples for k in s.labels if k != "le"}
        live[name] = (family.type, labels)
    doc = documented()
    assert set(live) == set(doc), f"only exposed: {set(live) - set(doc)}; only documented: {set(doc) - set(live)}"
    for name, (kind, labels) in live.items():
        assert kind == doc[name][0], name
        if labels:  # families without samples yet carry no labels to compare
            assert labels == doc[name][1], name
