"""The layout's rules, read from the source with ``ast`` (nothing is imported):

(a) the trainer imports from ``device`` only ``device.shared``;
(b) ``device.shared`` imports nothing else from ``device`` (and nothing from ``trainer``);
(c) no import cycle among the modules of ``device`` and ``trainer`` (module-level imports);
(d) no function-level import of a project module: a module's dependencies are on its
    first lines (function-level imports are for heavy optional third-party packages).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("device", "trainer")

@dataclass(frozen=True)
class Import:
    module: str  # the importing module
    target: str  # the project module imported (the longest name that is a module)
    line: int
    in_function: bool
    type_checking: bool  # under ``if TYPE_CHECKING:``: not executed


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _files() -> dict[str, Path]:
    return {_module_name(p): p for pkg in PACKAGES for p in sorted((ROOT / pkg).rglob("*.py"))}


FILES = _files()


def _resolve(name: str) -> str | None:
    """The project module that ``name`` (a module, or a name inside one) refers to."""
    while name:
        if name in FILES:
            return name
        name = name.rpartition(".")[0]
    return None


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(module: str) -> list[Import]:
    path = FILES[module]
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[Import] = []

    def targets(node: ast.Import | ast.ImportFrom) -> list[str]:
        if isinstance(node, ast.Import):
            return [a.name for a in node.names]
        base = node.module or ""
        if node.level:
            anchor = package.split(".")
            anchor = anchor[: len(anchor) - (node.level - 1)]
            base = ".".join([*anchor, base] if base else anchor)
        return [f"{base}.{a.name}" for a in node.names]

    def visit(node: ast.AST, in_function: bool, type_checking: bool) -> None:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for name in targets(node):
                target = _resolve(name)
                if target is not None and target != module:
                    found.append(Import(module, target, node.lineno, in_function,
                                        type_checking))
            return
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                visit(child, in_function, True)
            for child in node.orelse:
                visit(child, in_function, type_checking)
            return
        inner = in_function or isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef,
                                                 ast.Lambda))
        for child in ast.iter_child_nodes(node):
            visit(child, inner, type_checking)

    visit(ast.parse(path.read_text(encoding="utf-8"), str(path)), False, False)
    return found


IMPORTS = {module: _imports(module) for module in FILES}


def _where(imp: Import) -> str:
    return f"{FILES[imp.module].relative_to(ROOT)}:{imp.line}: {imp.target}"


#: the one project import made in a function on purpose: an optional feature whose heavy
#: third-party dependencies a speaker without it should not load (importer -> imported)
OPTIONAL_FEATURES = {
    ("device.system.app", "device.mqtt.bridge"): "paho, ssl and http load only with [mqtt]",
}


def _violations(module: str) -> list[str]:
    out = []
    for imp in IMPORTS[module]:
        if module.startswith("trainer") and imp.target.startswith("device") and not (
                imp.target.startswith("device.shared")):
            out.append(f"(a) the trainer imports device beyond device.shared: {_where(imp)}")
        if module.startswith("device.shared") and not imp.target.startswith("device.shared"):
            out.append(f"(b) device.shared imports outside itself: {_where(imp)}")
        if imp.in_function and (module, imp.target) not in OPTIONAL_FEATURES:
            out.append(f"(d) function-level import of a project module: {_where(imp)}")
    return out


def _cycles() -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan), of the graph of
    module-level imports that run (``TYPE_CHECKING`` ones do not)."""
    graph = {m: sorted({i.target for i in imps if not i.in_function and not i.type_checking})
             for m, imps in IMPORTS.items()}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []

    def connect(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                connect(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            connect(v)
    return out


def test_the_walker_sees_the_project():
    assert "device.shared.errors" in FILES and "trainer.cli" in FILES
    assert any(i.target == "device.shared.errors" for i in IMPORTS["trainer.taste.commands"])
    assert any(i.target == "trainer.taste.mood.scoring" for i in IMPORTS["trainer.taste.mood.fit"])


@pytest.mark.parametrize("module", list(FILES))
def test_imports_follow_the_layout(module):
    assert _violations(module) == []


def test_no_import_cycles():
    assert _cycles() == []
