"""The layers read in one direction: the import contracts hold and no module imports itself round a loop."""

import itertools
import subprocess
import sys
from pathlib import Path

import grimp

REPO = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent


def test_the_import_contracts_hold():
    """pyproject.toml's [tool.importlinter]: layers, no dev tools in production, sources independent."""
    result = subprocess.run([str(BIN / "lint-imports")], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "0 broken" in result.stdout


def cycles(graph: grimp.ImportGraph, modules: list[str]) -> list[tuple[str, str]]:
    return [
        (a, b)
        for a, b in itertools.permutations(modules, 2)
        if graph.direct_import_exists(importer=a, imported=b) and graph.chain_exists(importer=b, imported=a)
    ]


def test_no_import_cycle_between_files_or_packages():
    graph = grimp.build_graph("perfdata_assets")
    assert cycles(graph, sorted(graph.modules)) == []
    # Packages as wholes, e.g. publishing -> web -> publishing through different files.
    packages = sorted(m for m in graph.modules if graph.find_children(m))
    loops = [(a, b) for a, b in itertools.combinations(packages, 2)
             if not (a.startswith(b + ".") or b.startswith(a + "."))
             and graph.chain_exists(importer=a, imported=b, as_packages=True)
             and graph.chain_exists(importer=b, imported=a, as_packages=True)]
    assert loops == []
