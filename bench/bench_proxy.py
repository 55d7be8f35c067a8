"""Added latency of the metering proxy, and of LiteLLM's proxy, in front of the same upstream.

    .venv/bin/python bench/bench_proxy.py [--litellm PATH] [--requests N] [--concurrency C]

Three processes on 127.0.0.1: the OpenAI-compatible test upstream (tests/support/openai_upstream.py,
no artificial delay), `llm-exporter --mode proxy` in front of it, and `litellm --config` in front
of it too. A small keep-alive HTTP/1.1 client (asyncio, raw sockets: as little client work as
possible on a 2-core machine) measures each request from the first byte written to the last
byte read. Sequentially the three targets take turns request by request, so drift hits them alike;
with C concurrent connections each target is measured on its own.

"Added" is the target's percentile minus the direct percentile at the same concurrency (a
difference of percentiles, not a percentile of differences). LiteLLM is looked for at --litellm,
then /tmp/llm-bench-litellm/bin/litellm, then on PATH; `--install-litellm` makes that venv
(`pip install 'litellm[proxy]'`). Without it the LiteLLM rows say why they are missing.
Bounded: about a minute with the defaults.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "exporter" / "config"
LITELLM_VENV = Path("/tmp/llm-bench-litellm")
MODEL = "gpt-4o-mini"
STREAM_TOKENS = 20


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_ready(url: str, process: subprocess.Popen, timeout: float, log: Path) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited {process.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(url, timeout=1) as response:
                if response.status < 500:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise TimeoutError(f"{url} not ready after {timeout}s: {log.read_text()[-2000:]}")


def stop(process: subprocess.Popen) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# -- a minimal keep-alive HTTP/1.1 client ----------------------------------------------------


class Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def open(self) -> None:
        self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        self.writer.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    async def post(self, path: str, body: bytes) -> tuple[float, float, int]:
        """(seconds to the first body byte, seconds to the last, status)."""
        if self.writer is None:
            await self.open()
        assert self.reader is not None and self.writer is not None
        head = (f"POST {path} HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nContent-Type: application/json\r\n"
                f"Authorization: Bearer sk-bench\r\nContent-Length: {len(body)}\r\n\r\n").encode()
        start = time.perf_counter()
        self.writer.write(head + body)
        reader = self.reader
        status_line = await reader.readline()
        status = int(status_line.split()[1])
        length = None
        chunked = close = False
        while True:
            line = await reader.readline()
            if line in (b"\r\n", b"\n", b""):
                break
            name, _, value = line.decode("latin-1").partition(":")
            name, value = name.strip().lower(), value.strip().lower()
            if name == "content-length":
                length = int(value)
            elif name == "transfer-encoding" and "chunked" in value:
                chunked = True
            elif name == "connection" and value == "close":
                close = True
        first = None
        if chunked:
            while True:
                size = int((await reader.readline()).split(b";")[0], 16)
                if size == 0:
                    await reader.readline()
                    break
                await reader.readexactly(size)
                first = first or time.perf_counter()
                await reader.readline()
        elif length is not None:
            await reader.readexactly(length)
        else:
            await reader.read()
            close = True
        end = time.perf_counter()
        if close:
            self.writer.close()
            self.writer = None
        return (first or end) - start, end - start, status


# -- the measurements --------------------------------------------------------------------------


@dataclass
class Target:
    name: str
    port: int
    path_prefix: str  # "/v1"
    pid: int | None = None  # the proxy's process, for its CPU time

    def path(self, endpoint: str) -> str:
        return f"{self.path_prefix}/{endpoint}"


def request_body(stream: bool) -> bytes:
    body = {"model": MODEL, "messages": [{"role": "user", "content": "Say something short about latency."}],
            "max_tokens": STREAM_TOKENS if stream else 16}
    if stream:
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
    return json.dumps(body).encode()


async def sequential(targets: list[Target], stream: bool, count: int, warmup: int) -> dict[str, list[tuple]]:
    body = request_body(stream)
    connections = {t.name: Connection("127.0.0.1", t.port) for t in targets}
    results: dict[str, list[tuple]] = {t.name: [] for t in targets}
    for index in range(warmup + count):
        for target in targets:  # take turns, so drift hits all targets alike
            first, total, status = await connections[target.name].post(target.path("chat/completions"), body)
            if status != 200:
                raise RuntimeError(f"{target.name} answered {status}")
            if index >= warmup:
                results[target.name].append((first, total))
    return results


async def concurrent(target: Target, stream: bool, workers: int, per_worker: int, warmup: int) -> list[tuple]:
    body = request_body(stream)
    results: list[tuple] = []

    async def worker() -> None:
        connection = Connection("127.0.0.1", target.port)
        for index in range(warmup + per_worker):
            first, total, status = await connection.post(target.path("chat/completions"), body)
            if status != 200:
                raise RuntimeError(f"{target.name} answered {status}")
            if index >= warmup:
                results.append((first, total))

    await asyncio.gather(*(worker() for _ in range(workers)))
    return results


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its live descendants (Linux /proc)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            children = Path(f"/proc/{current}/task/{current}/children").read_text().split()
        except (OSError, IndexError, ValueError):
            continue
        pending.extend(int(child) for child in children)
    return total


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))]


def summarise(samples: list[tuple], column: int) -> tuple[float, float]:
    values = [s[column] * 1000 for s in samples]
    return statistics.median(values), percentile(values, 0.99)


# -- processes ------------------------------------------------------------------------------------


def find_litellm(explicit: str | None, install: bool) -> tuple[str | None, str]:
    candidates = [explicit, str(LITELLM_VENV / "bin" / "litellm"), shutil.which("litellm")]
    for candidate in candidates:
        if candidate and Path(candidate).is_file():
            return candidate, ""
    if install:
        print(f"installing litellm[proxy] into {LITELLM_VENV} ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(LITELLM_VENV)], check=True)
        done = subprocess.run([str(LITELLM_VENV / "bin" / "pip"), "install", "--quiet", "litellm[proxy]"])
        if done.returncode == 0:
            return str(LITELLM_VENV / "bin" / "litellm"), ""
        return None, f"pip install 'litellm[proxy]' failed with exit code {done.returncode}"
    return None, "litellm is not installed (run with --install-litellm, or pass --litellm PATH)"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=400, help="sequential requests per target and mode")
    parser.add_argument("--concurrency", type=int, default=32)
    parser.add_argument("--per-worker", type=int, default=25, help="requests per concurrent connection")
    parser.add_argument("--litellm", help="path to the litellm executable")
    parser.add_argument("--install-litellm", action="store_true")
    parser.add_argument("--no-litellm", action="store_true")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    workdir = Path(tempfile.mkdtemp(prefix="bench-proxy-"))
    processes: list[subprocess.Popen] = []
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    for variable in ("OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT",
                     "OTEL_EXPORTER_OTLP_LOGS_ENDPOINT"):
        env.pop(variable, None)
    try:
        upstream_log = workdir / "upstream.log"
        with open(upstream_log, "wb") as out:
            upstream = subprocess.Popen([sys.executable, "-m", "tests.support.openai_upstream", "0"], cwd=REPO,
                                        stdout=subprocess.PIPE, stderr=out, env=env)
        processes.append(upstream)
        assert upstream.stdout is not None
        upstream_url = upstream.stdout.readline().decode().strip()
        upstream_port = int(upstream_url.rsplit(":", 1)[1].split("/")[0])

        proxy_port = free_port()
        proxy_log = workdir / "proxy.log"
        with open(proxy_log, "wb") as out:
            proxy = subprocess.Popen(
                [sys.executable, "-m", "llm_exporter", "--mode", "proxy", "--host", "127.0.0.1",
                 "--port", str(proxy_port), "--upstream-url", upstream_url,
                 "--pricing-file", str(CONFIG / "pricing.yaml"), "--budgets-file", str(CONFIG / "budgets.yaml")],
                stdout=out, stderr=subprocess.STDOUT, env=env)
        processes.append(proxy)
        wait_ready(f"http://127.0.0.1:{proxy_port}/readyz", proxy, 30, proxy_log)

        targets = [Target("direct", upstream_port, "/v1"),
                   Target("llm-exporter proxy", proxy_port, "/v1", proxy.pid)]
        litellm_note = "skipped (--no-litellm)"
        if not args.no_litellm:
            executable, litellm_note = find_litellm(args.litellm, args.install_litellm)
            if executable:
                litellm_port = free_port()
                config = workdir / "litellm.yaml"
                config.write_text(
                    "model_list:\n"
                    f"  - model_name: {MODEL}\n"
                    "    litellm_params:\n"
                    f"      model: openai/{MODEL}\n"
                    f"      api_base: {upstream_url}\n"
                    "      api_key: sk-bench\n"
                )
                litellm_log = workdir / "litellm.log"
                litellm_env = {**env, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "LITELLM_LOG": "ERROR",
                               "LITELLM_TELEMETRY": "False", "NO_DOCS": "True",
                               "LITELLM_MASTER_KEY": "sk-bench"}
                with open(litellm_log, "wb") as out:
                    litellm = subprocess.Popen(
                        [executable, "--config", str(config), "--host", "127.0.0.1", "--port", str(litellm_port),
                         "--num_workers", "1"], stdout=out, stderr=subprocess.STDOUT, env=litellm_env)
                processes.append(litellm)
                try:
                    wait_ready(f"http://127.0.0.1:{litellm_port}/health/liveliness", litellm, 120, litellm_log)
                    targets.append(Target("litellm proxy", litellm_port, "/v1", litellm.pid))
                    version = subprocess.run([str(Path(executable).parent / "python"), "-c",
                                              "import importlib.metadata as m; print(m.version('litellm'))"],
                                             capture_output=True, text=True).stdout.strip()
                    litellm_note = f"litellm {version}"
                except (RuntimeError, TimeoutError) as exc:
                    litellm_note = f"litellm did not start: {exc}"
        print(f"upstream {upstream_url}; proxy :{proxy_port}; {litellm_note}", flush=True)

        print(f"load average before: {' '.join(f'{x:.2f}' for x in os.getloadavg())}; {os.cpu_count()} CPUs",
              flush=True)
        rows = []
        direct, proxies = targets[0], targets[1:]
        for stream in (False, True):
            mode = "stream" if stream else "json"
            for target in proxies:  # each proxy in turns with a direct call; the other proxy idles
                before = cpu_seconds(target.pid) if target.pid else 0.0
                seq = asyncio.run(sequential([direct, target], stream, args.requests, warmup=30))
                cpu_ms = (cpu_seconds(target.pid) - before) / (args.requests + 30) * 1000 if target.pid else None
                rows.append(_row(mode, 1, target.name, seq[target.name], seq[direct.name], stream, cpu_ms))
            base = asyncio.run(concurrent(direct, stream, args.concurrency, args.per_worker, warmup=3))
            for target in proxies:
                samples = asyncio.run(concurrent(target, stream, args.concurrency, args.per_worker, warmup=3))
                rows.append(_row(mode, args.concurrency, target.name, samples, base, stream, None))
        print(f"load average after: {' '.join(f'{x:.2f}' for x in os.getloadavg())}")

        header = (f"{'mode':<7}{'conc':>5}  {'target':<20}{'direct p50':>11}{'p50 ms':>9}{'p99 ms':>9}"
                  f"{'added p50':>11}{'added p99':>11}{'1st-chunk +p50':>16}{'CPU ms/req':>12}")
        print(header)
        for row in rows:
            first = "" if row["first_added_p50"] is None else f"{row['first_added_p50']:.3f}"
            cpu_ms = "" if row["cpu_ms_per_request"] is None else f"{row['cpu_ms_per_request']:.3f}"
            print(f"{row['mode']:<7}{row['concurrency']:>5}  {row['target']:<20}{row['direct_p50']:>11.3f}"
                  f"{row['p50']:>9.3f}{row['p99']:>9.3f}{row['added_p50']:>11.3f}{row['added_p99']:>11.3f}"
                  f"{first:>16}{cpu_ms:>12}")
        if args.json:
            args.json.write_text(json.dumps({"litellm": litellm_note, "rows": rows}, indent=2))
        return 0
    finally:
        for process in reversed(processes):
            stop(process)
        shutil.rmtree(workdir, ignore_errors=True)


def _row(mode: str, concurrency: int, name: str, samples: list[tuple], direct: list[tuple], stream: bool,
         cpu_ms: float | None) -> dict:
    direct_p50, direct_p99 = summarise(direct, 1)
    p50, p99 = summarise(samples, 1)
    first_added = summarise(samples, 0)[0] - summarise(direct, 0)[0] if stream else None
    return {"mode": mode, "concurrency": concurrency, "target": name, "n": len(samples),
            "direct_p50": direct_p50, "direct_p99": direct_p99, "p50": p50, "p99": p99,
            "added_p50": p50 - direct_p50, "added_p99": p99 - direct_p99, "first_added_p50": first_added,
            "cpu_ms_per_request": cpu_ms}


if __name__ == "__main__":
    sys.exit(main())
