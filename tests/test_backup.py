"""docs/production.md's Prometheus backup, on a real Prometheus: stop it, archive the directory its
named volume holds with the documented `tar` commands, restore the archive into an empty
directory, and start a new Prometheus on it: every series and value is back, including the
samples still in the write-ahead log (a short run compacts nothing).
"""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest
import requests

from tests.support.processes import run_exporter, run_prometheus, stop, wait_for

SERIES = 'count by (__name__) ({__name__=~"llm_.+"})'
CALLS = "sum(llm_requests_total)"


def instant(prometheus: str, expr: str, at: float) -> dict[str, str]:
    response = requests.get(prometheus + "/api/v1/query", params={"query": expr, "time": at}, timeout=5)
    response.raise_for_status()
    return {str(r["metric"]): r["value"][1] for r in response.json()["data"]["result"]}


@pytest.mark.e2e
def test_a_stopped_prometheus_restores_whole_from_its_archived_data(tmp_path: Path) -> None:
    volume, restored, archive = tmp_path / "volume", tmp_path / "restored", tmp_path / "prometheus.tgz"
    with run_exporter("--mode", "mock", "--mock-rps", "20") as exporter:
        config = {"global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
                  "scrape_configs": [{"job_name": "llm-exporter",
                                      "static_configs": [{"targets": [exporter.url.removeprefix("http://")]}]}]}
        with run_prometheus(config, storage=volume) as prometheus:
            wait_for(lambda: float(next(iter(instant(prometheus.url, CALLS, time.time()).values()), 0)) > 0,
                     timeout=30, what="recorded calls in Prometheus")
            time.sleep(8)
            at = time.time() - 5  # every scrape that started before it has been committed by now
            before = {**instant(prometheus.url, SERIES, at), **instant(prometheus.url, CALLS, at)}
            assert stop(prometheus.process) == 0  # `docker compose stop prometheus`: SIGTERM, a clean shutdown
    subprocess.run(["tar", "czf", str(archive), "-C", str(volume), "."], check=True)
    restored.mkdir()
    subprocess.run(["tar", "xzf", str(archive), "-C", str(restored)], check=True)
    with run_prometheus({"global": {"scrape_interval": "1s"}, "scrape_configs": []}, storage=restored) as prometheus:
        after = {**instant(prometheus.url, SERIES, at), **instant(prometheus.url, CALLS, at)}
    assert len(before) > 10 and after == before
