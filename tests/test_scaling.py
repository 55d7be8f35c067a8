"""Beyond one machine, statically: the commented remote_write blocks of prometheus/prometheus.yml
are valid Prometheus configuration once uncommented, the VictoriaMetrics one matches the compose
profile, and the high-availability settings of docs/scaling.md load in Prometheus.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit

import pytest
import yaml

from llm_exporter.contract import ALL_METRICS
from llm_exporter.sources import SOURCES
from prometheus import generator as rules_generator
from tests.support import remote_write
from tests.support.processes import shipped_prometheus_config
from tests.support.prometheus_config import check_config

REPO = Path(__file__).resolve().parents[1]
PROMETHEUS_DIR = REPO / "prometheus"
STORES = ("VictoriaMetrics", "Grafana Mimir", "Thanos Receive")


def test_remote_write_is_off_by_default() -> None:
    config = yaml.safe_load((PROMETHEUS_DIR / "prometheus.yml").read_text())
    assert "remote_write" not in config


def test_a_block_for_each_store() -> None:
    names = list(remote_write.blocks())
    assert [next(n for n in names if n.startswith(store)) for store in STORES]
    assert len(names) == len(STORES), names


@pytest.mark.parametrize("optional", [False, True], ids=["as written", "optional lines uncommented"])
@pytest.mark.parametrize("store", STORES)
def test_each_block_is_valid_once_uncommented(store: str, optional: bool, tmp_path: Path) -> None:
    config = shipped_prometheus_config()
    config["remote_write"] = remote_write.block(store, optional)
    result = check_config(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_raw_series_only_relabeling_keeps_raw_and_drops_recorded() -> None:
    """The optional relabeling of the VictoriaMetrics block (for vmalert evaluating the rules):
    every recorded series the generator writes and the alert states are dropped; every series of
    the contract and of every source (vLLM's and SGLang's names have a colon) is kept."""
    relabel = remote_write.block("VictoriaMetrics", optional=True)[0]["write_relabel_configs"]
    assert [r["action"] for r in relabel] == ["drop"] and relabel[0]["source_labels"] == ["__name__"]
    pattern = re.compile(f"^(?:{relabel[0]['regex']})$")  # Prometheus anchors relabel regexes
    recorded = {record.name for record in rules_generator.records()}
    assert not [name for name in (*recorded, "ALERTS", "ALERTS_FOR_STATE") if not pattern.match(name)]
    raw = {spec.exposed_name for spec in ALL_METRICS} | {metric.name for source in SOURCES.values()
                                                    for metric in source.metrics}
    raw |= {f"{name}_bucket" for name in raw} | {"up", "scrape_duration_seconds"}
    assert {"vllm:request_success_total", "sglang:num_requests_total"} <= raw
    assert not [name for name in raw if pattern.match(name)]


def test_victoriametrics_block_points_at_the_compose_profile() -> None:
    url = urlsplit(remote_write.block("VictoriaMetrics")[0]["url"])
    services = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]
    service = services[url.hostname]
    assert service["profiles"] == ["victoriametrics"]
    assert f"-httpListenAddr=:{url.port}" in service["command"]
    assert url.path == "/api/v1/write"
