"""The exporter as a package and an image: console script, Dockerfile rules, make targets."""

from __future__ import annotations

import re
import subprocess
from importlib.metadata import entry_points
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def test_console_script_is_installed() -> None:
    (script,) = [e for e in entry_points(group="console_scripts") if e.name == "llm-exporter"]
    assert script.value == "llm_exporter.cli:main"
    result = subprocess.run([str(REPO / ".venv" / "bin" / "llm-exporter"), "--help"], capture_output=True,
                            text=True, timeout=30)
    assert result.returncode == 0 and "--mode {mock,real,proxy}" in result.stdout


def final_stage(dockerfile: str) -> str:
    return re.split(r"^FROM ", dockerfile, flags=re.MULTILINE)[-1]


def test_dockerfile_final_image_is_slim_non_root_with_healthcheck() -> None:
    text = (REPO / "exporter" / "Dockerfile").read_text()
    final = final_stage(text)
    base = final.splitlines()[0]
    assert re.match(r"python:\d+\.\d+-slim", base), base
    assert not re.search(r"\b(gcc|g\+\+|build-essential|clang|make)\b", final), "no compilers in the final image"
    user = re.search(r"^USER (\S+)", final, re.MULTILINE)
    assert user and user.group(1) not in ("root", "0")
    assert re.search(r"^HEALTHCHECK .*CMD", final, re.MULTILINE | re.DOTALL)
    assert "LLM_EXPORTER_HOST=0.0.0.0" in final and "LLM_EXPORTER_MODE=mock" in final
    assert "LLM_EXPORTER_PORT=9101" in final


def test_make_run_starts_mock_mode_without_containers() -> None:
    result = subprocess.run(["make", "-n", "run"], cwd=REPO, capture_output=True, text=True, timeout=30)
    assert result.returncode == 0
    assert "llm-exporter --mode mock" in result.stdout and "docker" not in result.stdout
