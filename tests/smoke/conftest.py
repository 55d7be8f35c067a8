"""Where the smoke test points.

`make smoke` (SMOKE_STACK=external) checks a running compose stack at the URLs below (override
with the *_URL variables); a component that does not answer is skipped with the reason, or fails
with SMOKE_REQUIRE_ALL=1 (as in CI). The Grafana login comes from GRAFANA_ADMIN_USER /
GRAFANA_ADMIN_PASSWORD in the environment or .env, as compose reads them.

In `make test` (the default) the parts that run on a build machine are
started here on 127.0.0.1 from the shipped configuration: the exporter in mock mode, Prometheus
with prometheus/prometheus.yml and prometheus/rules/, and Alertmanager with
alertmanager/alertmanager.yml. Only the addresses of the other services are rewritten.
Grafana, Loki and Tempo do not run here; their checks skip with that reason.
"""

from __future__ import annotations

import contextlib
import os
import sys
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.e2e_support import alerting
from tests.support.processes import (
    REPO,
    free_port,
    run_alertmanager,
    run_exporter,
    run_prometheus,
    shipped_prometheus_config,
)

sys.path.insert(0, str(REPO / "scripts"))
from stack_env import grafana_credentials

DEFAULTS = {
    "EXPORTER_URL": "http://127.0.0.1:9101",
    "PROMETHEUS_URL": "http://127.0.0.1:9090",
    "ALERTMANAGER_URL": "http://127.0.0.1:9093",
    "GRAFANA_URL": "http://127.0.0.1:3000",
    "LOKI_URL": "http://127.0.0.1:3100",
    "TEMPO_URL": "http://127.0.0.1:3200",
}


@dataclass(frozen=True)
class Stack:
    exporter: str
    prometheus: str
    alertmanager: str
    grafana: str | None
    loki: str | None
    tempo: str | None
    external: bool
    grafana_auth: tuple[str, str] = ("admin", "admin")
    require_all: bool = False  # SMOKE_REQUIRE_ALL=1 (CI): a component that does not answer fails


def loopback_prometheus_config(exporter: str, alertmanager: str, prometheus: str) -> dict:
    """prometheus/prometheus.yml with compose service names replaced by loopback addresses,
    and scrape/evaluation intervals shortened so the checks have data within seconds."""
    config = shipped_prometheus_config()
    rewrite = {"exporter:9101": exporter, "alertmanager:9093": alertmanager, "localhost:9090": prometheus}
    config["global"].update(scrape_interval="1s", scrape_timeout="1s", evaluation_interval="1s")
    for manager in config["alerting"]["alertmanagers"]:
        for static in manager["static_configs"]:
            static["targets"] = [rewrite.get(t, t) for t in static["targets"]]
    for job in config["scrape_configs"]:
        for static in job.get("static_configs", []):
            static["targets"] = [rewrite.get(t, t) for t in static["targets"]]
    return config


def shipped_alertmanager_config(exporter_url: str) -> str:
    text = (REPO / "alertmanager" / "alertmanager.yml").read_text()
    return text.replace("http://exporter:9101", exporter_url)


@contextlib.contextmanager
def local_stack() -> Iterator[Stack]:
    prometheus_port, alertmanager_port = free_port(), free_port()
    with run_exporter("--mode", "mock", "--mock-rps", "20") as exporter:
        host_port = exporter.url.removeprefix("http://")
        with run_alertmanager(shipped_alertmanager_config(exporter.url), port=alertmanager_port) as alertmanager:
            config = loopback_prometheus_config(host_port, f"127.0.0.1:{alertmanager_port}",
                                               f"127.0.0.1:{prometheus_port}")
            rules = alerting.shipped_rule_files()
            with run_prometheus(config, rules, port=prometheus_port) as prometheus:
                yield Stack(exporter.url, prometheus.url, alertmanager.url, None, None, None, external=False)


@pytest.fixture(scope="session")
def stack() -> Iterator[Stack]:
    if os.environ.get("SMOKE_STACK") == "external":
        urls = {key: os.environ.get(key, default) for key, default in DEFAULTS.items()}
        auth = grafana_credentials()
        yield Stack(urls["EXPORTER_URL"], urls["PROMETHEUS_URL"], urls["ALERTMANAGER_URL"], urls["GRAFANA_URL"],
                    urls["LOKI_URL"], urls["TEMPO_URL"], external=True, grafana_auth=auth,
                    require_all=os.environ.get("SMOKE_REQUIRE_ALL") == "1")
    else:
        with local_stack() as running:
            yield running
