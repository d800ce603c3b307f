"""Every test SECURITY.md and the runbook name as proof exists, so a renamed or deleted test cannot
leave a guarantee standing on nothing."""

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
TESTS = ROOT / "perfdata_assets_tests"
# `path/to/test_file.py::test_name`, or `::test_name` for another test of the file named just before.
REFERENCE = re.compile(r"`((?:perfdata_assets_tests/)?[\w/]+\.py)?::(test_\w+)`")


def references(document: Path) -> list[tuple[str, str]]:
    found, current = [], None
    for match in REFERENCE.finditer(document.read_text(encoding="utf-8")):
        path, name = match.groups()
        current = path.removeprefix("perfdata_assets_tests/") if path else current
        assert current is not None, f"{document.name}: `::{name}` with no file named before it"
        found.append((current, name))
    return found


def functions_in(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {node.name for node in ast.walk(tree) if isinstance(node, ast.FunctionDef) and node.name.startswith("test")}


@pytest.mark.parametrize("document", ["SECURITY.md", "docs/operations.md"])
def test_every_named_test_exists(document):
    named = references(ROOT / document)
    assert len(named) >= 10  # the pattern still matches how the document names tests
    missing = [f"{path}::{name}" for path, name in named
               if not (TESTS / path).is_file() or name not in functions_in(TESTS / path)]
    assert missing == []
