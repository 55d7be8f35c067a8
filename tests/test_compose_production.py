"""The production stack: docker-compose.production.yml merged over docker-compose.yml (as
`docker compose -f ... -f ...` merges them; tests/support/compose.py) runs no mock fleet, keeps its
data apart from the demo's, exports the configuration the rules read, and hands Alertmanager the
receivers its `secrets` job renders from .env. The demo checks of test_stack_config.py and
test_compose_hardening.py hold for the merged model too.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_exporter import stack_receivers
from llm_exporter.settings import Settings
from tests import test_stack_config as stack
from tests.support import compose
from tests.test_alertmanager import amtool
from tests.test_stack_config import command_list, flag_value, interpolate, mount_for, parse_duration_hours

ROOT = stack.ROOT
BASE, OVERRIDE = ROOT / "docker-compose.yml", ROOT / "docker-compose.production.yml"
COMMAND = "docker compose -f docker-compose.yml -f docker-compose.production.yml up -d"
DEMO = yaml.safe_load(BASE.read_text())
MERGED = compose.load(BASE, OVERRIDE)
SERVICES: dict[str, dict[str, Any]] = MERGED["services"]
RECEIVER_VARIABLES = {*(name.upper() for name in stack_receivers.SECRETS), *stack_receivers.SMTP_REQUIRED,
                      "SMTP_USERNAME"}


def env(service: dict[str, Any]) -> dict[str, str]:
    return {key: interpolate(str(value)) for key, value in service.get("environment", {}).items()}


def test_the_merge_follows_compose() -> None:
    """The merge helper on the spec's own examples: mappings merged, command replaced, volumes by target."""
    base = {"services": {"a": {"command": ["x"], "volumes": ["v:/data", "./c:/etc/c:ro"], "dns": ["1.1.1.1"],
                               "environment": {"A": "1", "B": "2"}}}}
    override = {"services": {"a": {"command": ["y"], "volumes": ["./d:/etc/c:ro"], "dns": ["8.8.8.8"],
                                   "environment": {"B": "3"}}}}
    got = compose.merge(base, override)["services"]["a"]
    assert got == {"command": ["y"], "volumes": ["v:/data", "./d:/etc/c:ro"], "dns": ["1.1.1.1", "8.8.8.8"],
                   "environment": {"A": "1", "B": "3"}}


def test_override_only_adjusts_services_of_the_demo() -> None:
    override = yaml.safe_load(OVERRIDE.read_text())
    assert set(override["services"]) <= set(DEMO["services"]), "production adds no service of its own"
    assert set(SERVICES) == set(DEMO["services"])


def test_production_is_a_project_of_its_own() -> None:
    """Its own containers and named volumes: the demo's simulated history never reaches production."""
    assert MERGED["name"] != DEMO["name"] and re.fullmatch(r"[a-z0-9][a-z0-9_-]*", MERGED["name"])
    assert MERGED["volumes"] == DEMO["volumes"]


def test_no_service_runs_the_mock_fleet() -> None:
    modes = {name: env(service)["LLM_EXPORTER_MODE"] for name, service in SERVICES.items()
             if "LLM_EXPORTER_MODE" in service.get("environment", {})}
    assert modes == {"exporter": "config", "gpu-exporter": "real", "proxy": "proxy"}
    exporter = SERVICES["exporter"]
    assert not exporter.get("profiles"), "the configuration is exported by a plain `up`"
    for variable, name in (("LLM_EXPORTER_PRICING_FILE", "pricing.yaml"), ("LLM_EXPORTER_BUDGETS_FILE", "budgets.yaml"),
                           ("LLM_EXPORTER_OBJECTIVES_FILE", "objectives.yaml")):
        path = env(exporter)[variable]
        assert stack.host_path(exporter, path) == (ROOT / "exporter" / "config" / name).resolve(), variable


@pytest.mark.parametrize("check", [
    stack.test_every_bind_mount_source_exists, stack.test_config_bind_mounts_are_read_only,
    stack.test_depends_on_conditions_are_satisfiable, stack.test_healthchecks_only_where_the_image_can_run_them,
    stack.test_exporter_services_build_the_same_image, stack.test_prometheus_command, stack.test_grafana_service,
], ids=lambda check: check.__name__)
def test_the_demo_checks_hold_for_production(check) -> None:
    check(SERVICES)


def test_images_and_volumes_as_in_the_demo() -> None:
    for name, service in SERVICES.items():
        assert service["image"] == DEMO["services"][name]["image"], name
    stack.test_every_named_volume_is_declared(MERGED, SERVICES)


def test_variables_are_documented_and_secrets_have_no_default() -> None:
    text = OVERRIDE.read_text()
    stack.test_env_example_documents_every_variable(text)
    stack.test_compose_interpolates_with_env_example(text)
    stack.test_compose_dollar_signs_are_variables_or_escaped(text)
    secrets_env = SERVICES["secrets"]["environment"]
    assert set(secrets_env) >= RECEIVER_VARIABLES, RECEIVER_VARIABLES - set(secrets_env)
    for variable in RECEIVER_VARIABLES:
        assert secrets_env[variable] == f"${{{variable}:-}}", variable


