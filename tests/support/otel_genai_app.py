"""A service instrumented the way OpenTelemetry's docs show: the real OpenAI client, the official
opentelemetry-instrumentation-openai-v2, and the SDK's Prometheus exporter on its own HTTP port.

    python -m tests.support.otel_genai_app <openai base url> <metrics port>

It serves /metrics and repeats a fixed set of calls against the given OpenAI-compatible upstream
(tests/support/openai_upstream.py), a round every PAUSE_S, until it is stopped. Set OTEL_SEMCONV_STABILITY_OPT_IN
to try the instrumentation's experimental path.
"""

from __future__ import annotations

import sys
import time

import openai
from opentelemetry.exporter.prometheus import PrometheusMetricReader
from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
from opentelemetry.sdk.metrics import MeterProvider
from prometheus_client import start_http_server

# (model, stream): the upstream succeeds for any model except its fail-* names.
CALLS = (("gpt-4o-mini", False), ("gpt-4o-mini", True), ("fail-429", False), ("fail-500", False))
PAUSE_S = 0.25


def main(base_url: str, port: int) -> None:
    meter_provider = MeterProvider(metric_readers=[PrometheusMetricReader()])
    OpenAIInstrumentor().instrument(meter_provider=meter_provider)
    client = openai.OpenAI(base_url=base_url, api_key="test-key", max_retries=0)
    start_http_server(port, addr="127.0.0.1")
    print("serving", flush=True)
    while True:
        for model, stream in CALLS:
            call(client, model, stream)
        time.sleep(PAUSE_S)


def call(client: openai.OpenAI, model: str, stream: bool) -> None:
    try:
        response = client.chat.completions.create(
            model=model, messages=[{"role": "user", "content": "hello"}], max_tokens=4, stream=stream,
            **({"stream_options": {"include_usage": True}} if stream else {}))
        if stream:
            for _ in response:
                pass
    except openai.APIError:
        pass  # the failures are part of what the metrics must show


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
