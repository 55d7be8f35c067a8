"""The package as a user installs it: `python -m build` makes a wheel holding every module and the
default configs; installed alone (no extras) in a clean virtualenv it instruments a service, and
each optional part says which extra it needs."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.processes import REPO

sys.path.insert(0, str(REPO / "scripts"))
import footprint

# What the core must not pull in: the server, proxy, NVML, OpenTelemetry and HTTP client stacks.
OPTIONAL = {"fastapi", "fastapi-offline", "starlette", "uvicorn", "aiohttp", "uvloop", "httptools", "nvidia-ml-py",
            "openai", "httpx", "requests", "opentelemetry-api", "opentelemetry-sdk",
            "opentelemetry-exporter-otlp-proto-http"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    return footprint.build_wheel(tmp_path_factory.mktemp("dist"))


@pytest.fixture(scope="module")
def core_venv(wheel: Path, tmp_path_factory) -> Iterator[tuple[Path, list[str]]]:
    venv = tmp_path_factory.mktemp("core") / "venv"
    yield venv, footprint.install(wheel, venv)


def test_wheel_holds_every_module_and_the_default_configs(wheel: Path) -> None:
    names = set(zipfile.ZipFile(wheel).namelist())
    source = REPO / "exporter" / "src"
    modules = {str(p.relative_to(source)) for p in source.rglob("*.py")}
    assert modules <= names, sorted(modules - names)
    defaults = {f"llm_exporter/defaults/{p.name}" for p in (REPO / "exporter" / "config").glob("*.yaml")}
    assert {"llm_exporter/defaults/pricing.yaml", "llm_exporter/defaults/budgets.yaml"} <= defaults
    assert defaults <= names


def test_core_install_pulls_in_only_the_metrics_core(core_venv: tuple[Path, list[str]]) -> None:
    _, installed = core_venv
    assert {"llm-exporter", "prometheus-client", "pyyaml", "pydantic"} <= set(installed)
    assert not set(installed) & OPTIONAL, set(installed) & OPTIONAL


SERVICE = textwrap.dedent("""
    import json, os, sys, urllib.request
    from llm_exporter.instrument import configure, start_metrics_server, track_llm_call

    os.environ["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://127.0.0.1:1/v1/traces"  # no tracing extra here
    configure(app_id="tiny-service", department="engineering")
    server, _ = start_metrics_server(0, addr="127.0.0.1")

    @track_llm_call(provider="openai", model="gpt-4o-2024-08-06")
    def ask(prompt):
        return {"usage": {"prompt_tokens": 1000, "completion_tokens": 100,
                          "prompt_tokens_details": {"cached_tokens": 400}}}

    ask("hello")
    url = f"http://127.0.0.1:{server.server_port}/metrics"
    print(json.dumps({"metrics": urllib.request.urlopen(url, timeout=5).read().decode(),
                      "modules": sorted(m.split(".")[0] for m in sys.modules)}))
""")


def run_in(venv: Path, *args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([str(footprint.python_of(venv)), *args], capture_output=True, text=True, timeout=60,
                          cwd=venv, env={"PATH": str(venv / "bin"), **(env or {})})


def test_core_install_instruments_a_service(core_venv: tuple[Path, list[str]]) -> None:
    venv, _ = core_venv
    result = run_in(venv, "-c", SERVICE)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    metrics = out["metrics"]
    assert 'llm_requests_total{app_id="tiny-service",department="engineering",model="gpt-4o-2024-08-06",' \
           'provider="openai",status="success"} 1.0' in metrics
    assert 'llm_tokens_by_class_total{app_id="tiny-service",department="engineering",model="gpt-4o-2024-08-06",' \
           'provider="openai",token_class="cached_input"} 400.0' in metrics
    assert 'llm_price_usd_per_token{direction="cached_input",model="gpt-4o"}' in metrics  # packaged pricing
    cost = [line for line in metrics.splitlines() if line.startswith("llm_cost_usd_total{")]
    assert len(cost) == 1 and float(cost[0].rsplit(" ", 1)[1]) > 0, cost
    assert not {"fastapi", "uvicorn", "aiohttp", "opentelemetry", "requests"} & set(out["modules"])
    # an OTLP endpoint without the tracing extra: one warning naming the extra, the call still recorded
    assert "needs the 'tracing' extra" in result.stdout + result.stderr
    assert "pip install 'llm-exporter[tracing]'" in result.stdout + result.stderr


@pytest.mark.parametrize(("code", "extra"), [
    ("import llm_exporter.proxy", "proxy"),
    ("import llm_exporter.telemetry.spans", "tracing"),
    ("import llm_exporter.telemetry.otlp_logs", "tracing"),
])
def test_optional_parts_name_their_extra(core_venv: tuple[Path, list[str]], code: str, extra: str) -> None:
    venv, _ = core_venv
    result = run_in(venv, "-c", code)
    assert result.returncode != 0
    assert "MissingExtraError: " in result.stderr and f"pip install 'llm-exporter[{extra}]'" in result.stderr


def test_the_command_without_the_server_extra(core_venv: tuple[Path, list[str]]) -> None:
    venv, _ = core_venv
    command = str(venv / "bin" / "llm-exporter")
    assert subprocess.run([command, "--help"], capture_output=True, text=True, timeout=30).returncode == 0
    result = subprocess.run([command, "--port", "1"], capture_output=True, text=True, timeout=30)
    assert result.returncode == 2
    assert result.stderr.strip() == ("llm-exporter: the llm-exporter service needs the 'server' extra "
                                     "(fastapi is not installed): pip install 'llm-exporter[server]'")


def test_the_readme_install_line_works_as_written(tmp_path) -> None:
    """`pip install ./exporter` from the root of a checkout (a copy: the build leaves files behind)."""
    readme = (REPO / "README.md").read_text()
    assert "`pip install ./exporter`" in readme
    checkout = tmp_path / "checkout"
    shutil.copytree(REPO / "exporter", checkout / "exporter",
                    ignore=shutil.ignore_patterns("__pycache__", "*.egg-info", "build", "dist"))
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(footprint.python_of(venv)), "install", "--quiet",
                    "--disable-pip-version-check", "./exporter"], cwd=checkout, check=True, capture_output=True)
    code = ("from llm_exporter.instrument import track_llm_call, start_metrics_server\n"
            "from llm_exporter.config import default_config_file\n"
            "print(default_config_file('pricing.yaml').is_file())")
    result = run_in(venv, "-c", code)
    assert result.returncode == 0 and result.stdout.strip() == "True", result.stderr
