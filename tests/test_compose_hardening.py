"""Safe defaults in docker-compose.yml, checked on the file itself: non-root users, no
capabilities, no-new-privileges, read-only root filesystems with tmpfs for scratch, memory limits,
ports on 127.0.0.1 unless the user opts in, no default password, and the generated secrets wired
to exactly the services that use them (the README says where to read the Grafana password)."""

from __future__ import annotations

import os
import re
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from llm_exporter import stack_secrets
from tests.test_stack_config import interpolate, mount_for, parse_volume

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = yaml.safe_load((ROOT / "docker-compose.yml").read_text())
SERVICES: dict[str, dict[str, Any]] = COMPOSE["services"]
SECRETS_DIR = "/run/secrets/llm"
# Where each service writes: its named volume (test_stack_config checks those), plus /tmp.
WRITABLE = {"secrets": SECRETS_DIR, "prometheus": "/prometheus", "alertmanager": "/alertmanager", "loki": "/loki",
            "tempo": "/var/tempo", "grafana": "/var/lib/grafana", "victoriametrics": "/var/tmp"}
MEMORY = re.compile(r"(\d+)([kmg])")


def memory_bytes(text: str) -> int:
    number, unit = MEMORY.fullmatch(str(text).lower()).groups()  # type: ignore[union-attr]
    return int(number) * 1024 ** "kmg".index(unit) * 1024


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_is_locked_down(name: str) -> None:
    service = SERVICES[name]
    assert service.get("cap_drop") == ["ALL"], f"{name}: cap_drop [ALL]"
    assert "cap_add" not in service, f"{name}: no capability is needed (every port is above 1024)"
    assert "no-new-privileges:true" in service.get("security_opt", []), f"{name}: no-new-privileges"
    assert service.get("read_only") is True, f"{name}: read-only root filesystem"
    assert any(str(t).split(":")[0] == "/tmp" for t in service.get("tmpfs", [])), f"{name}: tmpfs /tmp"
    assert not service.get("privileged") and service.get("network_mode") != "host", name


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_runs_as_a_non_root_user(name: str) -> None:
    user = str(SERVICES[name].get("user", ""))
    assert user, f"{name}: set `user` explicitly (the image's own non-root user)"
    uid, _, gid = user.partition(":")
    assert uid.isdigit() and int(uid) != 0, f"{name}: user {user!r} is root or not numeric"
    assert not gid or gid.isdigit(), name


def test_the_exporter_image_user_is_the_compose_user() -> None:
    dockerfile = (ROOT / "exporter" / "Dockerfile").read_text()
    uid = re.search(r"useradd [^\n]*--uid (\d+)[^\n]* exporter", dockerfile).group(1)  # type: ignore[union-attr]
    assert re.search(r"^USER exporter$", dockerfile, re.MULTILINE)
    for name in ("secrets", "exporter", "gpu-exporter", "proxy"):
        assert str(SERVICES[name]["user"]) == uid, name
    assert f"chown exporter {SECRETS_DIR}" in dockerfile, "a new llm-secrets volume must be writable by `secrets`"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_every_service_has_a_memory_limit(name: str) -> None:
    limit = SERVICES[name].get("mem_limit")
    assert limit, f"{name}: mem_limit"
    assert 64 * 2**20 <= memory_bytes(limit) <= 4 * 2**30, f"{name}: {limit}"


@pytest.mark.parametrize("name", sorted(SERVICES))
def test_only_volumes_and_tmpfs_are_writable(name: str) -> None:
    service = SERVICES[name]
    for entry in service.get("volumes", []):
        kind, source, target, read_only = parse_volume(entry)
        if not read_only:
            assert kind == "volume" and target == WRITABLE.get(name), f"{name}: writable {source} -> {target}"


def test_published_ports_stay_on_localhost_unless_the_user_opts_in() -> None:
    published = 0
    for name, service in SERVICES.items():
        for port in service.get("ports", []):
            published += 1
            text = str(port)
            assert text.startswith("${LLM_OBS_BIND_ADDRESS:-127.0.0.1}:"), f"{name}: {text}"
            assert interpolate(text).startswith("127.0.0.1:")
            assert interpolate(text, {"LLM_OBS_BIND_ADDRESS": "0.0.0.0"}).startswith("0.0.0.0:")
    assert published >= 8


