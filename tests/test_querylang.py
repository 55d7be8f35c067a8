"""Every LogQL and TraceQL query we ship (dashboards and datasource links) is parsed by Grafana's
own published grammars (@grafana/lezer-logql, @grafana/lezer-traceql, run with node) and refers
only to labels and attributes the exporter really sends.

What the exporter sends is not written down here: it is collected by running the exporter's own
code: seeded mock calls go through the real Recorder, the span builder and the OTLP log mapping.
"""

from __future__ import annotations

import json
import logging
import subprocess
import time
from functools import cache
from typing import Any

import pytest
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from llm_exporter.config import load_budgets, load_pricing
from llm_exporter.mock.simulator import Simulator
from llm_exporter.recorder import Recorder
from llm_exporter.telemetry import calllog, otlp_logs, spans
from llm_exporter.telemetry.config import DEFAULT_SERVICE_NAME
from llm_exporter.telemetry.pipeline import build_resource
from tests.support import dashboards as ds
from tests.support.processes import CONFIG_DIR

QUERYLANG = ds.REPO / "grafana" / "querylang"
INSTALL = ds.REPO / "scripts" / "install-node-deps.sh"
LANGUAGE = {"loki": "logql", "tempo": "traceql"}

# Loki's OTLP mapping: service.name -> stream label service_name; log record fields and the other
# resource attributes -> structured metadata, dots turned into underscores.
LOKI_RECORD_METADATA = {"trace_id", "span_id", "severity_text", "severity_number", "flags", "observed_timestamp"}
TRACEQL_INTRINSICS = {
    "status", "statusMessage", "duration", "name", "kind", "rootName", "rootServiceName", "traceDuration",
    "span:status", "span:statusMessage", "span:duration", "span:name", "span:kind", "span:id",
    "trace:duration", "trace:rootName", "trace:rootService", "trace:id",
}
SAMPLE_TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"
SAMPLE_SPAN_ID = "00f067aa0ba902b7"


# -- what the exporter sends --------------------------------------------------------------------


@cache
def exporter_telemetry() -> dict[str, set[str]]:
    """Resource, span and log-record attribute names of a few thousand seeded mock calls."""
    recorder = Recorder(load_pricing(CONFIG_DIR / "pricing.yaml"), load_budgets(CONFIG_DIR / "budgets.yaml"),
                        mode="mock", version="test")
    resource = build_resource("development", "mock")
    scope = InstrumentationScope("llm_exporter")
    logger = logging.getLogger(calllog.CALL_LOGGER)
    span_attributes: set[str] = set()
    log_attributes: set[str] = set()
    span_kinds: set[str] = set()
    for scenario in ("normal", "error_burst", "budget_overrun"):
        simulator = Simulator(recorder, rps=50, seed=3, scenario=scenario)
        now = time.time()
        for index in range(1500):
            recorded = recorder.record(simulator.make_call(now + index / 50))
            for span in spans.build_spans(recorded, time.time_ns(), resource, scope):
                span_attributes |= set(span.attributes or {})
                span_kinds.add(span.kind.name.lower())
            fields = calllog.call_fields(recorded, trace_kept=True)
            level = logging.WARNING if recorded.error_type else logging.INFO
            record = logger.makeRecord(logger.name, level, __file__, 0, "llm call", (), None, extra=fields)
            log_attributes |= set(otlp_logs.to_otlp(record, resource, scope).log_record.attributes or {})
    resource_attributes = set(resource.attributes)
    return {
        "resource": resource_attributes,
        "span": span_attributes,
        "span_kinds": span_kinds,
        "loki_stream": {"service_name"},
        "loki_metadata": {n.replace(".", "_") for n in log_attributes | resource_attributes - {"service.name"}}
        | LOKI_RECORD_METADATA,
    }


# -- the queries we ship -------------------------------------------------------------------------


def _datasource(uid: str) -> dict[str, Any]:
    return next(d for d in ds.datasources() if d["uid"] == uid)


def _grafana_text(value: str) -> str:
    """Provisioning files escape `$` as `$$` (Grafana expands env vars in them)."""
    return value.replace("$$", "$")


def link_queries() -> list[dict[str, str]]:
    """LogQL that Tempo's trace-to-logs link runs, with Grafana's placeholders filled in."""
    to_logs = _datasource("tempo")["jsonData"]["tracesToLogsV2"]
    tags = ", ".join(f'{t.get("value") or t["key"]}="{DEFAULT_SERVICE_NAME}"' for t in to_logs["tags"])
    query = (_grafana_text(to_logs["query"]).replace("${__tags}", tags)
             .replace("${__trace.traceId}", SAMPLE_TRACE_ID).replace("${__span.spanId}", SAMPLE_SPAN_ID))
    assert "$" not in query, f"unexpanded placeholder in {query}"
    return [{"id": "datasources.yaml tempo tracesToLogsV2.query", "language": "logql", "query": query}]


def dashboard_queries() -> list[dict[str, str]]:
    dashboards = ds.load_dashboards()
    return [{"id": t.where, "language": LANGUAGE[t.datasource], "query": ds.expand(t.query, dashboards[t.dashboard])}
            for t in ds.targets(dashboards) if t.datasource in LANGUAGE]


