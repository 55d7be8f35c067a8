"""The exporter's OpenAPI document: every route the mode serves, with the request body it reads
and every answer it can give, the proxy's OpenAI-compatible routes included.

The routes read their bodies themselves (size-limited, parsed safely: request_body.py), so the
framework cannot infer their bodies; they are declared here, once, from the same models the
routes validate with. The adversarial suite generates its requests from this document.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi

from . import contract
from .alert_webhook import WebhookPayload
from .mock.scenarios import SCENARIOS
from .settings import ALERT_WEBHOOK_MODES

if TYPE_CHECKING:
    from .runtime import Runtime

DOCS_STATIC_URL = "/docs/static"  # Swagger UI's own files, served from the fastapi-offline package

ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "what was wrong, for a person"},
        "reason": {"type": "string", "enum": list(contract.REJECT_REASONS),
                   "description": "counted under this reason in llm_rejected_requests_total"},
    },
}
OPENAI_ERROR = {
    "type": "object",
    "required": ["error"],
    "properties": {"error": {"type": "object", "required": ["message", "type"], "properties": {
        "message": {"type": "string"}, "type": {"type": "string"}, "param": {}, "code": {}}}},
}
SCENARIO_REQUEST = {
    "type": "object",
    "required": ["scenario"],
    "additionalProperties": False,
    "properties": {"scenario": {"type": "string", "enum": list(SCENARIOS)}},
}
# What the proxy itself needs to meter a call; everything else is the upstream's to judge.
PROXY_REQUESTS = {
    "/v1/chat/completions": ("Chat completion (forwarded to the upstream)", "messages", {"type": "array"}),
    "/v1/completions": ("Text completion (forwarded to the upstream)", "prompt", {}),
    "/v1/embeddings": ("Embeddings (forwarded to the upstream)", "input", {}),
}

_REFUSALS = {
    "400": "not JSON, or JSON of the wrong shape",
    "408": "the body did not arrive within --body-timeout",
    "413": "the body is over this route's size limit",
    "503": "request bodies in progress are at --max-body-bytes-in-flight; retry",
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _refusals(error: dict[str, Any], extra: dict[str, str] | None = None) -> dict[str, Any]:
    """The refusals every body-reading route can give, plus the route's own (`extra`)."""
    return {code: _json(error, text) for code, text in {**_REFUSALS, **(extra or {})}.items()}


def _json_body(schema: dict[str, Any]) -> dict[str, Any]:
    return {"required": True, "content": {"application/json": {"schema": schema}}}


def operations(runtime: Runtime, components: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """path -> {method: operation} for every route this runtime serves."""
    paths: dict[str, dict[str, Any]] = {
        "/metrics": {"get": {"summary": "Prometheus metrics (OpenMetrics with exemplars when asked for)",
                             "responses": {"200": {"description": "the exposition", "content": {
                                 "text/plain": {"schema": {"type": "string"}},
                                 "application/openmetrics-text": {"schema": {"type": "string"}}}}}}},
        "/healthz": {"get": {"summary": "Liveness", "responses": {"200": _json({"type": "object"}, "alive")}}},
        "/readyz": {"get": {"summary": "Readiness (proxy mode: 503 while the upstream does not accept connections)",
                            "responses": {"200": _json({"type": "object"}, "ready"),
                                          "503": _json({"type": "object"}, "not ready")}}},
        "/": {"get": {"summary": "Name, version, mode and the routes served",
                      "responses": {"200": _json({"type": "object"}, "the index")}}},
    }
    if runtime.simulator is not None:
        paths["/mock/scenario"] = {
            "get": {"summary": "The active mock scenario and the list of scenarios",
                    "responses": {"200": _json({"type": "object"}, "scenarios")}},
            "post": {"summary": "Switch the mock scenario", "requestBody": _json_body(SCENARIO_REQUEST),
                     "responses": {"200": _json({"type": "object"}, "switched"),
                                   **_refusals(ERROR, {"422": "no such scenario"})}},
        }
    if runtime.dialects is not None:
        paths["/sources"] = {"get": {"summary": "The sources whose exposition the mock fleet can imitate",
                                     "responses": {"200": _json({"type": "object"}, "the sources")}}}
        paths["/sources/{name}/metrics"] = {"get": {
            "summary": "The mock fleet as the named source would expose it",
            "parameters": [{"name": "name", "in": "path", "required": True, "schema": {"type": "string"}}],
            "responses": {"200": {"description": "the exposition", "content": {
                "text/plain": {"schema": {"type": "string"}}}},
                "404": _json({"type": "object", "required": ["error"]}, "no such source")}}}
    if runtime.settings.mode in ALERT_WEBHOOK_MODES:
        components["securitySchemes"] = {"webhookToken": {"type": "http", "scheme": "bearer"}}
        webhook = {"summary": "Alertmanager webhook receiver (payload version 4)",
                   "requestBody": _json_body(_model_schema(WebhookPayload, components)),
                   "responses": {"200": _json({"type": "object"}, "notifications received"),
                                 **_refusals(ERROR, {"401": "bearer token missing or wrong (--webhook-token-file)"})}}
        if runtime.webhook_token is not None:
            webhook["security"] = [{"webhookToken": []}]
        paths["/alertmanager/webhook"] = {"post": webhook}
        paths["/alertmanager/notifications"] = {"get": {
            "summary": "The most recent notifications received, newest last",
            "responses": {"200": _json({"type": "array", "items": {"type": "object"}}, "notifications")}}}
    if runtime.proxy is not None:
        for path, (summary, field, schema) in PROXY_REQUESTS.items():
            body = {"type": "object", "required": ["model", field],
                    "properties": {"model": {"type": "string", "minLength": 1}, field: schema,
                                   "stream": {"type": "boolean"}}}
            paths[path] = {"post": {
                "summary": summary, "requestBody": _json_body(body),
                "responses": {"200": {"description": "the upstream's answer, unchanged (JSON or an event stream)"},
                              **_refusals(OPENAI_ERROR),
                              "502": _json(OPENAI_ERROR, "the upstream could not be reached"),
                              "504": _json(OPENAI_ERROR, "the upstream did not answer in time"),
                              "default": {"description": "the upstream's error answer, unchanged"}}}}
    return paths


def _model_schema(model: type, components: dict[str, Any]) -> dict[str, Any]:
    """A pydantic model's JSON schema, its nested models moved to components.schemas."""
    schema = model.model_json_schema(ref_template="#/components/schemas/{model}")  # type: ignore[attr-defined]
    components.setdefault("schemas", {}).update(schema.pop("$defs", {}))
    return schema


def install_openapi(app: FastAPI, runtime: Runtime) -> None:
    """Serve this document at /openapi.json (the docs are on)."""

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            document = get_openapi(title=app.title, version=app.version, routes=[])
            components: dict[str, Any] = {}
            document["paths"] = operations(runtime, components)
            if components:
                document["components"] = components
            app.openapi_schema = document
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
