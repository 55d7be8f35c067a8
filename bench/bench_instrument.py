"""What instrumenting the OpenAI client costs the calling service, side by side with its peers.

    .venv/bin/python bench/bench_instrument.py [--install-peers] [--rounds 7] [--calls 200] [--streams 100]

Variants, each in its own process, all calling the same local OpenAI-compatible upstream
(tests/support/openai_upstream.py, answering instantly: 16 output tokens per JSON answer, streams
of 20 one-token chunks) with the real `openai` client:

- `bare`: the client, uninstrumented (one per virtualenv: the peers run in their own);
- `llm-exporter defaults`: `instrument_openai(client)` as documented, traces and logs exported over
  OTLP/HTTP, trace sampling at its default (10 %, plus errors and slow calls);
- `llm-exporter metrics only`: `configure(telemetry=False)`;
- `llm-exporter every trace + JSON lines`: every trace kept, and the service's logging configured
  with the exporter's JSON formatter (lines written to /dev/null);
- `otel openai-v2`: opentelemetry-instrumentation-openai-v2 with the OpenTelemetry SDK exporting
  traces, logs and metrics over OTLP/HTTP (batch processors, its defaults: every call traced);
- `openlit`: `openlit.init(otlp_endpoint=...)` with its defaults.

The peers are installed into their own virtualenvs outside the repository (`--install-peers`:
/tmp/llm-bench-otel-openai-v2 and /tmp/llm-bench-openlit; later runs reuse them). Their processes
run this same file with `--worker`, so they import nothing from the repository.

Every variant exports to one local OTLP/HTTP sink (tests/support/otlp.py, decoding
opentelemetry-proto), each under its own path prefix; the sink counts what arrives per variant.
A variant meant to export that delivers nothing is reported as an error, not as a fast result.

Rounds alternate: in each round and mode the variants take turns (10 turns a round, a tenth of
the round's calls each, the order reversed every other turn), so drift on a shared machine hits
all variants alike. Per call, the calling thread's CPU time
(`time.thread_time_ns`) and the wall time are taken; per round, the process's CPU time beyond the
calling thread's (the export threads, and the final flush wherever it runs) is the background
CPU. "Added" is a variant's percentile minus the percentile of the bare client in the same
virtualenv (a difference of percentiles). This is a benchmark: it prints numbers, asserts nothing.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
MODEL = "gpt-4o-mini"
JSON_TOKENS = 16
STREAM_TOKENS = 20
# json: a chat completion. stream: 20 one-token chunks, with the caller asking for the final usage
# chunk (stream_options.include_usage), so every variant's client parses the same chunks.
# stream-no-options: the caller does not set stream_options; llm-exporter then asks for the usage
# chunk itself (and hides it from the caller), the peers record no token counts.
MODES = ("json", "stream", "stream-no-options")
MESSAGES = [{"role": "user", "content": "Say something short about latency."}]
OTEL_VENV = Path("/tmp/llm-bench-otel-openai-v2")
OPENLIT_VENV = Path("/tmp/llm-bench-openlit")
# What each peer virtualenv gets. OpenLIT 1.45 wants openai<3 and instrumentation packages whose
# newest release is 0.66b1, which pins the SDK to 1.45.1.
# openai-v2 2.4b0 imports httpx (openai 3 no longer brings it) and a module that
# opentelemetry-util-genai dropped after 1.1b0.
OTEL_PACKAGES = ["opentelemetry-instrumentation-openai-v2==2.4b0", "opentelemetry-util-genai==1.1b0",
                 "opentelemetry-sdk", "opentelemetry-exporter-otlp-proto-http", "openai", "httpx"]
OPENLIT_PACKAGES = ["openlit==1.45.0", "openai>=2,<3", "opentelemetry-api==1.45.1", "opentelemetry-sdk==1.45.1",
                    "opentelemetry-exporter-otlp==1.45.1", "opentelemetry-instrumentation==0.66b1",
                    "opentelemetry-semantic-conventions==0.66b1"]


# -- the worker: one variant, in its own process ---------------------------------------------------


def _setup_bare(upstream: str, sink: str) -> tuple[object, object]:
    import openai

    return openai.OpenAI(base_url=upstream, api_key="sk-bench", max_retries=0), None


def _setup_llm_exporter(upstream: str, sink: str, *, telemetry: bool = True, json_lines: bool = False,
                        instrument: bool = True):
    import openai

    from llm_exporter import instrument as library
    from llm_exporter.instrument import configure, instrument_openai

    if json_lines:
        from llm_exporter.logs import configure_logging

        configure_logging("production")  # JSON lines on stdout, which the worker points at /dev/null
    configure(app_id="bench", department="bench", registry=None, telemetry=telemetry)
    client = openai.OpenAI(base_url=upstream, api_key="sk-bench", max_retries=0)
    if instrument:
        client = instrument_openai(client)
    if not telemetry:
        return client, None
    if hasattr(library, "flush_telemetry"):
        return client, lambda: library.flush_telemetry(30.0)
    return client, lambda: time.sleep(1.5)  # an older tree (--before): its export worker sends every second


def _setup_otel(upstream: str, sink: str):
    import openai
    from opentelemetry import _logs, metrics, trace
    from opentelemetry.exporter.otlp.proto.http._log_exporter import OTLPLogExporter
    from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
    from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    from opentelemetry.instrumentation.openai_v2 import OpenAIInstrumentor
    from opentelemetry.sdk._logs import LoggerProvider
    from opentelemetry.sdk._logs.export import BatchLogRecordProcessor
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor

    resource = Resource.create({"service.name": "bench"})
    tracer_provider = TracerProvider(resource=resource)
    tracer_provider.add_span_processor(BatchSpanProcessor(OTLPSpanExporter()))  # endpoints from OTEL_* env
    trace.set_tracer_provider(tracer_provider)
    logger_provider = LoggerProvider(resource=resource)
    logger_provider.add_log_record_processor(BatchLogRecordProcessor(OTLPLogExporter()))
    _logs.set_logger_provider(logger_provider)
    meter_provider = MeterProvider(resource=resource,
                                   metric_readers=[PeriodicExportingMetricReader(OTLPMetricExporter())])
    metrics.set_meter_provider(meter_provider)
    OpenAIInstrumentor().instrument()
    client = openai.OpenAI(base_url=upstream, api_key="sk-bench", max_retries=0)

    def flush() -> None:
        tracer_provider.force_flush()
        logger_provider.force_flush()
        meter_provider.force_flush()

    return client, flush


def _setup_openlit(upstream: str, sink: str):
    import openai
    import openlit
    from opentelemetry import _logs, metrics, trace

    pricing = Path(tempfile.mkdtemp(prefix="bench-openlit-")) / "pricing.json"
    pricing.write_text(json.dumps({"chat": {MODEL: {"promptPrice": 0.00015, "completionPrice": 0.0006}}}))
    openlit.init(otlp_endpoint=sink, application_name="bench", pricing_json=str(pricing))
    client = openai.OpenAI(base_url=upstream, api_key="sk-bench", max_retries=0)

    def flush() -> None:
        for provider in (trace.get_tracer_provider(), _logs.get_logger_provider(), metrics.get_meter_provider()):
            if hasattr(provider, "force_flush"):
                provider.force_flush()

    return client, flush


SETUPS = {
    "bare": _setup_bare,
    "llm-exporter defaults": _setup_llm_exporter,
    "llm-exporter metrics only": lambda u, s: _setup_llm_exporter(u, s, telemetry=False),
    "llm-exporter every trace + JSON lines": lambda u, s: _setup_llm_exporter(u, s, json_lines=True),
    "control (bare client with llm-exporter configured)": lambda u, s: _setup_llm_exporter(u, s, instrument=False),
    "otel openai-v2": _setup_otel,
    "openlit": _setup_openlit,
}


def _one_call(client, mode: str) -> None:
    if mode == "json":
        client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=JSON_TOKENS)
        return
    options = {"stream_options": {"include_usage": True}} if mode == "stream" else {}
    for _ in client.chat.completions.create(model=MODEL, messages=MESSAGES, max_tokens=STREAM_TOKENS, stream=True,
                                            **options):
        pass


class Meter:
    """One variant's measurements in its own process. A round is `begin`, several `turn`s (the
    variants take turns, so each round interleaves them finely) and `end`, which flushes what the
    variant still has queued for export: the background CPU of the round is the process's CPU
    time from `begin` to after that flush, less the calling thread's CPU time during the calls."""

    def __init__(self, client, flush) -> None:
        self.client, self.flush = client, flush
        self.process_start = self.loop_thread = 0

    def begin(self) -> dict:
        self.process_start, self.loop_thread = time.process_time_ns(), 0
        return {}

    def turn(self, mode: str, calls: int) -> dict:
        thread_time, wall = time.thread_time_ns, time.perf_counter_ns
        cpu, walls = [], []
        turn_start = thread_time()
        for _ in range(calls):
            t0, w0 = thread_time(), wall()
            _one_call(self.client, mode)
            w1, t1 = wall(), thread_time()
            cpu.append(t1 - t0)
            walls.append(w1 - w0)
        self.loop_thread += thread_time() - turn_start
        return {"cpu_ns": cpu, "wall_ns": walls}

    def end(self) -> dict:
        if self.flush is not None:
            self.flush()  # export work still queued: counted as background CPU, wherever it runs
        return {"background_ns": time.process_time_ns() - self.process_start - self.loop_thread}


