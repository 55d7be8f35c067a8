"""OpenTelemetry GenAI metrics: the conventions, what instrumentations emit, and the names Prometheus gets.

Three layers, each pinned:

1. The semantic conventions, release v1.41.0 of open-telemetry/semantic-conventions
   (model/gen-ai/metrics.yaml, docs/gen-ai/gen-ai-metrics.md). v1.41.x is the last release that
   holds GenAI; from v1.42.0 docs/gen-ai/README.md says they moved to semantic-conventions-genai.
2. Emitters: the official opentelemetry-instrumentation-openai-v2 2.4b0 (with
   opentelemetry-util-genai 0.4b0; see OPENAI_V2), OpenLIT 1.45.0, OpenLLMetry's
   opentelemetry-instrumentation-openai 0.62.4.
3. Two ways into Prometheus, whose names differ:
   - OTLP into Prometheus 3.x's own receiver (compose pins v3.14.0, which builds names with
     github.com/prometheus/otlptranslator v1.0.0, go.mod @ v3.14.0) with the default
     `translation_strategy: UnderscoreEscapingWithSuffixes` (config/config.go:280): see
     `otlp_metric_name` and `otlp_label_name`;
   - the OpenTelemetry Python SDK's pull exporter, opentelemetry-exporter-prometheus 0.66b2
     (opentelemetry-python @ v1.45.2), which prometheus_client renders: see `sdk_metric_name` and
     `sdk_label_name`.

The two translators are ports of those projects' code, cited line by line; tests check them
against the projects' own test cases and against the real SDK exporter scraped by Prometheus.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

from .model import Citation, Source, SourceMetric

SEMCONV = "v1.41.0"
METRICS_YAML = "model/gen-ai/metrics.yaml"
METRICS_DOC = "docs/gen-ai/gen-ai-metrics.md"

DURATION_BUCKETS = (0.01, 0.02, 0.04, 0.08, 0.16, 0.32, 0.64, 1.28, 2.56, 5.12, 10.24, 20.48, 40.96, 81.92)
TOKEN_BUCKETS = (1, 4, 16, 64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864)
SERVER_TPOT_BUCKETS = (0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.3, 0.4, 0.5, 0.75, 1.0, 2.5)
# The SDK's buckets for a histogram without advice (opentelemetry-sdk 1.45.2,
# opentelemetry/sdk/metrics/_internal/aggregation.py:413).
SDK_DEFAULT_BUCKETS = (0.0, 5.0, 10.0, 25.0, 50.0, 75.0, 100.0, 250.0, 500.0, 750.0, 1000.0, 2500.0, 5000.0, 7500.0,
                       10000.0)
SERVER_TTFT_BUCKETS = (0.001, 0.005, 0.01, 0.02, 0.04, 0.06, 0.08, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0, 7.5, 10.0)

COMMON = ("gen_ai.operation.name", "gen_ai.provider.name")  # required on every GenAI metric
RECOMMENDED = ("gen_ai.request.model", "gen_ai.response.model", "server.address", "server.port")

ATTRIBUTES = {
    "gen_ai.operation.name": "chat | generate_content | text_completion | embeddings | ... (required)",
    "gen_ai.provider.name": "openai | anthropic | aws.bedrock | gcp.vertex_ai | ... (required)",
    "gen_ai.request.model": "model asked for (conditionally required: if available)",
    "gen_ai.response.model": "model that answered (recommended)",
    "server.address": "host of the GenAI server (recommended)",
    "server.port": "its port (conditionally required: if server.address is set)",
    "gen_ai.token.type": "input | output on gen_ai.client.token.usage (required there); "
                         "the deprecated value `completion` was renamed to output",
    "error.type": "error code or exception name, set only when the operation failed",
    "gen_ai.system": "the attribute gen_ai.provider.name replaced; older instrumentations still send it",
}


@dataclass(frozen=True)
class Instrument:
    """A GenAI metric as the conventions define it."""

    name: str
    unit: str
    brief: str
    attributes: tuple[str, ...]
    advised_buckets: tuple[float, ...]
    defined_in: Citation
    buckets_at: Citation


def _yaml(line: int) -> Citation:
    return Citation(METRICS_YAML, line, SEMCONV)


def _doc(line: int) -> Citation:
    return Citation(METRICS_DOC, line, SEMCONV)


INSTRUMENTS = (
    Instrument("gen_ai.client.token.usage", "{token}", "Input and output tokens used.",
               (*COMMON, *RECOMMENDED, "gen_ai.token.type"), TOKEN_BUCKETS, _yaml(44), _doc(70)),
    Instrument("gen_ai.client.operation.duration", "s", "GenAI operation duration.",
               (*COMMON, *RECOMMENDED, "error.type"), DURATION_BUCKETS, _yaml(58), _doc(179)),
    Instrument("gen_ai.client.operation.time_to_first_chunk", "s", "Time to the first chunk of a stream.",
               (*COMMON, *RECOMMENDED), DURATION_BUCKETS, _yaml(77), _doc(291)),
    Instrument("gen_ai.client.operation.time_per_output_chunk", "s", "Time per output chunk after the first.",
               (*COMMON, *RECOMMENDED), DURATION_BUCKETS, _yaml(90), _doc(392)),
    Instrument("gen_ai.server.request.duration", "s", "Server request duration (time to last token).",
               (*COMMON, *RECOMMENDED, "error.type"), DURATION_BUCKETS, _yaml(104), _doc(500)),
    Instrument("gen_ai.server.time_per_output_token", "s", "Time per output token after the first.",
               (*COMMON, *RECOMMENDED), SERVER_TPOT_BUCKETS, _yaml(115), _doc(619)),
    Instrument("gen_ai.server.time_to_first_token", "s", "Time to first token, successful responses.",
               (*COMMON, *RECOMMENDED), SERVER_TTFT_BUCKETS, _yaml(126), _doc(724)),
)

# -- naming: Prometheus 3.x OTLP receiver ------------------------------------------------------

OTLPKind = Literal["gauge", "monotonic_counter", "non_monotonic_counter", "histogram", "summary"]
OTLP_TRANSLATOR = "prometheus/otlptranslator"
OTLP_TRANSLATOR_VERSION = "v1.0.0"

_OTLP_UNITS = {  # unitMap, metric_namer.go:34
    "d": "days", "h": "hours", "min": "minutes", "s": "seconds", "ms": "milliseconds", "us": "microseconds",
    "ns": "nanoseconds", "By": "bytes", "KiBy": "kibibytes", "MiBy": "mebibytes", "GiBy": "gibibytes",
    "TiBy": "tibibytes", "KBy": "kilobytes", "MBy": "megabytes", "GBy": "gigabytes", "TBy": "terabytes",
    "m": "meters", "V": "volts", "A": "amperes", "J": "joules", "W": "watts", "g": "grams", "Cel": "celsius",
    "Hz": "hertz", "1": "", "%": "percent",
}
_OTLP_PER_UNITS = {"s": "second", "m": "minute", "h": "hour", "d": "day", "w": "week", "mo": "month",
                   "y": "year"}  # perUnitMap, metric_namer.go:72
_INVALID_METRIC_CHAR = re.compile(r"[^a-zA-Z0-9:]")
_INVALID_LABEL_CHAR = re.compile(r"[^a-zA-Z0-9]")


def _otlp_unit_suffixes(unit: str) -> tuple[str, str]:
    """buildUnitSuffixes, unit_namer.go:94."""
    parts = unit.split("/", 1)
    main = parts[0].strip()
    main_suffix = _OTLP_UNITS.get(main, main) if main and not set(main) & set("{}") else ""
    per_suffix = ""
    if len(parts) > 1 and parts[1]:
        per = parts[1].strip()
        if per and not set(per) & set("{}"):
            per_suffix = _OTLP_PER_UNITS.get(per, per)
        if per_suffix:
            per_suffix = "per_" + per_suffix
    return main_suffix, per_suffix


def _otlp_clean_unit(unit: str) -> str:
    """cleanUpUnit, unit_namer.go:123: invalid characters to _, runs of _ collapsed, no leading _."""
    return re.sub(r"_+", "_", _INVALID_METRIC_CHAR.sub("_", unit)).removeprefix("_")


def otlp_metric_name(name: str, unit: str, kind: OTLPKind, namespace: str = "") -> str:
    """The Prometheus name of an OTLP metric under UnderscoreEscapingWithSuffixes (normalizeName,
    metric_namer.go:225): split on every character outside [a-zA-Z0-9:] (underscores too), add the
    unit unless a name token already equals it (`{...}` units add nothing), `_total` for monotonic
    sums, `_ratio` for gauges of unit "1". Histograms are stored as classic _bucket/_sum/_count
    series (unless `convert_histograms_to_nhcb`), with `le` printed by strconv.FormatFloat(b, 'f', -1)."""
    tokens = [t for t in _INVALID_METRIC_CHAR.split(name) if t]
    main, per = (_otlp_clean_unit(s) for s in _otlp_unit_suffixes(unit))
    if main in tokens:
        main = ""
    if per == "per_":
        per = ""
    else:
        per = per.removesuffix("_")
        if per in tokens:
            per = ""
    if per:
        main = main.removesuffix("_")
    tokens += [s for s in (main, per) if s]
    if kind == "monotonic_counter":
        tokens = [t for t in tokens if t != "total"] + ["total"]
    if unit == "1" and kind == "gauge":
        tokens = [t for t in tokens if t != "ratio"] + ["ratio"]
    if namespace:
        tokens.insert(0, namespace)
    result = "_".join(tokens)
    return "_" + result if result[:1].isdigit() else result


def otlp_label_name(attribute: str) -> str:
    """LabelNamer.Build (label_namer.go:65) with Prometheus' defaults label_name_underscore_sanitization
    and label_name_preserve_multiple_underscores both true (config/config.go:282): every character
    outside [a-zA-Z0-9] becomes _, a leading digit gets `key_`, a single leading _ gets `key`."""
    label = _INVALID_LABEL_CHAR.sub("_", attribute)
    if label[:1].isdigit():
        return "key_" + label
    if label.startswith("_") and not label.startswith("__"):
        return "key" + label
    return label


# -- naming: OpenTelemetry Python SDK's Prometheus exporter --------------------------------------

SDKKind = Literal["counter", "gauge", "histogram"]
SDK_EXPORTER = "opentelemetry-exporter-prometheus"
SDK_EXPORTER_VERSION = "0.66b2"
SDK_EXPORTER_FILE = "exporter/opentelemetry-exporter-prometheus/src/opentelemetry/exporter/prometheus/"

_SDK_UNITS = {**_OTLP_UNITS}  # _UNIT_MAPPINGS, _mapping.py:18 (copied by that project from the Collector)
_SDK_PER_UNITS = dict(_OTLP_PER_UNITS)  # _PER_UNIT_MAPPINGS, _mapping.py:56


def _sdk_map_unit(unit: str) -> str:
    """map_unit, _mapping.py:96: drop {annotations}, map known units, a/b to a_per_b."""
    unit = re.sub(r"{.*}", "", unit)
    if unit in _SDK_UNITS:
        return _SDK_UNITS[unit]
    parts = unit.split("/", 1)
    if len(parts) == 2:
        bottom = re.sub(r"[^a-zA-Z0-9:]+", "_", parts[1])
        if bottom:
            top = re.sub(r"[^a-zA-Z0-9:]+", "_", parts[0])
            top = _SDK_UNITS.get(top, top)
            bottom = _SDK_PER_UNITS.get(bottom, bottom)
            return f"{top}_per_{bottom}" if top else f"per_{bottom}"
    return re.sub(r"[^a-zA-Z0-9:]+", "_", unit).strip("_")


def sdk_metric_name(name: str, unit: str, kind: SDKKind) -> str:
    """The sample name prefix the SDK exporter produces (__init__.py:387-451): invalid characters to
    _ (runs collapsed, _mapping.py:6), then prometheus_client's family classes append `_<unit>` unless
    the name already ends with it, and `_total` to counters. Cumulative non-monotonic sums are gauges."""
    base = re.sub(r"[^a-zA-Z0-9:]+", "_", "_" + name[1:] if name[:1].isdigit() else name)
    if kind == "counter":
        base = base.removesuffix("_total")
    mapped = _sdk_map_unit(unit)
    if mapped and not base.endswith("_" + mapped):
        base += "_" + mapped
    return base + "_total" if kind == "counter" else base


def sdk_label_name(attribute: str) -> str:
    """sanitize_attribute, _mapping.py:85: runs of characters outside [a-zA-Z0-9] become one _."""
    key = "_" + attribute[1:] if attribute[:1].isdigit() else attribute
    return re.sub(r"[^a-zA-Z0-9]+", "_", key)


# -- emitters -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EmittedInstrument:
    """An instrument as one emitter creates it: its name, unit, bucket advice and point attributes."""

    name: str
    kind: SDKKind
    unit: str
    advised_buckets: tuple[float, ...] | None  # None: no advice, the SDK's default buckets apply
    attributes: tuple[str, ...]
    conditional: tuple[str, ...]
    defined_in: Citation


@dataclass(frozen=True)
class Emitter:
    name: str
    package: str
    version: str
    scope_name: str
    scope_schema_url: str
    instruments: tuple[EmittedInstrument, ...]
    notes: tuple[str, ...] = ()


OPENAI_V2_VERSION = "2.4b0"
UTIL_GENAI_VERSION = "0.4b0"
_CONTRIB = "opentelemetry-python-contrib"
_V2 = "instrumentation-genai/opentelemetry-instrumentation-openai-v2/src/opentelemetry/instrumentation/openai_v2/"
_UTIL = "util/opentelemetry-util-genai/src/opentelemetry/util/genai/"
_V2_TAG = f"opentelemetry-instrumentation-openai-v2=={OPENAI_V2_VERSION}"
_UTIL_TAG = f"opentelemetry-util-genai=={UTIL_GENAI_VERSION}"

_V2_DEFAULT_ATTRS = ("gen_ai.operation.name", "gen_ai.system", "gen_ai.request.model")
_V2_DEFAULT_CONDITIONAL = ("gen_ai.response.model", "error.type", "server.address", "server.port",
                           "gen_ai.openai.response.service_tier", "gen_ai.openai.response.system_fingerprint")

OPENAI_V2 = Emitter(
    name="openai-v2",
    package="opentelemetry-instrumentation-openai-v2",
    version=f"{OPENAI_V2_VERSION} (with opentelemetry-util-genai {UTIL_GENAI_VERSION})",
    scope_name="opentelemetry.instrumentation.openai_v2",
    scope_schema_url="https://opentelemetry.io/schemas/1.30.0",
    instruments=(
        EmittedInstrument("gen_ai.client.operation.duration", "histogram", "s", DURATION_BUCKETS,
                          _V2_DEFAULT_ATTRS, _V2_DEFAULT_CONDITIONAL,
                          Citation(_UTIL + "instruments.py", 39, _UTIL_TAG)),
        EmittedInstrument("gen_ai.client.token.usage", "histogram", "{token}", TOKEN_BUCKETS,
                          (*_V2_DEFAULT_ATTRS, "gen_ai.token.type"), _V2_DEFAULT_CONDITIONAL,
                          Citation(_UTIL + "instruments.py", 48, _UTIL_TAG)),
    ),
    notes=(
        f"Default path: attributes set in _record_metrics ({_V2}patch.py:373 @ {_V2_TAG}). It sends the old "
        "gen_ai.system (not gen_ai.provider.name) and error.type = the exception's class name.",
        "gen_ai.token.type is \"output\" for completions because opentelemetry-semantic-conventions >= 0.5xb0 "
        "maps GenAiTokenTypeValues.COMPLETION to \"output\"; older semconv packages send \"completion\".",
        "Streamed calls record no token usage on the default path (checked against 2.4b0).",
        "With OTEL_SEMCONV_STABILITY_OPT_IN=gen_ai_latest_experimental the calls go through util-genai's "
        f"TelemetryHandler ({_UTIL}handler.py:110 @ {_UTIL_TAG}): scope opentelemetry.util.genai.handler, "
        "schema 1.37.0, gen_ai.provider.name instead of gen_ai.system.",
        "server.address/port come from the client's base_url only when it is an httpx.URL or a str "
        f"({_V2}utils.py:98); openai 3.x uses its own URL type, so they are absent there.",
        "No time-to-first-chunk or per-chunk instrument in this release.",
        "Pin util-genai: 2.4b0 asks for opentelemetry-util-genai >= 0.4b0.dev, and pip then picks 1.3b0, "
        "which no longer has the instruments module 2.4b0 imports (ImportError at import time); 1.2b0 "
        "dropped it, 1.1b0 still has it but forces the handler path and sends error.type as "
        "\"<class 'openai.RateLimitError'>\".",
    ),
)

OPENAI_V2_EXPERIMENTAL_ATTRS = ("gen_ai.operation.name", "gen_ai.provider.name", "gen_ai.request.model")

_OPENLIT_METRICS = "sdk/python/src/openlit/otel/metrics.py"
_OPENLIT_TAG = "py-1.45.0"
_OPENLIT_ATTRS = ("telemetry.sdk.name", "service.name", "deployment.environment", "gen_ai.operation.name",
                  "gen_ai.provider.name", "gen_ai.request.model", "server.address", "server.port",
                  "gen_ai.response.model")

OPENLIT = Emitter(
    name="openlit",
    package="openlit",
    version="1.45.0",
    scope_name="openlit.otel.metrics",
    scope_schema_url="",
    instruments=(
        EmittedInstrument("gen_ai.client.token.usage", "histogram", "{token}", TOKEN_BUCKETS,
                          (*_OPENLIT_ATTRS, "gen_ai.token.type"), ("error.type", "gen_ai.agent.name"),
                          Citation(_OPENLIT_METRICS, 237, _OPENLIT_TAG)),
        EmittedInstrument("gen_ai.client.operation.duration", "histogram", "s", DURATION_BUCKETS, _OPENLIT_ATTRS,
                          ("error.type", "gen_ai.agent.name"), Citation(_OPENLIT_METRICS, 243, _OPENLIT_TAG)),
        EmittedInstrument("gen_ai.server.time_per_output_token", "histogram", "s", SERVER_TPOT_BUCKETS,
                          _OPENLIT_ATTRS, ("error.type", "gen_ai.agent.name"),
                          Citation(_OPENLIT_METRICS, 249, _OPENLIT_TAG)),
        EmittedInstrument("gen_ai.server.time_to_first_token", "histogram", "s", SERVER_TTFT_BUCKETS,
                          _OPENLIT_ATTRS, ("error.type", "gen_ai.agent.name"),
                          Citation(_OPENLIT_METRICS, 255, _OPENLIT_TAG)),
        EmittedInstrument("gen_ai.client.operation.time_to_first_chunk", "histogram", "s", DURATION_BUCKETS,
                          _OPENLIT_ATTRS, ("error.type", "gen_ai.agent.name"),
                          Citation(_OPENLIT_METRICS, 261, _OPENLIT_TAG)),
        EmittedInstrument("gen_ai.server.request.duration", "histogram", "s", DURATION_BUCKETS, _OPENLIT_ATTRS,
                          ("error.type", "gen_ai.agent.name"), Citation(_OPENLIT_METRICS, 273, _OPENLIT_TAG)),
        EmittedInstrument("gen_ai.usage.cost", "histogram", "USD", None, _OPENLIT_ATTRS,
                          ("error.type", "gen_ai.agent.name"), Citation(_OPENLIT_METRICS, 285, _OPENLIT_TAG)),
    ),
    notes=(
        "gen_ai.usage.cost is OpenLIT's own extension (semcov/__init__.py:517), unit \"USD\", with no bucket "
        "advice: the SDK's default edges (0, 5, 10, 25, 50, 75, 100, 250, 500, 750, 1000, 2500, 5000, 7500, "
        "10000) apply, too coarse for per-call cost; sum/count are still exact.",
        "Attributes are set per point by create_metrics_attributes (__helpers.py:587), so "
        "telemetry.sdk.name=\"openlit\", service.name and deployment.environment become labels on every "
        "series (OpenLIT's dashboards filter on telemetry_sdk_name=\"openlit\").",
        "OpenLIT records the gen_ai.server.* instruments from the client side.",
        "OpenLIT exports over OTLP (or the console) only: no Prometheus pull exporter.",
    ),
)

_OPENLLMETRY = "opentelemetry/instrumentation/openai/v1/__init__.py"
_OPENLLMETRY_TAG = "opentelemetry-instrumentation-openai 0.62.4 (PyPI)"
_OPENLLMETRY_ATTRS = ("gen_ai.provider.name", "gen_ai.response.model", "gen_ai.operation.name", "server.address",
                      "stream")

OPENLLMETRY = Emitter(
    name="openllmetry",
    package="opentelemetry-instrumentation-openai",
    version="0.62.4",
    scope_name="opentelemetry.instrumentation.openai.v1",
    scope_schema_url="",
    instruments=(
        EmittedInstrument("gen_ai.client.token.usage", "histogram", "token", None,
                          (*_OPENLLMETRY_ATTRS, "gen_ai.token.type"), (), Citation(_OPENLLMETRY, 87, _OPENLLMETRY_TAG)),
        EmittedInstrument("gen_ai.client.operation.duration", "histogram", "s", None, _OPENLLMETRY_ATTRS,
                          ("error.type",), Citation(_OPENLLMETRY, 99, _OPENLLMETRY_TAG)),
        EmittedInstrument("gen_ai.server.time_to_first_token", "histogram", "s", None, _OPENLLMETRY_ATTRS, (),
                          Citation(_OPENLLMETRY, 111, _OPENLLMETRY_TAG)),
        EmittedInstrument("llm.chat_completions.streaming_time_to_generate", "histogram", "s", None,
                          _OPENLLMETRY_ATTRS, (), Citation(_OPENLLMETRY, 116, _OPENLLMETRY_TAG)),
        EmittedInstrument("gen_ai.client.generation.choices", "counter", "choice", None, _OPENLLMETRY_ATTRS, (),
                          Citation(_OPENLLMETRY, 93, _OPENLLMETRY_TAG)),
        EmittedInstrument("llm.openai.chat_completions.exceptions", "counter", "time", None, _OPENLLMETRY_ATTRS,
                          ("error.type",), Citation(_OPENLLMETRY, 105, _OPENLLMETRY_TAG)),
    ),
    notes=(
        "Token usage has unit \"token\" (not \"{token}\"): over OTLP Prometheus 3 adds nothing because the name "
        "already has a `token` token (gen_ai_client_token_usage), but the SDK exporter appends it "
        "(gen_ai_client_token_usage_token).",
        "No bucket advice: the SDK's default edges apply (0 .. 10000), useless for seconds.",
        "Names from opentelemetry-semantic-conventions-ai 0.5.1 (Meters, semconv_ai/__init__.py:39).",
    ),
)

EMITTERS = (OPENAI_V2, OPENLIT, OPENLLMETRY)

# -- what Prometheus stores -----------------------------------------------------------------------

_SCOPE_LABELS = ("otel_scope_name", "otel_scope_version", "otel_scope_schema_url")
_SDK_INIT = SDK_EXPORTER_FILE + "__init__.py"
_SDK_REF = f"opentelemetry-python v1.45.2 ({SDK_EXPORTER} {SDK_EXPORTER_VERSION})"


def _sdk_series(instrument: EmittedInstrument, required: tuple[str, ...], signal, help: str) -> SourceMetric:
    return SourceMetric(
        sdk_metric_name(instrument.name, instrument.unit, instrument.kind), instrument.kind,
        {"s": "seconds", "{token}": "tokens"}.get(instrument.unit, instrument.unit), help,
        (*(sdk_label_name(a) for a in required), *_SCOPE_LABELS), instrument.defined_in, signal,
        instrument.advised_buckets or SDK_DEFAULT_BUCKETS,
        "advised by the instrument (else the SDK's defaults); the SDK exporter prints them with str(): "
        "le=\"1\" for ints, \"0.01\" for floats",
        optional_labels=tuple(sdk_label_name(a) for a in instrument.conditional),
        note="Once any point of the family has a conditional attribute, every series of the family carries its "
             f"label, empty where unset (_collect_data_points backfills with \"\", {_SDK_INIT}:486).",
    )


_DURATION, _TOKENS = OPENAI_V2.instruments

SDK_SOURCE = Source(
    name="otel",
    project=f"{OPENAI_V2.package} through {SDK_EXPORTER}",
    version=f"openai-v2 {OPENAI_V2_VERSION} + util-genai {UTIL_GENAI_VERSION} + {SDK_EXPORTER} "
            f"{SDK_EXPORTER_VERSION} (default path)",
    metrics_path="/metrics",
    default_port=9464,
    labels={
        "gen_ai_operation_name": "chat | embeddings", "gen_ai_system": "\"openai\" (hard-coded)",
        "gen_ai_request_model": "model asked for", "gen_ai_response_model": "model that answered",
        "gen_ai_token_type": "input | output", "error_type": "exception class name, empty on success",
        "server_address": "host of base_url", "server_port": "its port (absent for 443)",
        "gen_ai_openai_response_service_tier": "OpenAI service tier",
        "gen_ai_openai_response_system_fingerprint": "OpenAI system fingerprint",
        "otel_scope_name": "opentelemetry.instrumentation.openai_v2",
        "otel_scope_version": "\"\" (empty, so Prometheus stores no such label)",
        "otel_scope_schema_url": "https://opentelemetry.io/schemas/1.30.0",
        "service_name": "resource service.name (OTEL_SERVICE_NAME), on target_info",
        "service_instance_id": "resource service.instance.id, on target_info",
        "telemetry_sdk_language": "\"python\"", "telemetry_sdk_name": "\"opentelemetry\"",
        "telemetry_sdk_version": "the SDK's version",
    },
    metrics=(
        _sdk_series(_DURATION, _DURATION.attributes, "e2e_latency", "Duration of GenAI client operation"),
        _sdk_series(_TOKENS, _TOKENS.attributes, "prompt_tokens",
                    "Number of input and output tokens used by GenAI clients"),
        SourceMetric("target_info", "gauge", "1", "Target metadata: the resource attributes as labels.",
                     ("service_name", "telemetry_sdk_language", "telemetry_sdk_name", "telemetry_sdk_version"),
                     Citation(_SDK_INIT, 113, _SDK_REF), optional_labels=("service_instance_id",),
                     note="An info family: prometheus_client renders it as the gauge target_info = 1; "
                          "disable_target_info=True drops it."),
    ),
    notes=(
        "Token usage feeds both prompt and generation tokens: gen_ai_token_type=\"input\" | \"output\", "
        "tokens are the histogram's _sum.",
        "Calls are the _count of gen_ai_client_operation_duration_seconds; failures have error_type != \"\".",
        f"Scope labels are on by default (scope_info_enabled=True, {_SDK_INIT}:265); resource attributes go "
        "only to target_info unless resource_attribute_filter selects some.",
    ),
)

_OTLP_REF = f"prometheus v3.14.0 (otlptranslator {OTLP_TRANSLATOR_VERSION})"
_HELPER = "storage/remote/otlptranslator/prometheusremotewrite/helper.go"


def _otlp_series(emitter: Emitter, instrument: EmittedInstrument, signal) -> SourceMetric:
    kind: OTLPKind = "monotonic_counter" if instrument.kind == "counter" else instrument.kind
    return SourceMetric(
        otlp_metric_name(instrument.name, instrument.unit, kind),
        "counter" if instrument.kind == "counter" else instrument.kind,
        instrument.unit, f"{instrument.name} from {emitter.name} over OTLP",
        (*(otlp_label_name(a) for a in instrument.attributes), "job", "instance"), instrument.defined_in, signal,
        instrument.advised_buckets or SDK_DEFAULT_BUCKETS,
        f"le printed by strconv.FormatFloat(b, 'f', -1, 64): le=\"1\", \"0.01\" ({_HELPER}:332 @ v3.14.0)",
        optional_labels=tuple(otlp_label_name(a) for a in instrument.conditional),
        note="job = service.namespace/service.name, instance = service.instance.id (metrics_to_prw.go:455); "
             "other resource attributes only on target_info unless promoted; otel_scope_* labels only with "
             "otlp.promote_scope_metadata.",
    )


_OTLP_SIGNALS = {"gen_ai.client.operation.duration": "e2e_latency", "gen_ai.client.token.usage": "prompt_tokens",
                 "gen_ai.server.time_to_first_token": "ttft", "gen_ai.client.operation.time_to_first_chunk": "ttft",
                 "gen_ai.server.time_per_output_token": "tpot", "gen_ai.usage.cost": "spend"}

OTLP_SOURCES = {
    emitter.name: Source(
        name=f"otlp-{emitter.name}",
        project=f"{emitter.package} {emitter.version} over OTLP into Prometheus v3.14.0",
        version=_OTLP_REF,
        metrics_path="(push: OTLP/HTTP to /api/v1/otlp/v1/metrics, with --web.enable-otlp-receiver)",
        default_port=9090,
        labels={otlp_label_name(a): meaning for a, meaning in ATTRIBUTES.items()},
        metrics=tuple(_otlp_series(emitter, i, _OTLP_SIGNALS.get(i.name)) for i in emitter.instruments),
    )
    for emitter in (OPENAI_V2, OPENLIT)
}
