"""Real processes for tests: the exporter, Prometheus and Alertmanager on 127.0.0.1.

Nothing here is a double: each helper starts the real binary on a free loopback port, waits
until it answers, and stops it (SIGTERM, then SIGKILL) when the test is done.
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

REPO = Path(__file__).resolve().parents[2]
CONFIG_DIR = REPO / "exporter" / "config"
SHIPPED_PROMETHEUS_YML = REPO / "prometheus" / "prometheus.yml"
# The shipped prometheus.yml ends with a block only Prometheus 3 knows (`otlp:`); Debian's
# Prometheus 2.42, which the tests run, rejects unknown keys. Between these markers, nothing else.
PROMETHEUS_3_ONLY = re.compile(r"^# BEGIN Prometheus 3 only.*?^# END Prometheus 3 only\n", re.M | re.S)


def for_prometheus_2(text: str) -> str:
    """prometheus.yml text without its Prometheus-3-only block (fails if the block is missing)."""
    stripped, count = PROMETHEUS_3_ONLY.subn("", text)
    if count != 1:
        raise AssertionError("prometheus.yml must hold exactly one 'Prometheus 3 only' block")
    return stripped


def shipped_prometheus_config() -> dict:
    """The shipped prometheus.yml as Prometheus 2.42 can load it (see PROMETHEUS_3_ONLY)."""
    return yaml.safe_load(for_prometheus_2(SHIPPED_PROMETHEUS_YML.read_text()))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_ok(url: str, process: subprocess.Popen, log_path: Path, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{process.args[0]} exited with {process.returncode}:\n{log_path.read_text()[-3000:]}")
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=1).ok:
                return
        time.sleep(0.1)
    raise TimeoutError(f"{url} did not answer within {timeout}s:\n{log_path.read_text()[-3000:]}")


def wait_for(condition, timeout: float, what: str, interval: float = 0.2) -> None:
    """Poll `condition()` until true; fail naming `what` when it never becomes true."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}")


def stop(process: subprocess.Popen, timeout: float = 10.0) -> int:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    return process.returncode


@dataclass
class Running:
    """A started process with its base URL and the file its output goes to."""

    process: subprocess.Popen
    url: str
    log_path: Path
    workdir: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextlib.contextmanager
def _spawn(argv: Sequence[str], ready_path: str, port: int, workdir: Path, env: dict[str, str] | None = None,
           timeout: float = 30.0) -> Iterator[Running]:
    log_path = workdir / "output.log"
    with open(log_path, "wb") as log_file:
        process = subprocess.Popen(list(argv), stdout=log_file, stderr=subprocess.STDOUT, cwd=workdir,
                                   env={**os.environ, **(env or {})})
    running = Running(process, f"http://127.0.0.1:{port}", log_path, workdir)
    try:
        wait_until_ok(running.url + ready_path, process, log_path, timeout)
        yield running
    finally:
        stop(process)


def exporter_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "llm_exporter", *args]


@contextlib.contextmanager
def run_exporter(*args: str, env: dict[str, str] | None = None, port: int | None = None,
                 config_files: bool = True, ready_path: str = "/readyz") -> Iterator[Running]:
    """The real exporter (`python -m llm_exporter`) with the repository's pricing, budgets and
    objectives (named on the command line; `config_files=False` leaves the exporter to its packaged
    defaults), once `ready_path` answers 200."""
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="exporter-"))
    files = ("--pricing-file", str(CONFIG_DIR / "pricing.yaml"), "--budgets-file", str(CONFIG_DIR / "budgets.yaml"),
             "--objectives-file", str(CONFIG_DIR / "objectives.yaml"))
    argv = exporter_command("--host", "127.0.0.1", "--port", str(port), *(files if config_files else ()), *args)
    base_env = {"OTEL_SDK_DISABLED": "true", "PYTHONUNBUFFERED": "1"}
    with _spawn(argv, ready_path, port, workdir, {**base_env, **(env or {})}) as running:
        yield running
    shutil.rmtree(workdir, ignore_errors=True)


def webhook_token_file(directory: Path) -> Path:
    """A fresh bearer token for the alert webhook, in a file: the exporter gets it with
    --webhook-token-file, Alertmanager with `credentials_file` (as compose wires them)."""
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "webhook_token"
    path.write_text(secrets.token_urlsafe(32) + "\n")
    return path


@contextlib.contextmanager
def run_module(module: str, *args: str, port: int, ready_path: str = "/metrics",
               env: dict[str, str] | None = None) -> Iterator[Running]:
    """`python -m module args...` from the repository root, ready once http://127.0.0.1:port<ready_path> answers."""
    workdir = Path(tempfile.mkdtemp(prefix="module-"))
    argv = [sys.executable, "-m", module, *args]
    with _spawn(argv, ready_path, port, workdir, {"PYTHONPATH": str(REPO), "PYTHONUNBUFFERED": "1", **(env or {})}) \
            as running:
        yield running
    shutil.rmtree(workdir, ignore_errors=True)


def require_binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise RuntimeError(f"{name} is not installed: run `make deps` (installs Debian's prometheus packages)")
    return path


@contextlib.contextmanager
def run_prometheus(config: dict, rule_files: Sequence[Path] = (), extra_args: Sequence[str] = (),
                   port: int | None = None, storage: Path | None = None,
                   ready_timeout: float = 30.0) -> Iterator[Running]:
    """Real Prometheus with `config` (rule_files are copied next to it and referenced by name),
    on the TSDB directory `storage` when given (used in place, kept afterwards)."""
    binary = require_binary("prometheus")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="prometheus-"))
    names = []
    for path in rule_files:
        shutil.copy(path, workdir / path.name)
        names.append(path.name)
    config = {**config, "rule_files": names} if names else config
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    argv = [binary, f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={storage or workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", "--enable-feature=exemplar-storage",
            "--web.enable-lifecycle", *extra_args]
    with _spawn(argv, "/-/ready", port, workdir, timeout=ready_timeout) as running:
        yield running
    shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def run_prometheus_config_dir(config_dir: Path) -> Iterator[Running]:
    """Real Prometheus on a copy of a whole config directory, as compose mounts it
    (prometheus.yml and whatever it references, by its own relative paths), less the
    Prometheus-3-only block."""
    binary = require_binary("prometheus")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="prometheus-dir-"))
    etc = workdir / "etc-prometheus"
    shutil.copytree(config_dir, etc)
    (etc / "prometheus.yml").write_text(for_prometheus_2((etc / "prometheus.yml").read_text()))
    argv = [binary, f"--config.file={etc / 'prometheus.yml'}", f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}"]
    with _spawn(argv, "/-/ready", port, workdir) as running:
        yield running
    shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def run_alertmanager(config_text: str, port: int | None = None,
                     cluster_args: Sequence[str] = ("--cluster.listen-address=",)) -> Iterator[Running]:
    """Real Alertmanager (Debian's prometheus-alertmanager) on loopback: single node, unless
    `cluster_args` give it a cluster listener and peers."""
    binary = require_binary("prometheus-alertmanager")
    port = port or free_port()
    workdir = Path(tempfile.mkdtemp(prefix="alertmanager-"))
    (workdir / "alertmanager.yml").write_text(config_text)
    argv = [binary, f"--config.file={workdir / 'alertmanager.yml'}", f"--storage.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}", *cluster_args]
    with _spawn(argv, "/-/ready", port, workdir) as running:
        yield running
    shutil.rmtree(workdir, ignore_errors=True)