def worker(variant: str, upstream: str, sink: str) -> int:
    """Set up the variant, then answer one JSON line per command read from stdin."""
    channel = os.fdopen(os.dup(1), "w", buffering=1)  # results; stdout itself goes to /dev/null
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    sys.stdout = open(os.devnull, "w")  # noqa: SIM115 - for the process's lifetime
    meter = Meter(*SETUPS[variant](upstream, sink))
    if os.environ.get("BENCH_NO_GC"):
        import gc
        gc.disable()
    import openai

    channel.write(json.dumps({"ready": True, "openai": openai.__version__}) + "\n")
    for line in sys.stdin:
        command = json.loads(line)
        if command["op"] == "begin":
            result = meter.begin()
        elif command["op"] == "turn":
            result = meter.turn(command["mode"], command["calls"])
        elif command["op"] == "end":
            result = meter.end()
        elif command["op"] == "warmup":
            for mode in MODES:
                for _ in range(command["calls"]):
                    _one_call(meter.client, mode)
            result = meter.end()
        else:
            return 0
        channel.write(json.dumps(result) + "\n")
    return 0


# -- the orchestrator ------------------------------------------------------------------------------


@dataclass
class Variant:
    name: str
    python: str
    venv: str  # which bare client it is compared with
    exports: bool
    baseline: bool = False  # the bare client of its virtualenv
    source: Path = REPO / "exporter" / "src"  # the llm_exporter tree it imports (repository variants)
    process: subprocess.Popen | None = None
    openai: str = ""
    cpu: dict[str, list[int]] = field(default_factory=lambda: {mode: [] for mode in MODES})
    wall: dict[str, list[int]] = field(default_factory=lambda: {mode: [] for mode in MODES})
    background: dict[str, list[float]] = field(default_factory=lambda: {mode: [] for mode in MODES})

    @property
    def prefix(self) -> str:
        return "/" + self.name.replace(" ", "-").replace("+", "plus")

    def ask(self, command: dict) -> dict:
        assert self.process is not None and self.process.stdin and self.process.stdout
        self.process.stdin.write(json.dumps(command) + "\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name} exited {self.process.wait()}")
        return json.loads(line)


