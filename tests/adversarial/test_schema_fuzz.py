"""Requests generated from the exporter's own OpenAPI document (schemathesis), in every mode:
valid ones (positive) and ones that break the schema (negative), against the live process. No
answer is a server error, every status and body is the one the document declares, and every
request that breaks the schema is refused with a 4xx."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import schemathesis
from fastapi.routing import APIRoute
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import not_a_server_error
from schemathesis.config import SchemathesisConfig
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_schema_conformance,
    status_code_conformance,
)

from llm_exporter.app import create_app
from llm_exporter.proxy.service import ROUTES as PROXY_ROUTES
from llm_exporter.runtime import build_runtime
from llm_exporter.settings import parse_settings
from tests.adversarial.client import log_problems
from tests.adversarial.figures import Figures, scaled
from tests.support.processes import CONFIG_DIR, Running, run_exporter

CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
# A request that breaks the schema must get one of the refusals the document declares (413 and
# 408 included: schemathesis's default list has neither); a 503 would still fail not_a_server_error.
CONFIG = SchemathesisConfig.from_dict({"checks": {"negative_data_rejection": {
    "expected-statuses": ["400", "401", "404", "405", "408", "413", "422"]}}})
MODE_ARGS = {"mock": ["--mock-rps", "2"], "real": [], "proxy": []}


def app_for(mode: str, upstream_url: str = "http://127.0.0.1:9/v1"):  # type: ignore[no-untyped-def]
    settings = parse_settings(["--mode", mode, "--docs", "on", "--pricing-file", str(CONFIG_DIR / "pricing.yaml"),
                               "--budgets-file", str(CONFIG_DIR / "budgets.yaml"),
                               *(["--upstream-url", upstream_url] if mode == "proxy" else [])], {})
    return create_app(build_runtime(settings))


@pytest.mark.parametrize("mode", sorted(MODE_ARGS))
def test_the_document_declares_every_route_and_every_body(mode: str) -> None:
    app = app_for(mode)
    document = app.openapi()
    served = {(method, route.path) for route in app.routes if isinstance(route, APIRoute) and route.include_in_schema
              for method in route.methods}
    if mode == "proxy":
        served |= {("POST", path) for path in PROXY_ROUTES}
    declared = {(method.upper(), path) for path, item in document["paths"].items() for method in item}
    assert declared == served
    for path, item in document["paths"].items():
        for method, operation in item.items():
            if method == "post":
                assert operation["requestBody"]["content"]["application/json"]["schema"], (method, path)
                assert {"400", "408", "413", "503"} <= set(operation["responses"]), (method, path)


@pytest.fixture(scope="module", params=sorted(MODE_ARGS))
def live(request: pytest.FixtureRequest, upstream, token_file: Path) -> Iterator[tuple[str, Running, dict]]:
    mode = request.param
    args = ["--mode", mode, "--docs", "on", *MODE_ARGS[mode]]
    headers: dict[str, str] = {}
    if mode == "proxy":
        args += ["--upstream-url", upstream.url]
    if mode == "mock":
        args += ["--webhook-token-file", str(token_file)]
        headers = {"Authorization": f"Bearer {token_file.read_text().strip()}"}
    with run_exporter(*args) as running:
        yield mode, running, headers


@pytest.mark.parametrize("generation", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_generated_requests_get_declared_answers_and_never_a_server_error(
        live: tuple[str, Running, dict], generation: GenerationMode, figures: Figures) -> None:
    _, running, headers = live
    schema = schemathesis.openapi.from_url(running.url + "/openapi.json", config=CONFIG)
    checks = CHECKS + ([negative_data_rejection] if generation is GenerationMode.NEGATIVE else [])
    tried = 0
    failures = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if generation is GenerationMode.NEGATIVE and operation.method.upper() != "POST":
            continue  # the GET routes take no parameters: nothing in them can break the schema

        @settings(max_examples=scaled(40, 1500), deadline=None, database=None,
                  suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(generation_mode=generation))
        def run(case: schemathesis.Case) -> None:
            nonlocal tried
            tried += 1
            response = case.call(base_url=running.url, headers=headers, timeout=30)
            case.validate_response(response, checks=checks)

        try:
            run()
        except Exception as exc:  # every operation is tried; all failures are reported together
            failures.append(f"{operation.label}: {exc}"[:3000])
    figures.add("schema_cases", tried, "requests", "schemathesis requests from the exporter's own OpenAPI "
                "document, valid and schema-breaking, all modes")
    assert not failures, "\n\n".join(failures)
    assert log_problems(running) == []
