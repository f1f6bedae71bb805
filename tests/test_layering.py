"""DESIGN §2 dependency rules, checked on the source: nothing imports ingest or explorer; amx_core never
imports cypher; cypher imports only amx_core.circuit/errors of amx_core and never torch; explorer never imports torch."""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _imports(package: str):
    for path in sorted((ROOT / package).rglob("*.py")):
        tree = ast.parse(path.read_text(), str(path))
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    yield path, alias.name
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                yield path, node.module


def _top(name: str) -> str:
    return name.split(".")[0]


@pytest.mark.parametrize("package", ["amx_core", "cypher", "ingest", "explorer"])
def test_nothing_imports_ingest_or_explorer(package):
    bad = [(p, m) for p, m in _imports(package) if _top(m) in {"ingest", "explorer"} and _top(m) != package]
    assert not bad, bad


def test_amx_core_never_imports_cypher():
    assert not [(p, m) for p, m in _imports("amx_core") if _top(m) == "cypher"]


def test_store_layer_is_torch_free_and_uses_only_circuit_types():
    bad = [(p, m) for p, m in _imports("cypher")
           if _top(m) in {"torch", "torchvision", "timm"}
           or (_top(m) == "amx_core" and m not in {"amx_core.circuit", "amx_core.errors"})]
    assert not bad, bad


def test_explorer_is_torch_free():
    bad = [(p, m) for p, m in _imports("explorer")
           if _top(m) in {"torch", "torchvision", "timm"}
           or (_top(m) == "amx_core" and m not in {"amx_core.circuit", "amx_core.errors"})]
    assert not bad, bad
