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
    assert result.returncode == 0 and "--mode {mock,real,proxy,config}" in result.stdout


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


def test_every_extra_the_code_names_is_declared() -> None:
    """An optional part's error tells the user to install an extra: it must exist in pyproject.toml,
    and every declared extra (but `test`) is described in llm_exporter.extras."""
    import tomllib

    from llm_exporter import extras

    declared = set(tomllib.loads((REPO / "exporter" / "pyproject.toml").read_text())["project"]
                   ["optional-dependencies"]) - {"test"}
    source = "\n".join(p.read_text() for p in (REPO / "exporter" / "src").rglob("*.py"))
    named = set(re.findall(r'(?:require|MissingExtraError)\(\s*"([a-z]+)"', source))
    assert named and named <= declared, named - declared
    described = set(re.findall(r"^    ([a-z]+) {2,}", extras.__doc__ or "", re.MULTILINE))
    assert described == declared, described ^ declared
