"""Where an instrumented service's calling thread spends its time, phase by phase.

    .venv/bin/python bench/profile_instrument.py [--calls 1000]

The real `openai` client, instrumented with `instrument_openai` and the library's defaults
(traces and logs exported over OTLP/HTTP to a local sink, sampling at 10 %), calls the local
OpenAI-compatible test upstream in a subprocess. Each phase of the library's own work is wrapped
in a timer reading the calling thread's CPU clock (`time.thread_time_ns`), so the numbers are what
each phase costs where it really runs, between the client's own work (colder caches than a
micro-benchmark's loop). The timers' own cost, measured on an empty function, is subtracted.
What the phases do not cover (the wrapper around `create`, the stream generator's per-chunk
check, the client's handling of the `traceparent` header) is bench_instrument.py's total less
these. A profile, not a benchmark: it prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MESSAGES = [{"role": "user", "content": "Say something short about latency."}]

# (label, module, owner, attribute): the phases, outermost first; nested ones are inside their parent
PHASES = (
    ("start: ids, traceparent header, tracker, llm_active_requests", "instrument.openai_client", "_Settings",
     "start"),
    ("  of which ids (mint_trace_context)", "instrument.openai_client", None, "mint_trace_context"),
    ("read the response (JSON)", "instrument.tracker", "CallTracker", "observe_response"),
    ("read a chunk in full (stream: first token, finish, usage)", "instrument.tracker", "CallTracker",
     "observe_chunk"),
    ("finish: recorded into the metrics, telemetry queued", "instrument.tracker", "CallTracker", "finish"),
    ("  of which Recorder.record", "recorder", "Recorder", "record"),
    ("    of which the telemetry listener (queueing)", "telemetry.pipeline", "Telemetry", "on_call"),
)


def nested(index: int) -> list[str]:
    """The labels of the phases inside phase `index` (indented deeper, right after it)."""
    depth = len(PHASES[index][0]) - len(PHASES[index][0].lstrip())
    inner = []
    for label, _, _, _ in PHASES[index + 1:]:
        if len(label) - len(label.lstrip()) <= depth:
            break
        inner.append(label)
    return inner


def install_timers(totals: dict[str, int], counts: dict[str, int]) -> None:
    import importlib

    clock = time.thread_time_ns
    for label, module_name, owner_name, attribute in PHASES:
        module = importlib.import_module(f"llm_exporter.{module_name}")
        owner = getattr(module, owner_name) if owner_name else module
        original = getattr(owner, attribute)
        totals[label] = counts[label] = 0

        def timed(*args, __original=original, __label=label, **kwargs):
            start = clock()
            try:
                return __original(*args, **kwargs)
            finally:
                totals[__label] += clock() - start
                counts[__label] += 1

        setattr(owner, attribute, timed)


def timer_cost(rounds: int = 20000) -> float:
    """ns one timed region adds (an empty function, timed as above)."""
    clock = time.thread_time_ns
    total = 0

    def empty() -> None:
        return None

    for _ in range(rounds):
        start = clock()
        try:
            empty()
        finally:
            total += clock() - start
    return total / rounds


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--calls", type=int, default=1000, help="calls of each kind")
    args = parser.parse_args()
    sys.path.insert(0, str(REPO))
    from tests.support.otlp import OtlpReceiver

    sink = OtlpReceiver(count_only=True)
    os.environ.update({"OTEL_EXPORTER_OTLP_ENDPOINT": sink.url,
                       "LLM_EXPORTER_PRICING_FILE": str(REPO / "exporter" / "config" / "pricing.yaml")})
    upstream = subprocess.Popen([sys.executable, "-m", "tests.support.openai_upstream", "0"], cwd=REPO,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert upstream.stdout is not None
        url = upstream.stdout.readline().strip()
        import openai

        from llm_exporter.instrument import configure, flush_telemetry, instrument_openai

        totals: dict[str, int] = {}
        counts: dict[str, int] = {}
        install_timers(totals, counts)
        configure(app_id="bench", department="bench", registry=None)
        client = instrument_openai(openai.OpenAI(base_url=url, api_key="sk-bench", max_retries=0))
        overhead = timer_cost()
        kinds = {
            "json": lambda: client.chat.completions.create(model="gpt-4o-mini", messages=MESSAGES, max_tokens=16),
            "stream": lambda: [None for _ in client.chat.completions.create(
                model="gpt-4o-mini", messages=MESSAGES, max_tokens=20, stream=True,
                stream_options={"include_usage": True})],
        }
        print(f"Python {sys.version.split()[0]}, openai {openai.__version__}; load average "
              f"{' '.join(f'{x:.2f}' for x in os.getloadavg())}; timer cost {overhead:.0f} ns, subtracted")
        for kind, call in kinds.items():
            for _ in range(100):
                call()
            for label in totals:
                totals[label] = counts[label] = 0
            start = time.thread_time_ns()
            for _ in range(args.calls):
                call()
            whole = (time.thread_time_ns() - start) / args.calls / 1000
            flush_telemetry(10.0)
            print(f"\n{kind}: {whole:.0f} µs of calling-thread CPU per call, the client's own work included")
            for index, (label, _, _, _) in enumerate(PHASES):
                if counts[label]:
                    timers = counts[label] + sum(counts[inner] for inner in nested(index))
                    per_call = (totals[label] - timers * overhead) / args.calls / 1000
                    print(f"  {label:<62} {per_call:6.1f} µs  ({counts[label] / args.calls:.1f} per call)")
    finally:
        upstream.terminate()
        upstream.wait(10)
        sink.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
