"""Qualified names a script defines, so innovation anchors and protected names can be checked.

A record's ``record.toml`` names parts of its code — ``Muon``, ``CausalSelfAttention.forward``,
``Hyperparameters.num_iterations``, a module-level variable such as ``training_time_ms``. A
label that names nothing is a labelling error, caught when the record is added.
"""

from __future__ import annotations

import ast
import warnings
from typing import Iterator


def parse_quietly(source: str) -> ast.Module:
    """Parse a script without warnings: invalid escapes in old scripts are not ours to report."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
        return ast.parse(source)


def definitions(module: ast.Module, imports: bool = False) -> Iterator[tuple[str, ast.stmt]]:
    """(qualified name, defining statement) for every class, function, method and nested
    definition, and every variable assigned at module or class level (also inside if/for/with/try
    blocks); with ``imports``, names bound by import statements too."""

    def visit(body: list[ast.stmt], prefix: str, in_function: bool) -> Iterator[tuple[str, ast.stmt]]:
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                qualified = prefix + node.name
                yield qualified, node
                yield from visit(node.body, qualified + ".", isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
            elif not in_function:
                for target in _assigned(node, imports):
                    yield prefix + target, node
                for child in _blocks(node):
                    yield from visit(child, prefix, in_function)

    yield from visit(module.body, "", False)


def defined_names(source: str) -> set[str]:
    """Every qualified name the module defines (see :func:`definitions`)."""
    return {name for name, _ in definitions(parse_quietly(source))}


def _assigned(node: ast.stmt, imports: bool) -> list[str]:
    if imports and isinstance(node, (ast.Import, ast.ImportFrom)):
        return [(alias.asname or alias.name).split(".")[0] for alias in node.names]
    targets: list[ast.expr] = []
    if isinstance(node, ast.Assign):
        targets = node.targets
    elif isinstance(node, (ast.AnnAssign, ast.AugAssign)):
        targets = [node.target]
    elif isinstance(node, (ast.For, ast.AsyncFor)):
        targets = [node.target]
    elif isinstance(node, (ast.With, ast.AsyncWith)):
        targets = [item.optional_vars for item in node.items if item.optional_vars is not None]
    names = []
    for target in targets:
        for sub in ast.walk(target):
            if isinstance(sub, ast.Name):
                names.append(sub.id)
    return names


def _blocks(node: ast.stmt) -> list[list[ast.stmt]]:
    """Statement blocks nested in a compound statement (if/for/while/with/try) at the same scope."""
    blocks = [getattr(node, field) for field in ("body", "orelse", "finalbody") if isinstance(getattr(node, field, None), list)]
    blocks += [handler.body for handler in getattr(node, "handlers", [])]
    return blocks