@pytest.fixture(scope="module")
def parse() -> Any:
    installed = subprocess.run(["bash", str(INSTALL)], capture_output=True, text=True, timeout=300)
    assert installed.returncode == 0, f"{INSTALL.name} failed:\n{installed.stdout}\n{installed.stderr}"

    def run(queries: list[dict[str, str]]) -> list[dict[str, Any]]:
        done = subprocess.run(["node", "parse.mjs"], cwd=QUERYLANG, input=json.dumps(queries), text=True,
                              capture_output=True, check=True, timeout=60)
        return json.loads(done.stdout)

    return run


@pytest.fixture(scope="module")
def parsed(parse: Any) -> list[dict[str, Any]]:
    queries = dashboard_queries() + link_queries()
    results = parse(queries)
    assert [r["id"] for r in results] == [q["id"] for q in queries]
    return results


# -- tests ---------------------------------------------------------------------------------------


def test_the_parsers_report_syntax_errors(parse: Any) -> None:
    """Negative control: broken queries are reported, so a clean result means something."""
    results = parse([
        {"id": "good logql", "language": "logql", "query": '{service_name="x"} | app_id=~".*"'},
        {"id": "bad logql", "language": "logql", "query": '{service_name="x" | app_id=~'},
        {"id": "good traceql", "language": "traceql", "query": '{resource.service.name="x" && status=error}'},
        {"id": "bad traceql", "language": "traceql", "query": '{resource.service.name="x" && nestedSetParent<0}'},
    ])
    assert [bool(r["errors"]) for r in results] == [False, True, False, True]


def test_dashboards_have_logql_and_traceql() -> None:
    languages = [q["language"] for q in dashboard_queries()]
    assert languages.count("logql") >= 3 and languages.count("traceql") >= 3


def test_every_query_parses(parsed: list[dict[str, Any]]) -> None:
    failures = [f"{r['id']}: {r['errors']}" for r in parsed if r["errors"]]
    assert not failures, "\n".join(failures)


def test_logql_uses_only_labels_the_exporter_sends(parsed: list[dict[str, Any]]) -> None:
    sent = exporter_telemetry()
    problems = []
    for result in (r for r in parsed if r["language"] == "logql"):
        for label in result["labels"]:
            allowed = sent["loki_stream"] if label["role"] == "stream" else sent["loki_stream"] | sent["loki_metadata"]
            if label["name"] not in allowed:
                problems.append(f"{result['id']}: {label['role']} label {label['name']!r} is never sent")
        assert any(label["role"] == "stream" for label in result["labels"]), f"{result['id']}: no stream selector"
    assert not problems, "\n".join(problems) + f"\nLoki receives: {sorted(sent['loki_metadata'])}"


def test_traceql_uses_only_attributes_the_exporter_sends(parsed: list[dict[str, Any]]) -> None:
    sent = exporter_telemetry()
    problems = []
    for result in (r for r in parsed if r["language"] == "traceql"):
        for attribute in result["attributes"]:
            scope, name = attribute["scope"], attribute["name"]
            allowed = {"resource": sent["resource"], "span": sent["span"]}.get(scope, sent["resource"] | sent["span"])
            if name not in allowed:
                problems.append(f"{result['id']}: {scope}.{name} is never sent")
        problems += [f"{result['id']}: unknown intrinsic {i}" for i in result["intrinsics"]
                     if i not in TRACEQL_INTRINSICS]
    assert not problems, "\n".join(problems) + f"\nspans carry: {sorted(sent['span'])}"


def test_tempo_queries_filter_on_the_llm_client_span() -> None:
    """The dashboards' TraceQL selects the exporter's CLIENT span, which carries the gen_ai attributes."""
    sent = exporter_telemetry()
    assert "client" in sent["span_kinds"]
    assert {"gen_ai.request.model", "app_id", "department", "llm.cost_usd", "error.type"} <= sent["span"]
    for query in (q for q in dashboard_queries() if q["language"] == "traceql"):
        assert f'resource.service.name="{DEFAULT_SERVICE_NAME}"' in query["query"], query["id"]
        assert "kind=client" in query["query"], query["id"]


def test_datasource_links_use_what_the_exporter_sends() -> None:
    sent = exporter_telemetry()
    loki = _datasource("loki")["jsonData"]
    for field in loki["derivedFields"]:
        assert field["matcherType"] == "label" and field["matcherRegex"] in sent["loki_metadata"], field
        assert field["datasourceUid"] == "tempo"
    to_logs = _datasource("tempo")["jsonData"]["tracesToLogsV2"]
    assert to_logs["datasourceUid"] == "loki"
    for tag in to_logs["tags"]:
        assert tag["key"] in sent["resource"], tag
        assert (tag.get("value") or tag["key"]) in sent["loki_stream"], tag
    exemplar_names = {d["name"] for d in _datasource("prometheus")["jsonData"]["exemplarTraceIdDestinations"]}
    assert "trace_id" in exemplar_names  # the exporter's exemplar label (recorder.py)
