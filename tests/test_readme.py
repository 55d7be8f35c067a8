"""The README's claims: every port, file path, make target, command, alert, scenario and dashboard
it names exists, its Quickstart is exactly two commands, and its diagram matches the compose file."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import yaml

from llm_exporter.mock.scenarios import SCENARIOS
from llm_exporter.settings import build_parser
from prometheus import generator

REPO = Path(__file__).resolve().parents[1]
NOT_ALERTS = {"LLMCall", "LLMObservability"}  # identifiers in the docs that are not alert names
README = (REPO / "README.md").read_text()
COMPOSE = yaml.safe_load((REPO / "docker-compose.yml").read_text())


def section(title: str) -> str:
    match = re.search(rf"^## {re.escape(title)}\n(.*?)(?=^## |\Z)", README, re.MULTILINE | re.DOTALL)
    assert match, f"README has no '## {title}' section"
    return match.group(1)


def code_blocks(text: str) -> list[str]:
    return re.findall(r"```(?:sh|bash)\n(.*?)```", text, re.DOTALL)


def test_quickstart_is_exactly_the_two_commands() -> None:
    (block,) = code_blocks(section("Quickstart"))
    commands = [line.strip() for line in block.splitlines() if line.strip()]
    assert commands == ["docker compose up -d", "make test"]


def test_diagram_nodes_are_the_compose_services() -> None:
    diagram = re.search(r"```mermaid\n(.*?)```", README, re.DOTALL).group(1)
    nodes = set(re.findall(r"^\s+([a-z][a-z-]*)\[", diagram, re.MULTILINE))
    assert nodes == set(COMPOSE["services"])
    for service, spec in COMPOSE["services"].items():
        for port in spec.get("ports", []):
            published = str(port).split(":")[-2]
            assert re.search(rf'{re.escape(service)}\[".*:{published}\b', diagram) or \
                re.search(rf'{re.escape(service)}\[".*\b{published}\b', diagram), f"{service} port {published}"


def compose_published_ports() -> set[str]:
    ports = set()
    for spec in COMPOSE["services"].values():
        for port in spec.get("ports", []):
            ports.add(str(port).split(":")[-2])
    return ports


def test_every_port_named_is_published_by_compose() -> None:
    named = set(re.findall(r"(?:localhost|127\.0\.0\.1):(\d{4,5})", README))
    named |= set(re.findall(r"on (\d{4}) \(gRPC\) and (\d{4})", README)[0])
    assert named, "the README names ports"
    assert named <= compose_published_ports(), named - compose_published_ports()


def test_every_file_path_named_exists() -> None:
    candidates = set(re.findall(r"`([A-Za-z0-9_.\-]+(?:/[A-Za-z0-9_.\-*]*)+)`", README))
    candidates |= set(re.findall(r"\]\(((?:docs|exporter|prometheus|grafana|alertmanager)/[^)#]+)\)", README))
    paths = {c for c in candidates if not c.startswith(("/", "http")) and "…" not in c}
    assert len(paths) > 10
    missing = []
    for path in sorted(paths):
        if "*" in path:
            if not list(REPO.glob(path)):
                missing.append(path)
        elif not (REPO / path.rstrip("/")).exists():
            missing.append(path)
    assert not missing, missing


def makefile_targets() -> set[str]:
    return set(re.findall(r"^([a-z][a-z0-9-]*):", (REPO / "Makefile").read_text(), re.MULTILINE))


def test_every_make_target_named_exists() -> None:
    named = set(re.findall(r"\bmake ([a-z][a-z0-9-]*)", README))
    assert {"test", "run", "demo", "smoke", "check"} <= named
    assert named <= makefile_targets(), named - makefile_targets()


def test_exporter_flags_and_endpoints_named_exist() -> None:
    flags = {option for action in build_parser()._actions for option in action.option_strings}
    for flag in re.findall(r"llm-exporter[^`\n]*?(--[a-z-]+)", README):
        assert flag in flags, flag
    for path in re.findall(r"localhost:9101(/[a-z/_]+)", README) + re.findall(r"`(/[a-z/_]+)`", README):
        if path.startswith(("/v1", "/otlp", "/etc", "/run/", "/d/")):
            continue
        assert path in {"/metrics", "/mock/scenario", "/alertmanager/notifications", "/alertmanager/webhook",
                        "/healthz", "/readyz", "/docs"}, path


def test_compose_commands_and_profiles_named_exist() -> None:
    profiles = {p for spec in COMPOSE["services"].values() for p in spec.get("profiles", [])}
    for profile in re.findall(r"--profile ([a-z]+)", README):
        assert profile in profiles, profile
    variables = set(re.findall(r"\b(LLM_[A-Z_]+|GRAFANA_[A-Z_]+)\b", README)) - {"LLM_EXPORTER_"}
    env_example = (REPO / ".env.example").read_text() + (REPO / "docker-compose.yml").read_text()
    for variable in variables:
        if variable.startswith("LLM_EXPORTER_"):
            continue
        assert variable in env_example, variable


def test_alerts_scenarios_and_dashboards_named_exist() -> None:
    alerts = {alert.name for alert in generator.alerts()}
    named_alerts = set(re.findall(r"\b((?:LLM|Target|Alertmanager)[A-Z][A-Za-z0-9]+)\b", README))
    assert named_alerts and named_alerts <= alerts, named_alerts - alerts
    for doc in (REPO / "docs").glob("*.md"):  # the docs name only alerts that exist, too
        in_doc = set(re.findall(r"\b((?:LLM|TargetDown|Alertmanager)[A-Z][A-Za-z0-9]+)\b", doc.read_text()))
        assert in_doc <= alerts | NOT_ALERTS, (doc.name, in_doc - alerts - NOT_ALERTS)
    table_alerts = set(re.findall(r"^\| `([A-Za-z0-9]+)` \|", section("Alerts"), re.MULTILINE))
    assert table_alerts == alerts, "the Alerts table lists every shipped alert"
    scenarios = set(re.findall(r"^\| `([a-z_]+)` \|", section("Mock scenarios"), re.MULTILINE))
    assert scenarios == set(SCENARIOS)
    uids = {p.stem for p in (REPO / "grafana" / "dashboards").glob("*.json")}
    assert set(re.findall(r"/d/(llm-[a-z-]+)", section("Dashboards"))) == uids


def test_virtualenv_commands_named_run_after_make_venv() -> None:
    """`.venv/bin/...` commands in the README exist once `make venv` has run, and succeed."""
    commands = re.findall(r"`(\.venv/bin/[^`]+)`", README)
    assert ".venv/bin/llm-exporter --help" in commands
    for command in commands:
        result = subprocess.run(command.split(), cwd=REPO, capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, (command, result.stderr)


def test_target_files_the_readme_has_you_create_stay_out_of_git() -> None:
    """`cp prometheus/targets/<name>.yml.example prometheus/targets/<name>.yml`: the example exists,
    and the copy (your own hosts) is ignored by git."""
    copies = re.findall(r"cp (prometheus/targets/[a-z-]+\.yml\.example) (prometheus/targets/[a-z-]+\.yml)", README)
    assert len(copies) >= 3
    for example, copy in copies:
        assert (REPO / example).is_file(), example
        ignored = subprocess.run(["git", "check-ignore", "-q", copy], cwd=REPO)
        assert ignored.returncode == 0, f"{copy} is not ignored by git"
