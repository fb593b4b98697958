"""Qualified names a script defines, so innovation anchors and protected names can be checked.

A record's ``record.toml`` names parts of its code — ``Muon``, ``CausalSelfAttention.forward``,
``Hyperparameters.num_iterations``, a module-level variable such as ``training_time_ms``. A
label that names nothing is a labelling error, caught when the record is added.
"""

from __future__ import annotations

import ast
import warnings


def defined_names(source: str) -> set[str]:
    """Every qualified name the module defines: classes, functions, methods, nested
    definitions, and variables assigned at module or class level."""
    names: set[str] = set()

    def visit(body: list[ast.stmt], prefix: str, in_function: bool) -> None:
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                qualified = prefix + node.name
                names.add(qualified)
                visit(node.body, qualified + ".", isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)))
            elif not in_function:
                for target in _assigned(node):
                    names.add(prefix + target)
                for child in _blocks(node):
                    visit(child, prefix, in_function)

    with warnings.catch_warnings():  # invalid escapes in old scripts are not ours to report
        warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
        module = ast.parse(source)
    visit(module.body, "", False)
    return names


def _assigned(node: ast.stmt) -> list[str]:
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

