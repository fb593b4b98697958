"""One implementation of "the qualified names a script defines": every name that ``records add``
accepts as an anchor is a name that attribution gives the statements inside it and that the
agent's protected-name rule finds the source of, whatever kind of definition it is (a nested
function, a variable inside a module-level ``if`` or ``for`` block, a class field, a method)."""

import ast
from pathlib import Path

import pytest

from agent.rules import protected_definitions
from analysis.attribute import Innovation, attribute
from analysis.diff import load
from analysis.syntax import Cache
from replay.records.definitions import Kind, LineOwners, defined_names, definitions
from replay.records.store import RecordsStore

BASE = """
import torch
if torch.cuda.is_available():
    flag = 1
class Hyperparameters:
    lr: float = 0.1
class Muon:
    def step(self):
        def inner():
            return 0
        return inner()
def main():
    total = 0
    for step in range(3):
        training_time_ms = 0
        total += step
    return total
"""
TARGET = (
    BASE.replace("flag = 1", "flag = 2")
    .replace("lr: float = 0.1", "lr: float = 0.2")
    .replace("return 0", "return 42")
    .replace("total += step", "total += 2 * step")
)
ANCHORS = ["flag", "Hyperparameters.lr", "Muon.step.inner", "main"]


def test_records_add_accepts_the_anchors():
    assert set(ANCHORS) <= defined_names(BASE)


@pytest.mark.parametrize("anchor", ANCHORS)
def test_attribution_credits_each_anchor_with_its_own_edit(anchor):
    cache = Cache()
    base, target = load(BASE, "base", cache), load(TARGET, "target", cache)
    innovations = [Innovation(name, (name,)) for name in ANCHORS]
    for candidate, expected in ((target, 1.0), (base, 0.0)):
        result = attribute(base, target, candidate, innovations)
        group = next(g for g in result.innovations if g.name == anchor)
        assert len(group.matches) == 1 and group.score == expected, (anchor, candidate.label)
        assert (group.matches[0].truth.new or group.matches[0].truth.old).qualname == anchor


def test_protected_rule_reads_the_same_definitions():
    found = protected_definitions(BASE, ANCHORS)
    assert found["flag"] == ["    flag = 1\n"] and found["Muon.step.inner"] == [
        "        def inner():\n            return 0\n"
    ]
    assert all(found[name] for name in ANCHORS)


def test_each_line_belongs_to_its_innermost_definition():
    owners = LineOwners(definitions(BASE))
    lines = BASE.splitlines()
    owner = {text.strip(): owners.owner(number) for number, text in enumerate(lines, start=1) if text.strip()}
    assert owner["flag = 1"] == "flag" and owner["lr: float = 0.1"] == "Hyperparameters.lr"
    assert owner["return 0"] == "Muon.step.inner" and owner["return inner()"] == "Muon.step"
    assert owner["training_time_ms = 0"] == "main"  # a function's locals are not definitions
    assert owner["import torch"] is None and owner["if torch.cuda.is_available():"] is None
    assert owners.defined_at(lines.index("class Muon:") + 1, Kind.CLASS) == "Muon"


def python_oracle(source: str) -> list[tuple[str, int, int]]:
    """The same rules read from Python's own parser: the oracle the tree-sitter walker must match."""

    def visit(body, prefix, in_function):
        for node in body:
            if isinstance(node, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)):
                first = min([node.lineno] + [d.lineno for d in node.decorator_list])
                yield prefix + node.name, first, node.end_lineno
                yield from visit(node.body, f"{prefix}{node.name}.", not isinstance(node, ast.ClassDef))
            elif not in_function:
                targets = {
                    ast.Assign: lambda n: n.targets,
                    ast.AnnAssign: lambda n: [n.target],
                    ast.AugAssign: lambda n: [n.target],
                    ast.For: lambda n: [n.target],
                    ast.AsyncFor: lambda n: [n.target],
                    ast.With: lambda n: [i.optional_vars for i in n.items if i.optional_vars],
                    ast.AsyncWith: lambda n: [i.optional_vars for i in n.items if i.optional_vars],
                }.get(type(node), lambda n: [])(node)
                names = sorted(
                    (s.lineno, s.col_offset, s.id) for t in targets for s in ast.walk(t) if isinstance(s, ast.Name)
                )
                yield from ((prefix + name, node.lineno, node.end_lineno) for *_, name in names)
                handlers = [
                    h.body for h in getattr(node, "handlers", [])
                ]  # in source order: try, except, else, finally
                for block in (
                    [getattr(node, "body", [])] + handlers + [getattr(node, f, []) for f in ("orelse", "finalbody")]
                ):
                    if isinstance(block, list):
                        yield from visit(block, prefix, in_function)

    return list(visit(ast.parse(source).body, "", False))


TRICKY = '''
"""docstring"""
import torch  # imports bind nothing unless asked
x, (y, *rest) = 1, (2, 3, 4)
a = b = 0
c: int = 0
counter += 1
os.environ["K"] = table[key] = obj.attr = 1
if cond:
    flag = 1
elif other:
    other_flag: bool
else:
    with open(p) as handle, lock:
        inside_with = 1
    # a comment at the end of a block
try:
    t = 1
except E as err:
    handled = 1
else:
    no_error = 1
finally:
    cleanup = 1
for i, (j, k) in pairs:
    loop_var = i
while running:
    polled = 1
@decorator(arg)
@other
class Config(Base, metaclass=Meta):
    """doc"""
    lr: float = 0.1  # trailing comment
    if DEBUG:
        verbose = True
    def method(self, x=1):
        local = 2
        if x:
            def hidden():  # a def in a function's if-block is not a definition
                pass
        class Local:
            field = 1
        return local

        # comments after a function's last line are not its lines
    async def run(self):
        async with ctx as c:
            pass
        async for item in stream:
            pass

    # nor after a class's
async def main():
    pass
match command:
    case "go":
        matched = 1
'''


@pytest.mark.parametrize("name", ["tricky", "records", "project"])
def test_tree_sitter_walker_agrees_with_pythons_parser(name):
    root = Path(__file__).resolve().parent.parent
    if name == "tricky":
        sources = [TRICKY]
    elif name == "records":
        store = RecordsStore(root / "records.git")
        sources = [store.read_file(r, r.meta.entry).decode() for t in store.tracks() for r in store.records(t)]
    else:
        sources = [p.read_text() for package in ("replay", "analysis", "agent") for p in (root / package).rglob("*.py")]
    for source in sources:
        ours = [(d.qualname, d.first_line, d.last_line) for d in definitions(source)]
        assert ours == python_oracle(source)
