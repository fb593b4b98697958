"""Synthetic candidates for tests and the benchmark: partial and perturbed versions of a task.

* :func:`partial` applies only the ground-truth edits of chosen innovations (and optionally the
  ``hyperparameters`` / ``other`` groups) to record i, by splicing record i+1's lines into record
  i's: an updated statement replaces its base lines, an inserted one goes after the statement it
  follows in record i+1, an added definition after the definition it follows; a statement the
  line diff reads as renamed but whose meaning changed goes with its innovation too.
* :func:`reformat` re-renders a script (``ast.unparse``: comments dropped, quotes and
  parentheses normalised) and then breaks every bracketed comma-separated list over lines.
* :func:`rename` renames function locals and parameters and one class, consistently.
* :func:`reorder` reverses the order of the module's top-level definitions.
* :func:`add_unrelated` adds an unrelated helper function and a statement in ``main``-like code.
"""

from __future__ import annotations

import ast
import io
import tokenize
from collections import defaultdict

from analysis.attribute import Innovation, group_truth
from analysis.diff import diff_versions
from analysis.ideas import Comparison
from analysis.versions import Version


def partial(base: Version, target: Version, innovations: list[Innovation], keep: set[str]) -> str:
    """Record i with only the ground-truth edits of the groups named in ``keep`` applied."""
    truth = diff_versions(base, target)
    groups = group_truth(truth, innovations)
    chosen = [e for e in truth.edits if set(groups[id(e)]) & keep]
    chosen += _rewritten_in_meaning(truth, innovations, keep)
    lines = base.lines
    tlines = target.lines
    drop: set[int] = set()
    subst: dict[int, tuple[int, list[str]]] = {}
    after: dict[int, list[tuple[int, list[str]]]] = defaultdict(list)
    new_units = {id(u) for u in truth.added_units()}
    new_names = {u.qualname for u in truth.added_units()}
    inserted = {id(e.new) for e in chosen if e.kind == "insert"}
    placed_units = set()

    def anchor_line(atom) -> int:
        atoms = atom.unit.atoms
        for prev in reversed(atoms[: atom.index]):
            old = truth.counterpart.get(id(prev))
            if old is not None:
                return old.lines[1]
        return atom.unit.start - 1

    for e in chosen:
        if e.kind == "delete":
            drop.update(range(e.old.lines[0], e.old.lines[1] + 1))
        elif e.kind == "update":
            subst[e.old.lines[0]] = (e.old.lines[1], tlines[e.new.lines[0] - 1 : e.new.lines[1]])
    for e in chosen:
        if e.kind != "insert":
            continue
        unit = e.new.unit
        if id(unit) in new_units:
            owner = unit.qualname.rpartition(".")[0]
            if owner in new_names or id(unit) in placed_units:
                continue
            if not all(id(a) in inserted for a in unit.atoms):
                continue
            placed_units.add(id(unit))
            after[_unit_anchor(truth, unit)].append((unit.start, [""] + tlines[unit.start - 1 : unit.end] + [""]))
        else:
            after[anchor_line(e.new)].append((e.new.lines[0], tlines[e.new.lines[0] - 1 : e.new.lines[1]]))
    out = [text for _, block in sorted(after.get(0, [])) for text in block]
    ln = 1
    while ln <= len(lines):
        if ln in subst:
            end, new = subst[ln]
            out.extend(new)
            for inside in range(ln, end + 1):
                for _, block in sorted(after.get(inside, [])):
                    out.extend(block)
            ln = end + 1
            continue
        if ln not in drop:
            out.append(lines[ln - 1])
        for _, block in sorted(after.get(ln, [])):
            out.extend(block)
        ln += 1
    return "\n".join(out) + "\n"


def _rewritten_in_meaning(truth, innovations: list[Innovation], keep: set[str]) -> list:
    """Updates the line diff reads as renamed but the idea-level comparison reads as changed
    (record 21's ``val_bs = world_size * args.seq_len`` becoming ``val_batch_size = world_size *
    args.val_seq_len``), of the groups in ``keep``: without them a partial has the new field but not
    its readers."""
    comp = Comparison(truth, truth)
    groups = group_truth(truth, innovations, comp.truth_edits)
    covered = {id(a) for e in truth.edits for a in (e.old, e.new) if a is not None}

    def text(version, atom) -> str:
        first, last = atom.lines
        return "\n".join(line.strip() for line in version.lines[first - 1 : last])

    return [
        e
        for e in comp.truth_edits
        if e.old is not None
        and e.new is not None
        and id(e.old) not in covered
        and id(e.new) not in covered
        and text(truth.old, e.old) != text(truth.new, e.new)  # not one that only reads a changed definition
        and set(groups[id(e)]) & keep
    ]


