"""Prometheus configurations built from the shipped prometheus.yml, checked by promtool."""

from __future__ import annotations

import copy
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

PROMETHEUS_DIR = Path(__file__).resolve().parents[2] / "prometheus"


def merged(base: dict[str, Any], addition: dict[str, Any]) -> dict[str, Any]:
    """`base` with `addition` merged in: mappings merged key by key, anything else replaced."""
    out = copy.deepcopy(base)
    for key, value in addition.items():
        nested = isinstance(value, dict) and isinstance(out.get(key), dict)
        out[key] = merged(out[key], value) if nested else copy.deepcopy(value)
    return out


def check_config(config: dict[str, Any], tmp_path: Path) -> subprocess.CompletedProcess[str]:
    """`promtool check config` on `config`, placed where prometheus.yml lives (rule files resolve)."""
    promtool = shutil.which("promtool")
    if promtool is None:
        pytest.fail("promtool is not installed: run `make deps`")
    directory = tmp_path / "prometheus"
    shutil.copytree(PROMETHEUS_DIR, directory)
    (directory / "prometheus.yml").write_text(yaml.safe_dump(config, sort_keys=False))
    return subprocess.run([promtool, "check", "config", str(directory / "prometheus.yml")],
                          capture_output=True, text=True, timeout=120)
