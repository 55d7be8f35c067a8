#!/usr/bin/env python3
"""What each install of the package costs: packages and megabytes in a fresh virtualenv.

    python scripts/footprint.py                  # every extra; a Markdown table for docs/install.md
    python scripts/footprint.py --extras "" proxy

The wheel is built from exporter/ with `python -m build` (in a copy, so the checkout stays
clean), then installed with pip into one empty virtualenv per extra. Packages: every
distribution installed besides pip itself (llm-exporter included). MB: the bytes of the
virtualenv's site-packages, as installed (no bytecode compiled), in MiB. pip downloads what its
cache does not hold, so the first run needs the network.

`build_wheel` and `install` are used by tests/test_wheel.py as well.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PROJECT = REPO / "exporter"
EXTRAS = ("", "tracing", "openai", "server", "proxy", "gpu", "all")
SOURCES = ("pyproject.toml", "README.md", "src", "config")


def build_wheel(out_dir: Path) -> Path:
    """`python -m build --wheel` of a copy of exporter/ (no build/ or egg-info left in the checkout);
    the running interpreter must have `build` and `setuptools` (the test extra installs both)."""
    with tempfile.TemporaryDirectory(prefix="llm-exporter-src-") as tmp:
        source = Path(tmp)
        for name in SOURCES:
            path = PROJECT / name
            if path.is_dir():
                shutil.copytree(path, source / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
            else:
                shutil.copy(path, source / name)
        subprocess.run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir", str(out_dir),
                        str(source)], check=True, capture_output=True, text=True)
    (wheel,) = out_dir.glob("llm_exporter-*.whl")
    return wheel


def install(wheel: Path, venv: Path, extra: str = "") -> list[str]:
    """A new virtualenv at `venv` (without pip: the running interpreter's pip installs into it)
    holding `wheel[extra]`; returns the installed distributions' names."""
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    requirement = f"{wheel}[{extra}]" if extra else str(wheel)
    subprocess.run([sys.executable, "-m", "pip", "--python", str(python_of(venv)), "install", "--quiet",
                    "--disable-pip-version-check", "--no-compile", requirement],
                   check=True, capture_output=True, text=True)
    listing = subprocess.run([sys.executable, "-m", "pip", "--python", str(python_of(venv)), "list",
                              "--format", "json", "--disable-pip-version-check"],
                             check=True, capture_output=True, text=True).stdout
    return sorted(item["name"].lower().replace("_", "-") for item in json.loads(listing)
                  if item["name"].lower() != "pip")


def python_of(venv: Path) -> Path:
    return venv / ("Scripts/python.exe" if sys.platform == "win32" else "bin/python")


def site_packages_mib(venv: Path) -> float:
    (site,) = venv.glob("lib/python*/site-packages") or venv.glob("Lib/site-packages")
    return sum(f.stat().st_size for f in site.rglob("*") if f.is_file()) / (1024 * 1024)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extras", nargs="*", default=list(EXTRAS), help='extras to measure ("" is the core)')
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llm-exporter-footprint-") as tmp:
        wheel = build_wheel(Path(tmp) / "dist")
        print(f"wheel: {wheel.name}, {wheel.stat().st_size / 1024:.0f} KiB; Python {sys.version.split()[0]}\n")
        print("| install | packages | MB | what it adds |")
        print("|---|---|---|---|")
        core: set[str] = set()
        for extra in args.extras:
            started = time.perf_counter()
            venv = Path(tmp) / f"venv-{extra or 'core'}"
            names = install(wheel, venv, extra)
            if not extra:
                core = set(names)
            added = sorted(set(names) - core) if extra else names
            added_text = ", ".join(added[:10]) + (f" and {len(added) - 10} more" if len(added) > 10 else "")
            label = f"`llm-exporter[{extra}]`" if extra else "`llm-exporter`"
            print(f"| {label} | {len(names)} | {site_packages_mib(venv):.1f} | {added_text} |", flush=True)
            print(f"  ({time.perf_counter() - started:.0f} s)", file=sys.stderr)


if __name__ == "__main__":
    main()