def test_alertmanager_loads_what_the_secrets_job_renders() -> None:
    job, alertmanager = SERVICES["secrets"], SERVICES["alertmanager"]
    argv = job["entrypoint"]
    assert argv[:4] == ["python", "-m", "llm_exporter.stack_secrets", "/run/secrets/llm"]
    rendered = f"{argv[3]}/{stack_receivers.CONFIG_NAME}"
    command = command_list(alertmanager)
    assert flag_value(command, "--config.file") == rendered
    assert flag_value(command, "--storage.path") == stack.DATA_DIRS["alertmanager"]
    assert "--cluster.listen-address=" in command
    for service in (job, alertmanager):
        assert mount_for(service, rendered)[:3] == ("volume", "llm-secrets", "/run/secrets/llm")  # type: ignore[index]
    shipped = argv[argv.index("--alertmanager-config") + 1]
    assert stack.host_path(job, shipped) == (ROOT / "alertmanager" / "alertmanager.yml").resolve()
    templates = stack.host_path(alertmanager, "/etc/alertmanager/templates")
    assert templates == (ROOT / "alertmanager" / "templates").resolve()
    given = argv[argv.index("--secrets-input") + 1]
    assert mount_for(job, given) == ("bind", "./secrets", given, True)
    assert alertmanager["depends_on"]["secrets"] == {"condition": "service_completed_successfully", "restart": True}


def test_the_job_as_compose_runs_it_renders_a_config_amtool_accepts(tmp_path: Path) -> None:
    """The merged entrypoint, its container paths mapped to their sources, with a .env's receivers."""
    job = SERVICES["secrets"]
    volume = tmp_path / "llm-secrets"
    volume.mkdir()
    paths = {"/run/secrets/llm": str(volume), **{target: str(stack.host_path(job, target))
                                                 for target in ("/etc/alertmanager/alertmanager.yml",
                                                                "/run/secrets/input")}}
    argv = [paths.get(arg, arg) for arg in job["entrypoint"][1:]]
    dotenv = {"PAGERDUTY_ROUTING_KEY": "0123456789abcdef0123456789abcdef",
              "SLACK_WEBHOOK_URL": "https://hooks.slack.com/services/T0/B0/X"}
    result = subprocess.run([sys.executable, *argv], env={"PATH": "/usr/bin:/bin", **dotenv}, capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0, result.stderr
    rendered = volume / stack_receivers.CONFIG_NAME
    text = rendered.read_text()
    # the rendered file names its files by the job's paths, which are the container paths
    in_container = text.replace(str(volume), "/run/secrets/llm")
    in_container = in_container.replace(str(ROOT / "alertmanager"), "/etc/alertmanager")
    config = yaml.safe_load(in_container)
    pager = next(r for r in config["receivers"] if r["name"] == "pager")
    assert pager["pagerduty_configs"][0]["routing_key_file"] == "/run/secrets/llm/pagerduty_routing_key"
    assert config["templates"] == ["/etc/alertmanager/templates/*.tmpl"]
    check = subprocess.run([amtool(), "check-config", str(rendered)], capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stdout + check.stderr


def test_proxy_streams_get_their_drain_time() -> None:
    """Docker stops a container after stop_grace_period (10 s by default): the proxy's must cover
    the exporter's --shutdown-timeout, so `docker compose stop` lets long streams finish."""
    for services in (DEMO["services"], SERVICES):
        grace_s = parse_duration_hours(services["proxy"]["stop_grace_period"]) * 3600
        assert grace_s > Settings().shutdown_timeout, grace_s
        assert "LLM_EXPORTER_SHUTDOWN_TIMEOUT" not in services["proxy"]["environment"]


def test_the_docs_give_the_one_command() -> None:
    readme, guide = (ROOT / "README.md").read_text(), (ROOT / "docs" / "production.md").read_text()
    assert COMMAND in readme and COMMAND in guide and COMMAND in OVERRIDE.read_text()
    assert "COMPOSE_FILE=docker-compose.yml:docker-compose.production.yml" in (ROOT / ".env.example").read_text()


def test_the_backup_table_names_every_volume_as_compose_names_it() -> None:
    """docs/production.md's volumes are `<project>_<volume>`, the names `docker run -v` needs."""
    guide = (ROOT / "docs" / "production.md").read_text()
    for volume in MERGED["volumes"]:
        assert f"`{MERGED['name']}_{volume}`" in guide or f"`..._{volume}`" in guide, volume
    assert f"{MERGED['name']}_prometheus-data:/prometheus" in guide
    assert "--web.enable-admin-api" not in stack.command_list(SERVICES["prometheus"])
