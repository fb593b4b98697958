"""One implementation of "the qualified names a script defines": every name that ``records add``
accepts as an anchor is a name that attribution gives the statements inside it and that the
agent's protected-name rule finds the source of, whatever kind of definition it is (a nested
function, a variable inside a module-level ``if`` or ``for`` block, a class field, a method)."""

import pytest

from agent.rules import protected_definitions
from analysis.attribute import Innovation, attribute
from analysis.diff import load
from analysis.syntax import Cache
from replay.records.definitions import Kind, LineOwners, defined_names, definitions

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
