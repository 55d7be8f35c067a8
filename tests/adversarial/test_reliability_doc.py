"""docs/reliability.md names only tests that exist, every adversarial test is in its table, and
its figures section can be rewritten by `make adversarial`."""

from __future__ import annotations

import ast
import re
from pathlib import Path

from tests.adversarial.figures import DOC, Figures

REPO = Path(__file__).resolve().parents[2]
REFERENCE = re.compile(r"`(tests/[\w/]+\.py)::(test_\w+)`")


def functions_named_test(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    return {node.name for node in tree.body if isinstance(node, ast.FunctionDef) and node.name.startswith("test_")}


def test_every_test_named_exists_and_every_adversarial_test_is_named() -> None:
    named = REFERENCE.findall(DOC.read_text())
    assert len(named) > 20
    for path, name in named:
        assert name in functions_named_test(REPO / path), f"{path}::{name} is named in docs/reliability.md"
    listed = {name for path, name in named if path.startswith("tests/adversarial/")}
    for path in (REPO / "tests" / "adversarial").glob("test_*.py"):
        if path.name == Path(__file__).name:
            continue
        missing = functions_named_test(path) - listed
        assert not missing, f"{path.name}: not in the table of docs/reliability.md: {sorted(missing)}"


def test_figures_section_is_rewritten_in_place(tmp_path: Path) -> None:
    copy = tmp_path / "reliability.md"
    copy.write_text(DOC.read_text())
    figures = Figures()
    figures.record("probe_cases", 1234, "requests", "a probe")
    figures.rewrite_doc(copy)
    text = copy.read_text()
    assert "| `probe_cases` | 1,234 requests | a probe |" in text
    assert text.replace(figures.table(), "").count("<!-- figures:") == 2
    figures.rewrite_doc(copy)  # idempotent: the markers stay, one table between them
    assert copy.read_text().count("| `probe_cases` |") == 1