def ensure_venv(path: Path, packages: list[str], install: bool) -> str | None:
    python = path / "bin" / "python"
    if python.is_file():
        return str(python)
    if not install:
        return None
    print(f"installing {' '.join(packages)} into {path} ...", flush=True)
    subprocess.run([sys.executable, "-m", "venv", str(path)], check=True)
    done = subprocess.run([str(python), "-m", "pip", "install", "--quiet", *packages])
    return str(python) if done.returncode == 0 else None


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def start(variant: Variant, upstream: str, sink_url: str, log_dir: Path) -> None:
    env = {key: value for key, value in os.environ.items() if not key.startswith(("OTEL_", "LLM_EXPORTER_"))}
    env.update({"PYTHONPATH": str(variant.source), "OTEL_SERVICE_NAME": "bench",
                "OTEL_EXPORTER_OTLP_ENDPOINT": sink_url + variant.prefix,
                "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
                # the pricing file of the tree it imports (an earlier tree may not read today's format)
                "LLM_EXPORTER_PRICING_FILE": str(variant.source.parent / "config" / "pricing.yaml")})
    if "every trace" in variant.name:
        env["LLM_EXPORTER_TRACE_SAMPLE_RATIO"] = "1"
    if variant.python != sys.executable:
        env.pop("PYTHONPATH")  # a peer's virtualenv imports nothing from the repository
    log = open(log_dir / f"{variant.prefix.strip('/')}.log", "wb")  # noqa: SIM115 - closed with the run
    variant.process = subprocess.Popen(
        [variant.python, str(Path(__file__).resolve()), "--worker", variant.name.split(" @ ")[0].split(" (before")[0],
         "--upstream",
         upstream, "--sink", sink_url + variant.prefix],
        stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log, text=True, env=env)
    assert variant.process.stdout is not None
    line = variant.process.stdout.readline()
    if not line:
        raise RuntimeError(f"{variant.name} did not start: {(log_dir / log.name).read_text()[-3000:]}")
    variant.openai = json.loads(line)["openai"]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--calls", type=int, default=200, help="JSON calls per variant and round")
    parser.add_argument("--streams", type=int, default=100, help="streams per variant and round")
    parser.add_argument("--turns", type=int, default=10, help="turns per round: the variants alternate this often")
    parser.add_argument("--warmup", type=int, default=50)
    parser.add_argument("--install-peers", action="store_true")
    parser.add_argument("--no-peers", action="store_true")
    parser.add_argument("--only", help="comma-separated variant names (bare always runs)")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument("--before", type=Path, help="an earlier checkout's exporter/src: its defaults and "
                        "metrics-only variants run beside this tree's, in the same rounds")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    parser.add_argument("--upstream", help=argparse.SUPPRESS)
    parser.add_argument("--sink", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        return worker(args.worker, args.upstream, args.sink)

    sys.path.insert(0, str(REPO))
    from tests.support.otlp import OtlpReceiver

    here = sys.executable
    variants = [Variant("bare", here, "repo", False, baseline=True),
                Variant("llm-exporter defaults", here, "repo", True),
                Variant("llm-exporter metrics only", here, "repo", False),
                Variant("llm-exporter every trace + JSON lines", here, "repo", True),
                Variant("control (bare client with llm-exporter configured)", here, "repo", False)]
    if args.before:
        variants += [Variant(f"{name} (before)", here, "repo", exports, source=args.before.resolve())
                     for name, exports in (("llm-exporter defaults", True), ("llm-exporter metrics only", False))]
    notes = []
    if not args.no_peers:
        for venv, packages, peer, label in ((OTEL_VENV, OTEL_PACKAGES, "otel openai-v2", "otel"),
                                             (OPENLIT_VENV, OPENLIT_PACKAGES, "openlit", "openlit")):
            python = ensure_venv(venv, packages, args.install_peers)
            if python is None:
                notes.append(f"{peer}: no virtualenv at {venv} (run with --install-peers)")
                continue
            variants += [Variant(f"bare @ {label}", python, label, False, baseline=True),
                         Variant(peer, python, label, True)]
    if args.only:
        wanted = set(args.only.split(","))
        variants = [v for v in variants if v.baseline or v.name in wanted]

    workdir = Path(tempfile.mkdtemp(prefix="bench-instrument-"))
    sink = OtlpReceiver(count_only=True)
    upstream_process = subprocess.Popen([sys.executable, "-m", "tests.support.openai_upstream", "0"], cwd=REPO,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        assert upstream_process.stdout is not None
        upstream = upstream_process.stdout.readline().decode().strip()
        for variant in variants:
            start(variant, upstream, sink.url, workdir)
            variant.ask({"op": "warmup", "calls": args.warmup})
        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs; "
              f"Python {sys.version.split()[0]}", flush=True)
        for round_number in range(args.rounds):
            for mode in MODES:
                calls = args.calls if mode == "json" else args.streams
                for variant in variants:
                    variant.ask({"op": "begin"})
                for turn in range(args.turns):  # the variants take turns within the round
                    share = calls // args.turns + (turn < calls % args.turns)
                    for variant in (variants if turn % 2 == 0 else variants[::-1]):
                        result = variant.ask({"op": "turn", "mode": mode, "calls": share})
                        variant.cpu[mode] += result["cpu_ns"]
                        variant.wall[mode] += result["wall_ns"]
                for variant in variants:
                    variant.background[mode].append(variant.ask({"op": "end"})["background_ns"] / calls)
            print(f"round {round_number + 1}/{args.rounds} done", flush=True)
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}", flush=True)
    finally:
        for variant in variants:
            if variant.process is not None and variant.process.poll() is None:
                with contextlib.suppress(RuntimeError, BrokenPipeError, ValueError):
                    variant.ask({"op": "stop"})
                try:
                    variant.process.wait(30)
                except subprocess.TimeoutExpired:
                    variant.process.kill()
        upstream_process.terminate()
        upstream_process.wait(10)
    time.sleep(0.5)
    received = sink.counts()
    sink.close()
    rows = report(variants, received, notes)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2))
    shutil.rmtree(workdir, ignore_errors=True)
    return 1 if any(row.get("error") for row in rows) else 0


