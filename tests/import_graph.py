"""The import graph of a source tree, read from the code itself: every `import` and `from ...
import` statement (module level or inside a function, absolute or relative) counts."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path


def module_name(path: Path, root: Path) -> str:
    """`root/verifier/model/contract.py` -> `verifier.model.contract` (a package: its folder)."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules_of(package_dir: Path) -> dict[str, Path]:
    """Every module of a package folder, by dotted name."""
    root = package_dir.parent
    return {module_name(path, root): path for path in sorted(package_dir.rglob("*.py"))}


def imported_names(path: Path, module: str) -> Iterator[str]:
    """Every dotted name an import statement of `path` names, in absolute form (for `from X
    import Y`, both `X.Y` and `X`: Y may be a submodule or a name defined in X)."""
    is_package = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            yield from (alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = module.split(".")
                anchor = anchor[: len(anchor) - node.level + (1 if is_package else 0)]
                base = ".".join(anchor + ([node.module] if node.module else []))
            yield from (f"{base}.{alias.name}" for alias in node.names)
            yield base


def _owner(name: str, modules: dict[str, Path]) -> str | None:
    """The module `name` is or lies in: the longest known prefix."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in modules:
            return candidate
        parts.pop()
    return None


def import_graph(package_dir: Path) -> dict[str, set[str]]:
    """Module -> the package's own modules it imports (any import form)."""
    modules = modules_of(package_dir)
    graph: dict[str, set[str]] = {}
    for module, path in modules.items():
        targets = set()
        for name in imported_names(path, module):
            owner = _owner(name, modules)
            if owner is not None and owner != module:
                targets.add(owner)
        # `from verifier.x import y` names both x.y and x; when y is a submodule, x is not used.
        graph[module] = {t for t in targets if not any(o.startswith(t + ".") for o in targets)}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan), each sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in sorted(graph.get(node, ())):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def floors(graph: dict[str, set[str]]) -> int:
    """The number of floors of an acyclic graph: nodes on its longest dependency chain."""
    depth: dict[str, int] = {}

    def floor(node: str) -> int:
        if node not in depth:
            depth[node] = 1 + max((floor(t) for t in graph.get(node, ())), default=0)
        return depth[node]

    return max((floor(node) for node in graph), default=0)


def room_of(module: str, top: str) -> str:
    """The room a module lies in: `top.PACKAGE` for a module of a layer package, else itself."""
    parts = module.split(".")
    return ".".join(parts[:2]) if len(parts) > 1 else top


def room_graph(graph: dict[str, set[str]], top: str) -> dict[str, set[str]]:
    """The module graph collapsed to rooms (the top package's modules and subpackages)."""
    rooms: dict[str, set[str]] = {}
    for module, targets in graph.items():
        room = room_of(module, top)
        rooms.setdefault(room, set())
        rooms[room] |= {room_of(t, top) for t in targets if room_of(t, top) != room}
    return rooms
