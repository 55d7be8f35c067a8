"""Real VictoriaMetrics processes for tests (Debian's `victoria-metrics` package, 1.79): the
single-node database and vmalert, on free loopback ports, stopped when the test is done."""

from __future__ import annotations

import contextlib
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

from tests.support.processes import Running, _spawn, free_port, require_binary


@contextlib.contextmanager
def run_victoria_metrics(relabel_config: list[dict[str, Any]] | None = None,
                         extra_args: Sequence[str] = ()) -> Iterator[Running]:
    """Single-node VictoriaMetrics accepting Prometheus remote write at /api/v1/write.
    `relabel_config` applies to every ingested sample (`-relabelConfig`)."""
    binary = require_binary("victoria-metrics")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="victoria-metrics-"))
    argv = [binary, f"-storageDataPath={workdir / 'data'}", f"-httpListenAddr=127.0.0.1:{port}",
            "-search.disableCache", *extra_args]
    if relabel_config is not None:
        (workdir / "relabel.yml").write_text(yaml.safe_dump(relabel_config, sort_keys=False))
        argv.append(f"-relabelConfig={workdir / 'relabel.yml'}")
    with _spawn(argv, "/health", port, workdir) as running:
        yield running
    shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def run_vmalert(rule_files: Sequence[Path], datasource_url: str, remote_write_url: str, notifier_url: str,
                extra_args: Sequence[str] = ()) -> Iterator[Running]:
    """vmalert evaluating `rule_files` against `datasource_url`; recorded series and alert states
    are written to `remote_write_url`, alerts sent to `notifier_url` (an Alertmanager)."""
    binary = require_binary("vmalert")
    port = free_port()
    workdir = Path(tempfile.mkdtemp(prefix="vmalert-"))
    argv = [binary, *(f"-rule={path}" for path in rule_files), f"-datasource.url={datasource_url}",
            f"-remoteWrite.url={remote_write_url}", f"-notifier.url={notifier_url}",
            f"-httpListenAddr=127.0.0.1:{port}", *extra_args]
    with _spawn(argv, "/health", port, workdir) as running:
        yield running
    shutil.rmtree(workdir, ignore_errors=True)
