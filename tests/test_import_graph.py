"""No import circles between the project's modules.

A circle (a imports b, b imports a), even one hidden in a function body or behind
`TYPE_CHECKING`, means neither module can be read, tested or lifted out without the other.
This walks every import statement of the project's packages (not only the top-level ones)
and fails with each circle it finds, as strongly connected components of the import graph.
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("vendhub", "machines", "telemetry", "notifications", "realtime", "sales",
            "operations", "devices")


def project_modules() -> dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue
            parts = path.relative_to(ROOT).with_suffix("").parts
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def _known(name: str, modules: dict[str, Path]) -> str | None:
    """The project module `name` denotes, or its nearest enclosing one (an imported name
    that is not a module belongs to the module it comes from)."""
    while name and name not in modules:
        name = name.rpartition(".")[0]
    return name or None


def imported_names(source: str, name: str, *, is_package: bool = False) -> list[str]:
    """Every dotted name that `source`, the text of module `name`, imports (a module, or
    module.name for `from module import name`), relative imports resolved, in every
    statement: top level, function bodies, `TYPE_CHECKING` blocks."""
    package = name.split(".") if is_package else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package[: len(package) - node.level + 1]
                prefix = ".".join(base + ([node.module] if node.module else []))
            else:
                prefix = node.module or ""
            found.extend(f"{prefix}.{alias.name}" for alias in node.names)
    return found


def imports_of(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    found = {_known(imported, modules) for imported in
             imported_names(path.read_text(), name, is_package=path.name == "__init__.py")}
    # Importing a submodule runs its packages' __init__ first: not an import of them.
    return {dep for dep in found if dep and dep != name and not name.startswith(dep + ".")}


def circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph.get(child, ())))))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        found.append(sorted(component))
    return found


def test_circles_finds_a_circle_through_three_modules():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert circles(graph) == [["a", "b", "c"]]


def test_no_module_of_the_project_imports_itself_through_others():
    modules = project_modules()
    assert "realtime.server.hub" in modules and "machines.models" in modules
    graph = {name: imports_of(name, path, modules) for name, path in modules.items()}
    # The walk sees real imports.
    assert "realtime.server.coalescing" in graph["realtime.server.hub"]
    assert circles(graph) == []
