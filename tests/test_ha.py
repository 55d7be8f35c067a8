"""A Prometheus pair in high availability with a clustered Alertmanager, as docs/scaling.md
configures it (its `tested:` blocks are read here, not copied): the Prometheus additions are
valid on the shipped prometheus.yml, and on real processes (Prometheus 2.42 x 2, Alertmanager 0.25
x 2, the shipped rules and alertmanager.yml with the e2e test's documented shortenings) an alert
both replicas raise reaches the receiver once, with one alert and no replica label.

The test runs the Alertmanagers with `--cluster.peer-timeout=1s` instead of the default 15 s, so
that the second Alertmanager's turn to notify comes within seconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.e2e_support import alerting
from tests.support.doc_blocks import doc_block
from tests.support.processes import (
    Running,
    free_port,
    run_alertmanager,
    run_exporter,
    run_prometheus,
    shipped_prometheus_config,
    wait_for,
    webhook_token_file,
)
from tests.support.prometheus_config import check_config, merged

REPO = Path(__file__).resolve().parents[1]
SCALING_DOC = REPO / "docs" / "scaling.md"
REPLICA_LABEL = "prometheus_replica"
PEER_TIMEOUT_S = 1
SCENARIO = "ha"


def ha_addition(replica: str, alertmanagers: list[str]) -> dict[str, Any]:
    """The documented block for one replica, its Alertmanager addresses replaced by `alertmanagers`."""
    block = doc_block(SCALING_DOC, "prometheus-ha")
    block["global"]["external_labels"][REPLICA_LABEL] = replica
    targets = block["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"]
    assert len(targets) == len(alertmanagers), "the block lists one target per Alertmanager of the cluster"
    block["alerting"]["alertmanagers"][0]["static_configs"][0]["targets"] = alertmanagers
    return block


def test_ha_block_is_valid_on_the_shipped_config(tmp_path: Path) -> None:
    shipped = shipped_prometheus_config()
    block = doc_block(SCALING_DOC, "prometheus-ha")
    config = merged(shipped, block)
    assert config["scrape_configs"] == shipped["scrape_configs"] and config["rule_files"] == shipped["rule_files"]
    assert REPLICA_LABEL in config["global"]["external_labels"]
    dropped = [r for r in config["alerting"]["alert_relabel_configs"] if r.get("action") == "labeldrop"]
    assert [r["regex"] for r in dropped] == [REPLICA_LABEL]
    result = check_config(config, tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr


def test_victoriametrics_relabeling_drops_the_same_label() -> None:
    assert doc_block(SCALING_DOC, "victoriametrics-relabel") == [{"action": "labeldrop", "regex": REPLICA_LABEL}]


def _cluster_args(name: str, ports: dict[str, int]) -> list[str]:
    """The documented flags of Alertmanager `name`, its cluster addresses on loopback."""
    flags = doc_block(SCALING_DOC, "alertmanager-cluster")[name]
    out = []
    for flag in flags:
        option, value = flag.split("=", 1)
        host = value.rsplit(":", 1)[0]
        address = f"127.0.0.1:{ports[name if host == '0.0.0.0' else host]}"
        out.append(f"{option}={address}")
    return [*out, f"--cluster.peer-timeout={PEER_TIMEOUT_S}s"]


@contextlib.contextmanager
def _cluster(webhook_url: str, token_file: Path) -> Iterator[list[Running]]:
    names = list(doc_block(SCALING_DOC, "alertmanager-cluster"))
    ports = {name: free_port() for name in names}
    config = alerting.alertmanager_config(webhook_url, token_file=token_file)
    with contextlib.ExitStack() as stack:
        yield [stack.enter_context(run_alertmanager(config, cluster_args=_cluster_args(name, ports)))
               for name in names]


def _cluster_size(alertmanager: Running) -> int:
    status = requests.get(alertmanager.url + "/api/v2/status", timeout=5).json()
    return len(status["cluster"]["peers"])


def _target_down(receiver: Running) -> list[dict[str, Any]]:
    entries = requests.get(receiver.url + "/alertmanager/notifications", timeout=5).json()
    entries = entries.get("notifications", entries) if isinstance(entries, dict) else entries
    return [e for e in entries if e["alertname"] == "TargetDown" and e["status"] == "firing"]


def test_pair_and_cluster_notify_once(tmp_path: Path) -> None:
    rules = alerting.shortened_rule_files(tmp_path / "rules")
    down_target = f"127.0.0.1:{free_port()}"  # nothing listens: TargetDown on both replicas
    with contextlib.ExitStack() as stack:
        token = webhook_token_file(tmp_path / "secrets")
        receiver = stack.enter_context(run_exporter("--mode", "mock", "--mock-rps", "0",
                                                    "--webhook-token-file", str(token)))
        alertmanagers = stack.enter_context(_cluster(receiver.url + "/alertmanager/webhook", token))
        wait_for(lambda: all(_cluster_size(am) == len(alertmanagers) for am in alertmanagers), 20,
                 "the Alertmanagers to form one cluster")
        addresses = [am.url.removeprefix("http://") for am in alertmanagers]
        base = alerting.prometheus_config(down_target, addresses[0], SCENARIO)
        for replica in ("a", "b"):
            stack.enter_context(run_prometheus(merged(base, ha_addition(replica, addresses)), rules))
        wait_for(lambda: _target_down(receiver), 60, "a TargetDown notification")
        time.sleep(3 * PEER_TIMEOUT_S)  # the second Alertmanager's turn has come and gone
        notified = _target_down(receiver)
    assert len(notified) == 1, f"expected one TargetDown notification with one alert, got {notified}"
    labels = notified[0]["labels"]
    assert REPLICA_LABEL not in labels and labels["e2e_scenario"] == SCENARIO, labels


@pytest.mark.parametrize("name", ["alertmanager-a", "alertmanager-b"])
def test_each_alertmanager_peers_with_the_other(name: str) -> None:
    flags = doc_block(SCALING_DOC, "alertmanager-cluster")
    peers = [f.split("=", 1)[1].rsplit(":", 1)[0] for f in flags[name] if f.startswith("--cluster.peer=")]
    assert peers == [other for other in flags if other != name]
