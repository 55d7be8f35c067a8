"""The commented `remote_write:` blocks of prometheus/prometheus.yml, uncommented for tests.

Each block starts with a line `# remote_write:  # <Store>` and goes on while lines start with
`#   `. Uncommenting removes the first `# `; `optional=True` also uncomments the block's inner
commented YAML (an inner comment that starts with a capital letter is prose and stays).
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml

PROMETHEUS_CONFIG = Path(__file__).resolve().parents[2] / "prometheus" / "prometheus.yml"
_START = re.compile(r"^# remote_write:\s+# (?P<store>.+)$")
_INNER = re.compile(r"^(?P<indent>\s*)# (?P<text>.*)$")


def _uncomment(line: str, optional: bool) -> str | None:
    text = line[2:]
    inner = _INNER.match(text)
    if inner is None:
        return text
    if optional and not inner.group("text")[:1].isupper():
        return inner.group("indent") + inner.group("text")
    return None


def blocks(optional: bool = False, text: str | None = None) -> dict[str, list[dict[str, Any]]]:
    """Store name (the comment after `remote_write:`) -> the parsed remote_write list."""
    lines = (PROMETHEUS_CONFIG.read_text() if text is None else text).splitlines()
    out: dict[str, list[dict[str, Any]]] = {}
    index = 0
    while index < len(lines):
        start = _START.match(lines[index])
        index += 1
        if start is None:
            continue
        body = ["remote_write:"]
        while index < len(lines) and lines[index].startswith("#   "):
            uncommented = _uncomment(lines[index], optional)
            if uncommented is not None:
                body.append(uncommented)
            index += 1
        out[start.group("store")] = yaml.safe_load("\n".join(body))["remote_write"]
    return out


def block(store: str, optional: bool = False) -> list[dict[str, Any]]:
    """The block whose store name starts with `store` (case-insensitive)."""
    matches = [name for name in blocks() if name.lower().startswith(store.lower())]
    if len(matches) != 1:
        raise KeyError(f"prometheus.yml: expected one commented remote_write block for {store!r}, found {matches}")
    return blocks(optional)[matches[0]]
