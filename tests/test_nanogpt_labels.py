"""The shipped labels of the real speedrun's records (replay/importer/labels/nanogpt) are complete and well-formed.

Invariant: record 1 has a labels.toml with protected names and no innovations; every record
2-21 has a labels.toml that parses, names at least one innovation (unique names, a description,
anchors shaped like qualified names — only record 7, whose code equals record 6's, may have
none) and protected names, and three non-empty hint files (levels 1, 2, 3). That the anchors
name definitions in each record's own code is checked where the code is available (the importer
and ``replay.records.definitions.defined_names``); this test needs no checkout of the speedrun repository.
"""

from __future__ import annotations

import re
import tomllib

import pytest

from replay.importer.shipped_labels import LABELS_DIR, load_labels

ROOT = LABELS_DIR / "nanogpt"
RECORDS = range(2, 22)
CODE_UNCHANGED = {7}  # PyTorch upgrade only: nothing in the code to anchor
QUALIFIED = re.compile(r"[A-Za-z_][A-Za-z_0-9]*(\.[A-Za-z_][A-Za-z_0-9]*)*")
# optionally scoped: GPT.forward@tanh, or backward@ (statements inside backward only)
ANCHOR = re.compile(QUALIFIED.pattern + r"(@([A-Za-z_][A-Za-z_0-9]*)?)?")


def _raw(index: int) -> dict:
    return tomllib.loads((ROOT / f"r{index:02d}" / "labels.toml").read_text())


def test_record_1_has_protected_names_only():
    raw = _raw(1)
    assert raw.get("innovations", []) == []
    assert raw["protected"] and all(QUALIFIED.fullmatch(p) for p in raw["protected"])


@pytest.mark.parametrize("index", RECORDS)
def test_labels_are_well_formed(index):
    raw = _raw(index)
    assert set(raw) <= {"protected", "innovations"}, f"r{index:02d}: unknown keys {set(raw)}"
    innovations = raw.get("innovations", [])
    assert innovations, f"r{index:02d}: no innovations"
    names = [i["name"] for i in innovations]
    assert len(names) == len(set(names)), f"r{index:02d}: duplicate innovation names"
    for inv in innovations:
        assert set(inv) <= {"name", "description", "anchors", "probes"}, f"r{index:02d}: unknown keys in {inv['name']}"
        assert inv["name"].strip() and inv.get("description", "").strip()
        anchors = inv["anchors"]
        assert isinstance(anchors, list)
        assert anchors or index in CODE_UNCHANGED, f"r{index:02d}: '{inv['name']}' has no anchors"
        assert len(anchors) == len(set(anchors))
        for anchor in anchors:
            assert ANCHOR.fullmatch(anchor), f"r{index:02d}: anchor {anchor!r} is not a (scoped) qualified name"
    protected = raw["protected"]
    assert protected and len(protected) == len(set(protected))
    assert all(QUALIFIED.fullmatch(p) for p in protected)


@pytest.mark.parametrize("index", RECORDS)
def test_three_hint_levels(index):
    labels = load_labels("nanogpt", index)
    assert labels is not None
    assert sorted(labels.hints) == [1, 2, 3], f"r{index:02d}: hint levels {sorted(labels.hints)}"
    for level, text in labels.hints.items():
        assert text.strip(), f"r{index:02d}: level {level} hint is empty"


def test_no_stray_record_folders():
    folders = sorted(p.name for p in ROOT.iterdir() if p.is_dir())
    assert folders == [f"r{i:02d}" for i in range(1, 22)]
