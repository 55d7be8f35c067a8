"""Compose files merged the way `docker compose -f base -f override` merges them, for static tests
(no container engine runs here).

The rules, from the Compose specification (https://docs.docker.com/reference/compose-file/merge/):
mappings are merged key by key, the override winning; sequences are appended, except `command`,
`entrypoint` and `healthcheck.test`, which the override replaces, and `volumes`, `ports`,
`secrets` and `configs`, whose entries are unique by their target (the override's entry replaces
the base's for the same target). Interpolation and the short/long syntax of other attributes are
left as they are: the tests that read the merged model interpolate what they read.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import yaml

REPLACED = {"command", "entrypoint", "test"}
UNIQUE_BY_TARGET = {"volumes", "ports", "secrets", "configs"}


def _target(key: str, entry: Any) -> str:
    """The unique key of a `volumes`/`ports`/... entry, in the short or the long syntax."""
    if isinstance(entry, dict):
        return str(entry.get("target"))
    text = str(entry)
    if key == "volumes":
        return text.split(":")[1] if ":" in text else text
    return text.rsplit(":", 1)[-1]


def _merge(base: Any, override: Any, key: str = "") -> Any:
    if isinstance(base, dict) and isinstance(override, dict):
        merged = dict(base)
        for name, value in override.items():
            merged[name] = _merge(base[name], value, name) if name in base else copy.deepcopy(value)
        return merged
    if isinstance(base, list) and isinstance(override, list) and key not in REPLACED:
        if key in UNIQUE_BY_TARGET:
            replaced = {_target(key, entry) for entry in override}
            return [e for e in base if _target(key, e) not in replaced] + copy.deepcopy(override)
        return [*base, *copy.deepcopy(override)]
    return copy.deepcopy(override)


def merge(*documents: dict[str, Any]) -> dict[str, Any]:
    """The documents merged left to right (YAML anchors already resolved by the loader)."""
    merged: dict[str, Any] = {}
    for document in documents:
        merged = _merge(merged, document)
    return merged


def load(*paths: Path) -> dict[str, Any]:
    return merge(*(yaml.safe_load(path.read_text(encoding="utf-8")) for path in paths))