def report(variants: list[Variant], received: dict[str, int], notes: list[str]) -> list[dict]:
    bare = {v.venv: v for v in variants if v.baseline}
    rows = []
    for variant in variants:
        sent = {signal: received.get(f"{variant.prefix}/v1/{signal}", 0) for signal in ("traces", "logs", "metrics")}
        error = None
        if variant.exports and not (sent["traces"] or sent["logs"]):
            error = "nothing reached the OTLP sink"
        base = bare[variant.venv]
        for mode in MODES:
            row = {"variant": variant.name, "mode": mode, "openai": variant.openai, "baseline": variant.baseline,
                   "received": sent, "error": error, "n": len(variant.cpu[mode])}
            for measure, values, base_values in (("cpu", variant.cpu[mode], base.cpu[mode]),
                                                 ("wall", variant.wall[mode], base.wall[mode])):
                for q in (0.5, 0.99):
                    own = percentile(values, q) / 1000
                    row[f"{measure}_p{round(q * 100)}_us"] = own
                    row[f"{measure}_added_p{round(q * 100)}_us"] = own - percentile(base_values, q) / 1000
            background = statistics.median(variant.background[mode]) / 1000
            row["background_us"] = background
            row["background_added_us"] = background - statistics.median(base.background[mode]) / 1000
            rows.append(row)
    reference = {row["mode"]: row for row in rows if row["variant"] == "otel openai-v2"}
    print()
    print(f"{'variant':<52}{'mode':<18}{'CPU +p50':>9}{'CPU +p99':>9}{'bg +':>8}{'wall +p50':>10}{'wall +p99':>10}"
          f"{'vs otel':>8}  received (traces/logs/metrics)")
    for row in rows:
        ref = reference.get(row["mode"])
        ratio = ""
        if ref and not row["baseline"] and ref["cpu_added_p50_us"] > 0:
            row["cpu_added_p50_vs_otel"] = row["cpu_added_p50_us"] / ref["cpu_added_p50_us"]
            ratio = f"{row['cpu_added_p50_vs_otel']:.3f}"
        got = row["received"]
        print(f"{row['variant']:<52}{row['mode']:<18}{row['cpu_added_p50_us']:>9.1f}{row['cpu_added_p99_us']:>9.1f}"
              f"{row['background_added_us']:>8.1f}{row['wall_added_p50_us']:>10.1f}{row['wall_added_p99_us']:>10.1f}"
              f"{ratio:>8}  {got['traces']}/{got['logs']}/{got['metrics']}"
              + (f"  ERROR: {row['error']}" if row["error"] else ""))
    print()
    print("bare client, µs per call (p50 CPU / p50 wall): " + "; ".join(
        f"{v.venv} (openai {v.openai}): " + ", ".join(
            f"{mode} {percentile(v.cpu[mode], 0.5) / 1000:.0f} / {percentile(v.wall[mode], 0.5) / 1000:.0f}"
            for mode in MODES) for v in bare.values()))
    for v in bare.values():
        usage_chunk = (percentile(v.cpu["stream"], 0.5) - percentile(v.cpu["stream-no-options"], 0.5)) / 1000
        print(f"{v.venv}: the final usage chunk costs the bare client {usage_chunk:.0f} µs CPU (stream minus "
              "stream-no-options, p50)")
    for note in notes:
        print(note)
    return rows


if __name__ == "__main__":
    sys.exit(main())
