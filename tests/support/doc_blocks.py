"""YAML blocks of the docs that tests run: a block follows a `<!-- tested: NAME -->` line, so
what a page shows is exactly what its test loads (indented blocks inside list items included)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path
from typing import Any

import yaml

_BLOCK = r"<!-- tested: {name} -->\s*\n(?P<indent>[ \t]*)```yaml\n(?P<body>.*?)\n[ \t]*```"


def doc_block(path: Path, name: str) -> Any:
    """The parsed YAML block marked `name` in the Markdown file `path`."""
    matches = list(re.finditer(_BLOCK.format(name=re.escape(name)), path.read_text(), re.S))
    if len(matches) != 1:
        raise LookupError(f"{path.name}: expected one YAML block marked `tested: {name}`, found {len(matches)}")
    return yaml.safe_load(textwrap.dedent(matches[0].group("body")))
