"""A service instrumented with the library alone, as in docs/instrument-your-service.md:

    python -m tests.support.instrumented_service <metrics port> <department> <calls per second>

It records a call to gpt-4o every 1/rate seconds (1,000 input and 100 output tokens, priced by the
packaged pricing file) through `track_llm_call` and serves /metrics with `start_metrics_server`.
Its /metrics has calls, tokens, spend and prices, but no budget and no objective: those come
from the stack's exporter (`--mode config` in production).
"""

from __future__ import annotations

import sys
import time

from llm_exporter.instrument import configure, start_metrics_server, track_llm_call


def main(port: int, department: str, rate: float) -> None:
    configure(app_id="chat-service", department=department, telemetry=False)
    start_metrics_server(port, addr="127.0.0.1")

    @track_llm_call(provider="openai", model="gpt-4o")
    def ask() -> dict:
        return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100}}

    while True:
        ask()
        time.sleep(1 / rate)


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], float(sys.argv[3]))
