"""`make test` runs the suite on pytest-xdist workers (`--dist loadgroup`). A module whose tests
share a module-scoped fixture (a live Prometheus, an exporter) must run on one worker, so that the
fixture starts once and its tests see the history the earlier ones waited for. This runs a small
suite with the project's own conftest hook and counts the fixture's starts."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

SHARED_MODULE = '''
import os
import pytest

@pytest.fixture(scope="module")
def shared(tmp_path_factory):
    with open(os.environ["SETUPS_FILE"], "a") as setups:
        setups.write(f"{__name__} {os.environ.get('PYTEST_XDIST_WORKER', 'none')}\\n")
    return __name__

@pytest.mark.parametrize("i", range(8))
def test_shared(shared, i):
    assert shared == __name__

@pytest.mark.parametrize("i", range(8))
def test_alone(i):
    pass
'''


def _run_suite(tmp_path: Path, workers: int) -> tuple[subprocess.CompletedProcess, list[str]]:
    (tmp_path / "conftest.py").write_text(
        "from tests.conftest import pytest_collection_modifyitems, pytest_configure  # noqa: F401\n")
    for name in ("test_first.py", "test_second.py"):
        (tmp_path / name).write_text(SHARED_MODULE)
    setups = tmp_path / "setups.txt"
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-n", str(workers), "--dist", "loadgroup", "-v", "-p", "no:cacheprovider",
         "--rootdir", str(tmp_path), "-c", "/dev/null", str(tmp_path)],
        cwd=tmp_path, capture_output=True, text=True, timeout=120,
        env={"PATH": "/usr/bin:/bin", "PYTHONPATH": str(REPO), "SETUPS_FILE": str(setups)})
    return result, setups.read_text().splitlines() if setups.exists() else []


def test_a_shared_module_fixture_starts_once_on_one_worker(tmp_path: Path) -> None:
    result, setups = _run_suite(tmp_path, workers=2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert sorted(line.split()[0] for line in setups) == ["test_first", "test_second"], (
        f"module fixture started {len(setups)} times, once per module expected: {setups}\n"
        "(does the installed pytest still let pytest-xdist tag a test's group?)")
    placed = set(re.findall(r"\[(gw\d+)\].*?PASSED .*?(test_first|test_second)\.py::test_shared", result.stdout))
    assert sorted(module for _worker, module in placed) == ["test_first", "test_second"], placed


def test_tests_without_a_shared_fixture_spread_over_workers(tmp_path: Path) -> None:
    result, _setups = _run_suite(tmp_path, workers=2)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-2000:]
    assert set(re.findall(r"\[(gw\d+)\].*?PASSED .*?::test_alone", result.stdout)) == {"gw0", "gw1"}
