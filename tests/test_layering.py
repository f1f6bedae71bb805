"""The dependency rules of docs/architecture.md, checked on the source: nothing imports ingest or explorer;
only the benchmark imports amx_bench; amx_core never imports cypher; cypher imports only amx_core.circuit/errors
of amx_core and never torch; explorer never imports torch; no module imports another's private names; no
import cycles."""

import ast
import itertools
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
           or (_top(m) == "amx_core" and m not in {"amx_core", "amx_core.circuit", "amx_core.errors"})]  # amx_core: lazy
    assert not bad, bad


def test_explorer_is_torch_free():
    bad = [(p, m) for p, m in _imports("explorer")
           if _top(m) in {"torch", "torchvision", "timm"}
           or (_top(m) == "amx_core" and m not in {"amx_core", "amx_core.circuit", "amx_core.errors"})]  # amx_core: lazy
    assert not bad, bad


PACKAGES = ["amx_core", "amx_bench", "cypher", "ingest", "explorer"]


@pytest.mark.parametrize("package", ["amx_core", "cypher", "ingest", "explorer"])
def test_only_the_benchmark_imports_amx_bench(package):
    assert not [(p, m) for p, m in _imports(package) if _top(m) == "amx_bench"]


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _absolute(path: Path, node: ast.ImportFrom) -> str:
    """The absolute module an ImportFrom names (relative imports resolved against the file's package)."""
    if node.level == 0:
        return node.module or ""
    package = _module_name(path).split(".")
    if path.name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def _project_files():
    for package in PACKAGES:
        yield from sorted((ROOT / package).rglob("*.py"))


def test_no_private_names_cross_modules():
    """A leading underscore means 'this module only': another module importing it couples to internals."""
    bad = []
    for path in _project_files():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and _top(_absolute(path, node)) in PACKAGES:
                bad += [(str(path.relative_to(ROOT)), _absolute(path, node), a.name) for a in node.names
                        if a.name.startswith("_") and not a.name.startswith("__")]
    assert not bad, bad


def _top_level_imports(path: Path) -> set[str]:
    """Modules imported when the file is imported (function bodies, run later, are left out)."""
    found: set[str] = set()
    stack = list(ast.parse(path.read_text(), str(path)).body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            module = _absolute(path, node)
            found.add(module)
            found |= {f"{module}.{a.name}" for a in node.names}
        elif isinstance(node, (ast.If, ast.Try)):
            stack += node.body + node.orelse + getattr(node, "finalbody", [])
            stack += [h for handler in getattr(node, "handlers", []) for h in handler.body]
    return found


def test_no_import_cycles():
    modules = {_module_name(p): p for p in _project_files()}
    graph = {name: {m for m in _top_level_imports(path) if m in modules and m != name}
             for name, path in modules.items()}
    state: dict[str, int] = {}
    cycles: list[list[str]] = []

    def visit(name: str, trail: list[str]) -> None:
        state[name] = 1
        for dep in sorted(graph[name]):
            if state.get(dep) == 1:
                # a package importing its own submodules is how __init__ re-exports work, not a cycle
                cycle = trail[trail.index(dep):] + [name, dep] if dep in trail else [name, dep]
                if not all(a.startswith(b + ".") or b.startswith(a + ".") for a, b in itertools.pairwise(cycle)):
                    cycles.append(cycle)
            elif dep not in state:
                visit(dep, trail + [name])
        state[name] = 2

    for name in sorted(graph):
        if name not in state:
            visit(name, [])
    assert not cycles, cycles
