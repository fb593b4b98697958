"""Read the import graph of the library from its source and check it against its layers.

Every ``import`` and ``from ... import`` counts, at module level or inside a function (a lazy
import is still a dependency). A layer is a list of module prefixes with a rank; a module may
import its own layer and the layers of lower rank, nothing else, and no chain of imports may
lead back to where it started.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Layer:
    name: str
    rank: int
    prefixes: tuple[str, ...]


def module_files(root: Path, packages: tuple[str, ...]) -> dict[str, Path]:
    """Dotted module name -> file, for every ``.py`` file of ``packages`` under ``root``."""
    found = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
            found[name] = path
    return found


def import_graph(root: Path, packages: tuple[str, ...]) -> dict[str, set[str]]:
    """Module -> the modules of ``packages`` it imports."""
    files = module_files(root, packages)
    graph = {}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        targets = set()
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            for target in _imported(node, name, is_package):
                resolved = _known(target, files)
                if resolved and resolved != name:
                    targets.add(resolved)
        graph[name] = targets
    return graph


def _imported(node: ast.AST, module: str, is_package: bool) -> list[str]:
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    if isinstance(node, ast.ImportFrom):
        base = node.module or ""
        if node.level:
            package = module if is_package else module.rpartition(".")[0]
            for _ in range(node.level - 1):
                package = package.rpartition(".")[0]
            base = f"{package}.{base}".rstrip(".")
        # `from pkg import name` imports pkg.name when that is a module, else pkg itself.
        return [f"{base}.{alias.name}" for alias in node.names] + [base]
    return []


def _known(target: str, files: dict[str, Path]) -> str | None:
    """The longest prefix of ``target`` that is one of our modules."""
    parts = target.split(".")
    for end in range(len(parts), 0, -1):
        candidate = ".".join(parts[:end])
        if candidate in files:
            return candidate
    return None


def layer_of(module: str, layers: list[Layer]) -> Layer | None:
    """The layer whose longest prefix matches ``module``."""
    best, best_len = None, -1
    for layer in layers:
        for prefix in layer.prefixes:
            if (module == prefix or module.startswith(prefix + ".")) and len(prefix) > best_len:
                best, best_len = layer, len(prefix)
    return best


def violations(graph: dict[str, set[str]], layers: list[Layer]) -> list[str]:
    """Modules in no layer, imports into another layer of the same or a higher rank, and cycles."""
    problems = [f"{m} belongs to no layer" for m in sorted(graph) if layer_of(m, layers) is None]
    for module in sorted(graph):
        source = layer_of(module, layers)
        for target in sorted(graph[module]):
            destination = layer_of(target, layers)
            if source is None or destination is None or destination == source:
                continue
            if destination.rank >= source.rank:
                problems.append(
                    f"{module} ({source.name}) imports {target} ({destination.name}), which is not below it"
                )
    problems += [f"import cycle: {' -> '.join(cycle)}" for cycle in cycles(graph)]
    return problems


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle through each strongly connected group of modules (Tarjan's algorithm)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1:
                found.append(_cycle_within(sorted(group), graph))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycle_within(group: list[str], graph: dict[str, set[str]]) -> list[str]:
    """A path from the group's first member back to itself, inside the group."""
    members, start = set(group), group[0]
    paths = {start: [start]}
    frontier = [start]
    while frontier:
        node = frontier.pop(0)
        for nxt in sorted(graph[node] & members):
            if nxt == start:
                return paths[node] + [start]
            if nxt not in paths:
                paths[nxt] = paths[node] + [nxt]
                frontier.append(nxt)
    return group
