"""What `make demo` adds to the running stack, and takes away again.

- A time-compressed copy of the alert rules, `prometheus/demo/time-compressed.yml`, which
  prometheus.yml loads through its `demo/*.yml` rule_files entry once Prometheus reloads. Every
  alert about the LLM traffic that waits (`for:`) waits a twentieth as long in the copy (10m ->
  30s); its expression, labels and annotations are the generator's, plus the label
  demo="time-compressed". The shipped rules keep running beside the copy.
- A target file, `prometheus/targets/demo-sources.yml`: Prometheus scrapes the mock exporter's
  vLLM and LiteLLM pages (`/sources/<name>/metrics`) as the jobs `vllm` and `litellm`.

Both files start with MARKER. A file without it is someone else's: the demo neither overwrites
nor removes it.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import requests
import yaml

from prometheus import generator
from prometheus.generator import capability
from prometheus.generator import config as cfg
from prometheus.generator.model import Alert

FOR_DIVISOR = 20
DEMO_LABEL, DEMO_VALUE = "demo", "time-compressed"
RULES_FILE = Path("demo") / "time-compressed.yml"  # relative to the Prometheus config directory
TARGETS_FILE = Path("targets") / "demo-sources.yml"
GROUP = "demo-time-compressed"
SOURCES = ("vllm", "litellm")  # a vLLM fleet behind a LiteLLM gateway: the mock serves both pages
MARKER = "# Written by `make demo` (scripts/demo.py) while it runs; it removes this file when it ends.\n"


class DemoError(RuntimeError):
    """Something the demo cannot do to this stack, said so that a person can fix it."""


def compressed_for(duration: str) -> str:
    """A `for:` divided by FOR_DIVISOR, in whole seconds (at least one)."""
    return f"{max(1, cfg.seconds(duration) // FOR_DIVISOR)}s"


def compressed(alert: Alert) -> bool:
    """Whether the demo runs a time-compressed copy of `alert`: it waits, and the LLM traffic
    drives it (the alerts about the stack itself, TargetDown and the like, are left as shipped)."""
    return bool(alert.for_) and bool(capability.alert_sources(alert))


def compressed_rules() -> dict:
    """The rule file of the copies, from the generator's own alerts."""
    rules = []
    for alert in filter(compressed, generator.alerts()):
        shipped = alert.to_yaml()
        rules.append({
            "alert": alert.name,
            "expr": str(shipped["expr"]),
            "for": compressed_for(alert.for_ or ""),
            "labels": {**shipped["labels"], DEMO_LABEL: DEMO_VALUE},
            "annotations": {key: str(value) for key, value in shipped["annotations"].items()},
        })
    return {"groups": [{"name": GROUP, "rules": rules}]}


def sources_targets(exporter_address: str) -> list[dict]:
    """file_sd target groups: the mock exporter's page of each source, as that source's job."""
    return [{"targets": [exporter_address], "labels": {"job": name, "__metrics_path__": f"/sources/{name}/metrics"}}
            for name in SOURCES]


def write_owned(path: Path, document: object) -> None:
    """Write `document` as YAML after MARKER, readable by the container's user (Prometheus runs
    as nobody). Refuses to replace a file that is not the demo's."""
    if path.exists() and not _owned(path):
        raise DemoError(f"{path} exists and was not written by the demo: move it away and run the demo again")
    path.parent.mkdir(parents=True, exist_ok=True)
    os.chmod(path.parent, 0o755)
    path.write_text(MARKER + yaml.safe_dump(document, sort_keys=False, width=1000))
    os.chmod(path, 0o644)


def remove_owned(path: Path) -> bool:
    """Remove the demo's file; True when there was one."""
    if path.exists() and _owned(path):
        path.unlink()
        return True
    return False


def _owned(path: Path) -> bool:
    with path.open(errors="replace") as handle:
        return handle.readline() == MARKER.rstrip("\n") + "\n"


@dataclass
class Prometheus:
    url: str

    def get(self, path: str, **params: str) -> dict:
        response = requests.get(self.url + path, params=params, timeout=10)
        response.raise_for_status()
        return response.json()["data"]

    def query(self, expr: str) -> list[dict]:
        return self.get("/api/v1/query", query=expr)["result"]

    def alerts(self) -> list[dict]:
        return self.get("/api/v1/alerts")["alerts"]

    def external_labels(self) -> dict[str, str]:
        """The labels Prometheus adds to every alert it sends (global.external_labels)."""
        config = yaml.safe_load(self.get("/api/v1/status/config")["yaml"])
        return dict(config.get("global", {}).get("external_labels") or {})

    def rule_groups(self) -> list[str]:
        return [group["name"] for group in self.get("/api/v1/rules")["groups"]]

    def reload(self) -> None:
        """POST /-/reload (compose starts Prometheus with --web.enable-lifecycle)."""
        try:
            response = requests.post(self.url + "/-/reload", timeout=60)
        except requests.RequestException as exc:
            raise DemoError(f"Prometheus did not answer the reload ({exc.__class__.__name__})") from None
        if not response.ok:
            raise DemoError(f"Prometheus refused to reload ({response.status_code}: {response.text.strip()[:300]}); "
                            "it needs --web.enable-lifecycle, as docker-compose.yml starts it")

    def scrape_address(self, job: str) -> str:
        """The address Prometheus scrapes `job` at (exporter:9101 in compose)."""
        for target in self.get("/api/v1/targets", state="active")["activeTargets"]:
            if target["labels"].get("job") == job:
                return target["discoveredLabels"]["__address__"]
        raise DemoError(f"Prometheus has no scrape target of job {job!r}: is it the compose stack's Prometheus?")


def load_compressed_rules(prometheus: Prometheus, config_dir: Path) -> int:
    """Write the copies, reload, and check that Prometheus evaluates them: the number of rules."""
    document = compressed_rules()
    write_owned(config_dir / RULES_FILE, document)
    prometheus.reload()
    if GROUP not in prometheus.rule_groups():
        raise DemoError(f"Prometheus reloaded but does not evaluate {config_dir / RULES_FILE}: it reads another "
                        "directory (run the demo from the checkout compose was started in, or give "
                        "--prometheus-dir), or its prometheus.yml lacks the `demo/*.yml` rule_files entry")
    return len(document["groups"][0]["rules"])


def unload_compressed_rules(prometheus: Prometheus, config_dir: Path) -> bool:
    """Remove the copies and reload; True when Prometheus no longer evaluates them."""
    remove_owned(config_dir / RULES_FILE)
    prometheus.reload()
    return GROUP not in prometheus.rule_groups()
