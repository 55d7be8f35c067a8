"""What the bundle packages, read from the files the compose stack mounts.

Rule files and dashboards are the committed generated files (their drift tests prove they are
what prometheus/generator and grafana/generator write); the exporter's environment and config
mount come from docker-compose.yml, the datasources and the dashboard folder from Grafana's
provisioning files, the scrape interval from prometheus/prometheus.yml. Nothing is copied here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from grafana import generator as dashboards_generator
from prometheus import generator as rules_generator

REPO = Path(__file__).resolve().parents[1]
COMPOSE_FILE = REPO / "docker-compose.yml"
PROMETHEUS_CONFIG = REPO / "prometheus" / "prometheus.yml"
TARGETS_DIR = REPO / "prometheus" / "targets"
RULES_DIR = REPO / "prometheus" / "rules"
DASHBOARDS_DIR = dashboards_generator.OUTPUT_DIR
DATASOURCES_FILE = REPO / "grafana" / "provisioning" / "datasources" / "datasources.yaml"
DASHBOARD_PROVIDER_FILE = REPO / "grafana" / "provisioning" / "dashboards" / "dashboards.yaml"
EXPORTER_CONFIG_DIR = REPO / "exporter" / "config"

# `${NAME:-default}` / `${NAME-default}` in compose: the bundle takes the default.
_COMPOSE_VARIABLE = re.compile(r"\$\{(?P<name>\w+)(?::?-(?P<default>[^}]*))?\}")


class SourceError(ValueError):
    """A shared source file does not have the shape the bundle relies on."""


def _load(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text())
    except (OSError, yaml.YAMLError) as exc:
        raise SourceError(f"{path.relative_to(REPO)}: {exc}") from exc


# -- Prometheus --------------------------------------------------------------------------------


@dataclass(frozen=True)
class RuleFileSource:
    name: str  # file name under prometheus/rules/
    groups: list[dict[str, Any]]


def rule_files() -> list[RuleFileSource]:
    """Every shipped rule file, in the generator's order, as parsed from the committed YAML."""
    out = []
    for rule_file in rules_generator.rule_files():
        path = RULES_DIR / rule_file.name
        document = _load(path)
        if not isinstance(document, dict) or not isinstance(document.get("groups"), list):
            raise SourceError(f"{path.relative_to(REPO)}: no `groups:` list")
        out.append(RuleFileSource(rule_file.name, document["groups"]))
    return out


def prometheus_config() -> dict[str, Any]:
    """prometheus/prometheus.yml, whole (its Prometheus-3-only settings included: the operator
    runs Prometheus 3)."""
    config = _load(PROMETHEUS_CONFIG)
    if not isinstance(config, dict):
        raise SourceError(f"{PROMETHEUS_CONFIG.relative_to(REPO)}: not a mapping")
    return config


def target_labels(file_name: str) -> dict[str, str]:
    """The labels of the one target entry of prometheus/targets/<file_name> (`job` included)."""
    path = TARGETS_DIR / file_name
    entries = _load(path)
    if not isinstance(entries, list) or len(entries) != 1 or not isinstance(entries[0].get("labels"), dict):
        raise SourceError(f"{path.relative_to(REPO)}: expected one target entry with labels")
    return {str(k): str(v) for k, v in entries[0]["labels"].items()}


def scrape_interval() -> str:
    return str(_load(PROMETHEUS_CONFIG).get("global", {}).get("scrape_interval", "1m"))


def scrape_timeout() -> str:
    return str(_load(PROMETHEUS_CONFIG).get("global", {}).get("scrape_timeout", "10s"))


# -- Grafana -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class DashboardSource:
    uid: str
    file_name: str
    text: str  # the committed JSON, byte for byte


def dashboards() -> list[DashboardSource]:
    """Every generated dashboard, as committed under grafana/dashboards/."""
    out = []
    for dashboard in dashboards_generator.dashboards():
        path = DASHBOARDS_DIR / f"{dashboard.uid}.json"
        if not path.exists():
            raise SourceError(f"{path.relative_to(REPO)} is missing: run `make dashboards`")
        out.append(DashboardSource(dashboard.uid, path.name, path.read_text()))
    return out


def datasources() -> list[dict[str, Any]]:
    document = _load(DATASOURCES_FILE)
    if not isinstance(document, dict) or not isinstance(document.get("datasources"), list):
        raise SourceError(f"{DATASOURCES_FILE.relative_to(REPO)}: no `datasources:` list")
    return document["datasources"]


def dashboard_folder() -> str:
    providers = _load(DASHBOARD_PROVIDER_FILE).get("providers") or []
    if len(providers) != 1 or not providers[0].get("folder"):
        raise SourceError(f"{DASHBOARD_PROVIDER_FILE.relative_to(REPO)}: expected one provider with a folder")
    return providers[0]["folder"]


# -- the exporter ------------------------------------------------------------------------------


@dataclass(frozen=True)
class ExporterService:
    """One exporter service of docker-compose.yml: its image, environment and config mount."""

    name: str
    image: str
    environment: dict[str, str]
    config_mount: str  # where ./exporter/config is mounted in the container

    @property
    def port(self) -> int:
        return int(self.environment["LLM_EXPORTER_PORT"])

    @property
    def mode(self) -> str:
        return self.environment["LLM_EXPORTER_MODE"]


def compose_default(value: object) -> str:
    """A compose value with every `${NAME:-default}` replaced by its default (empty without one)."""
    return _COMPOSE_VARIABLE.sub(lambda m: m.group("default") or "", str(value))


def _compose_services() -> dict[str, Any]:
    return (_load(COMPOSE_FILE) or {}).get("services") or {}


def compose_service(name: str) -> dict[str, Any]:
    services = _compose_services()
    if name not in services:
        raise SourceError(f"docker-compose.yml: no service {name!r}")
    return services[name]


def compose_service_names() -> set[str]:
    """Host names that only resolve inside the compose network."""
    return set(_compose_services())


def exporter_service(name: str) -> ExporterService:
    service = compose_service(name)
    environment = service.get("environment") or {}
    if isinstance(environment, list):  # the KEY=value list form
        environment = dict(item.split("=", 1) for item in environment)
    mounts = [str(v) for v in service.get("volumes") or [] if str(v).startswith("./exporter/config:")]
    if len(mounts) != 1:
        raise SourceError(f"docker-compose.yml: service {name!r} must mount ./exporter/config once")
    for key in ("LLM_EXPORTER_MODE", "LLM_EXPORTER_PORT"):
        if key not in environment:
            raise SourceError(f"docker-compose.yml: service {name!r} has no {key}")
    return ExporterService(
        name=name,
        image=compose_default(service["image"]),
        environment={key: compose_default(value) for key, value in environment.items()},
        config_mount=mounts[0].split(":")[1],
    )


def exporter_config_files() -> dict[str, str]:
    """File name -> text of every file compose mounts from exporter/config/."""
    return {path.name: path.read_text() for path in sorted(EXPORTER_CONFIG_DIR.glob("*.yaml"))}