def test_no_password_has_a_default() -> None:
    text = (ROOT / "docker-compose.yml").read_text()
    for match in re.finditer(r"\$\{([A-Z_]*(?:PASSWORD|TOKEN|SECRET|KEY)[A-Z_]*)(:?-)([^}]*)\}", text):
        assert match.group(3) == "", f"{match.group(1)} has a default: {match.group(0)}"
    grafana = SERVICES["grafana"]["environment"]
    assert "GF_SECURITY_ADMIN_PASSWORD" not in grafana
    assert grafana["GF_SECURITY_ADMIN_PASSWORD__FILE"] == f"{SECRETS_DIR}/{stack_secrets.GRAFANA_PASSWORD}"
    assert "GRAFANA_ADMIN_PASSWORD=" in (ROOT / ".env.example").read_text()
    assert re.search(r"^GRAFANA_ADMIN_PASSWORD=$", (ROOT / ".env.example").read_text(), re.MULTILINE), (
        ".env.example must not suggest a password: an empty one is generated")


def test_secrets_are_generated_once_and_wired_where_they_are_used() -> None:
    job = SERVICES["secrets"]
    assert job["restart"] == "no" and job["entrypoint"] == ["python", "-m", "llm_exporter.stack_secrets",
                                                              SECRETS_DIR]
    assert mount_for(job, SECRETS_DIR)[:2] == ("volume", "llm-secrets")  # type: ignore[index]
    readers = {"exporter", "gpu-exporter", "alertmanager", "grafana"}
    for name, service in SERVICES.items():
        mount = mount_for(service, SECRETS_DIR)
        if name in readers:
            assert mount and mount[1] == "llm-secrets" and mount[3], f"{name}: llm-secrets read-only"
            assert service["depends_on"]["secrets"]["condition"] == "service_completed_successfully", name
        elif name != "secrets":
            assert mount is None, f"{name} does not need the secrets"
    token = f"{SECRETS_DIR}/{stack_secrets.WEBHOOK_TOKEN}"
    for name in ("exporter", "gpu-exporter"):
        assert SERVICES[name]["environment"]["LLM_EXPORTER_WEBHOOK_TOKEN_FILE"] == token
    assert "LLM_EXPORTER_WEBHOOK_TOKEN_FILE" not in SERVICES["proxy"]["environment"]
    alertmanager = yaml.safe_load((ROOT / "alertmanager" / "alertmanager.yml").read_text())
    hooks = [hook for receiver in alertmanager["receivers"] for hook in receiver.get("webhook_configs", [])]
    assert hooks and all(hook["http_config"]["authorization"]["credentials_file"] == token for hook in hooks)
    assert all(hook["max_alerts"] <= 1000 for hook in hooks)


def test_readme_says_where_the_generated_password_is() -> None:
    readme = (ROOT / "README.md").read_text()
    assert stack_secrets.READ_COMMAND in readme
    assert "password `admin`" not in readme and "admin/admin" not in readme
    assert stack_secrets.READ_COMMAND in (ROOT / ".env.example").read_text()


# -- the generator itself -----------------------------------------------------------------------


def test_secrets_are_generated_kept_and_never_printed(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "GRAFANA_ADMIN_PASSWORD"}
    first = subprocess.run([sys.executable, "-m", "llm_exporter.stack_secrets", str(tmp_path)], env=env,
                           capture_output=True, text=True, timeout=30)
    assert first.returncode == 0, first.stderr
    token = (tmp_path / stack_secrets.WEBHOOK_TOKEN).read_text().strip()
    password = (tmp_path / stack_secrets.GRAFANA_PASSWORD).read_text().strip()
    assert len(token) >= 32 and len(password) >= 16 and token != password
    assert token not in first.stdout + first.stderr and password not in first.stdout + first.stderr
    assert stack_secrets.READ_COMMAND in first.stdout
    for name in (stack_secrets.WEBHOOK_TOKEN, stack_secrets.GRAFANA_PASSWORD):
        mode = stat.S_IMODE((tmp_path / name).stat().st_mode)
        assert mode == 0o444, oct(mode)  # read by three services under their own uids, written by none
    second = subprocess.run([sys.executable, "-m", "llm_exporter.stack_secrets", str(tmp_path)],
                            env={**env, "GRAFANA_ADMIN_PASSWORD": "my-own-password"}, capture_output=True,
                            text=True, timeout=30)
    assert second.returncode == 0
    assert (tmp_path / stack_secrets.WEBHOOK_TOKEN).read_text().strip() == token, "the token is kept"
    assert (tmp_path / stack_secrets.GRAFANA_PASSWORD).read_text().strip() == "my-own-password"
    assert "my-own-password" not in second.stdout + second.stderr
    assert not list(tmp_path.glob(".*.tmp"))


def test_secrets_in_an_unwritable_directory_fail_with_a_message(tmp_path: Path) -> None:
    target = tmp_path / "missing" / "dir"
    result = subprocess.run([sys.executable, "-m", "llm_exporter.stack_secrets", str(target)],
                            capture_output=True, text=True, timeout=30)
    assert result.returncode == 1 and "cannot write secrets" in result.stderr and "Traceback" not in result.stderr