def _unit_anchor(truth, unit) -> int:
    """Base line after which a new unit goes: the end of the paired unit before it in record i+1."""
    back = {id(v): u for u, v in truth.pairs.items()}
    best = 0
    for v in truth.new.units:
        if v.order >= unit.order:
            break
        if id(v) in back and not v.qualname.startswith(unit.qualname + "."):
            u = back[id(v)]
            if unit.kind != "method" or v.kind in ("method", "class"):
                best = u.end if v.kind != "class" or unit.kind != "method" else _class_body_end(truth, u)
    return best


def _class_body_end(truth, cls_unit) -> int:
    ends = [u.end for u in truth.old.units if u.qualname.startswith(cls_unit.qualname + ".")]
    return max(ends + [cls_unit.end])


def reformat(text: str) -> str:
    """ast.unparse, then every comma inside brackets followed by a line break (black-like)."""
    plain = ast.unparse(ast.parse(text))
    out = []
    depth = 0
    cuts: dict[int, list[int]] = defaultdict(list)
    for tok in tokenize.generate_tokens(io.StringIO(plain).readline):
        if tok.type == tokenize.OP:
            if tok.string in "([{":
                depth += 1
            elif tok.string in ")]}":
                depth -= 1
            elif tok.string == "," and depth > 0:
                cuts[tok.end[0]].append(tok.end[1])
    for row, line in enumerate(plain.splitlines(), start=1):
        indent = " " * (len(line) - len(line.lstrip()) + 8)
        for col in sorted(cuts.get(row, []), reverse=True):
            line = line[:col] + "\n" + indent + line[col:].lstrip()
        out.append(line)
    return "\n".join(out) + "\n"


class _Renamer(ast.NodeTransformer):
    def __init__(self, mapping: dict[str, str]):
        self.mapping = mapping

    def visit_Name(self, node):
        node.id = self.mapping.get(node.id, node.id)
        return node

    def visit_arg(self, node):
        node.arg = self.mapping.get(node.arg, node.arg)
        return self.generic_visit(node)

    def visit_keyword(self, node):
        if node.arg:
            node.arg = self.mapping.get(node.arg, node.arg)
        return self.generic_visit(node)

    def visit_ClassDef(self, node):
        node.name = self.mapping.get(node.name, node.name)
        return self.generic_visit(node)


def rename(text: str, class_name: str | None = None, suffix: str = "_r") -> str:
    """Rename every function's locals and parameters (not ``self``) and one class, consistently."""
    tree = ast.parse(text)
    local: set[str] = set()
    top = {n.name for n in tree.body if isinstance(n, (ast.FunctionDef, ast.ClassDef))}
    module_names = {
        t.id for n in tree.body for t in ast.walk(n) if isinstance(n, ast.Assign) and isinstance(t, ast.Name)
    }
    for fn in ast.walk(tree):
        if isinstance(fn, (ast.FunctionDef, ast.AsyncFunctionDef)):
            local |= {a.arg for a in fn.args.args + fn.args.kwonlyargs}
            local |= {n.id for n in ast.walk(fn) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)}
    # Names that are also attributes, keywords or class fields would not be renamed consistently.
    shared = {n.attr for n in ast.walk(tree) if isinstance(n, ast.Attribute)}
    shared |= {n.arg for n in ast.walk(tree) if isinstance(n, ast.keyword) and n.arg}
    shared |= {
        t.id
        for c in ast.walk(tree)
        if isinstance(c, ast.ClassDef)
        for s in c.body
        if isinstance(s, (ast.Assign, ast.AnnAssign))
        for t in ast.walk(s)
        if isinstance(t, ast.Name)
    }
    local -= {"self", "cls", "_"} | top | module_names | shared
    mapping = {name: name + suffix for name in local}
    if class_name:
        mapping[class_name] = class_name + "Renamed"
    return ast.unparse(_Renamer(mapping).visit(tree)) + "\n"


def reorder(text: str) -> str:
    """The top-level definitions in reverse order (other statements stay where they are)."""
    tree = ast.parse(text)
    slots = [i for i, n in enumerate(tree.body) if isinstance(n, (ast.FunctionDef, ast.ClassDef))]
    defs = [tree.body[i] for i in slots]
    for i, node in zip(slots, reversed(defs), strict=True):
        tree.body[i] = node
    return ast.unparse(tree) + "\n"


UNRELATED = """

def unrelated_helper(values, scale=2):
    total = 0
    for value in values:
        total += value * scale
    return total / max(1, len(values))
"""


def add_unrelated(text: str) -> str:
    """``text`` plus an unrelated helper function and a module-level call of it."""
    return text.rstrip("\n") + "\n" + UNRELATED + "\nUNRELATED_CHECK = unrelated_helper([1, 2, 3])\n"
