"""The import graph of ai4m_kit: only the CLI imports the CLI, libraries never import studies,
and no module imports another that imports it back (function-level imports included)."""

import ast
from pathlib import Path

import ai4m_kit

ROOT = Path(ai4m_kit.__file__).parent


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _imports(path: Path, modules: set[str]) -> set[str]:
    """ai4m_kit modules imported anywhere in ``path`` (top level or inside functions)."""
    name = _module_name(path)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            targets = [f"{base}.{a.name}" for a in node.names] + [base]
        else:
            continue
        for t in targets:
            while t and t not in modules:  # `from pkg import name` names a module or an attribute
                t = t.rpartition(".")[0]
            if t and t != name:
                found.add(t)
    return found


def _graph() -> dict[str, set[str]]:
    files = [p for p in ROOT.rglob("*.py")]
    modules = {_module_name(p) for p in files}
    graph = {}
    for p in files:
        # importing a.b.c runs a/__init__ and a/b/__init__ too, but those edges are implied
        graph[_module_name(p)] = {m for m in _imports(p, modules) if not (_module_name(p).startswith(m + "."))}
    return graph


def test_graph_is_read():
    g = _graph()
    assert "ai4m_kit.video.coverage" in g["ai4m_kit.cli.coverage"]
    assert "ai4m_kit.linalg.eigh_auto" in g["ai4m_kit.linalg.eigh"]


def test_only_the_cli_imports_the_cli():
    offenders = {m: sorted(d for d in deps if d.startswith("ai4m_kit.cli"))
                 for m, deps in _graph().items() if not m.startswith("ai4m_kit.cli")}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_library_never_imports_studies():
    offenders = {m: sorted(d for d in deps if d.startswith("ai4m_kit.studies"))
                 for m, deps in _graph().items() if not m.startswith(("ai4m_kit.cli", "ai4m_kit.studies"))}
    assert {m: d for m, d in offenders.items() if d} == {}


def test_no_import_cycle():
    g = _graph()
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str):
        state[m] = 1
        stack.append(m)
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                return stack[stack.index(d):] + [d]
            if d not in state:
                cycle = visit(d)
                if cycle:
                    return cycle
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(g):
        if m not in state:
            cycle = visit(m)
            assert cycle is None, " -> ".join(cycle)
