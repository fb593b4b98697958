"""The structural diff reports what changed and nothing else: identical, reformatted, reordered or
consistently renamed code gives no edits; renamed definitions are matched, not deleted and
re-added; unparsable input falls back to a line diff that says why; `diff` prints it."""

import subprocess
import sys
from pathlib import Path

from analysis.diff import diff_versions, load

from candidates import reformat, rename, reorder
from fixtures.analysis.fixture_records import HERE, script


def d(a, b):
    return diff_versions(load(a, "a"), load(b, "b"))


def test_identical_and_cosmetic_changes_have_no_edits():
    base = script(2)
    for variant in (base, reformat(base), reorder(base), rename(base)):
        assert d(base, variant).edits == []


def test_renamed_class_is_matched_not_readded():
    base = script(2)
    diff = d(base, rename(base, "Rotary"))
    assert diff.edits == [] and diff.renames.get("Rotary") == "RotaryRenamed"
    assert not diff.added_units() and not diff.removed_units()


def test_real_edits_are_located():
    diff = d(script(2), script(3))
    units = sorted({(e.kind, (e.new or e.old).qualname) for e in diff.edits})
    assert units == [
        ("insert", "GPT.__init__"),
        ("update", "Hyperparameters.num_iterations"),
        ("update", "MLP.forward"),
    ]
    update = next(e for e in diff.edits if e.new.qualname == "MLP.forward")
    assert update.old.lines == (69, 69) and update.new.lines == (69, 69)


def test_added_and_removed_definitions():
    diff = d(script(1), script(2))
    assert {u.qualname for u in diff.added_units()} == {"Rotary", "Rotary.__init__", "Rotary.forward", "apply_rotary"}
    assert diff.removed_units() == []


def test_unparsable_side_falls_back_to_line_diff():
    diff = d(script(1), script(1) + "\ndef broken(:\n")
    assert diff.fallback.startswith("line diff: b: syntax error near line")
    assert [e.kind for e in diff.edits] == ["insert"]


def test_diff_command_on_files(home):
    out = subprocess.run(
        [str(Path(sys.executable).parent / "speedrun"), "diff", str(HERE / "r2.py"), str(HERE / "r3.py")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "~ MLP.forward" in out.stdout and "F.relu(self.c_fc(x)).square()" in out.stdout
    bad = subprocess.run(
        [str(Path(sys.executable).parent / "speedrun"), "diff", "no/such", "thing"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert bad.returncode == 1 and bad.stderr.startswith("error: ") and "Traceback" not in bad.stderr


def test_a_short_helper_is_not_taken_for_an_unrelated_one_renamed():
    """Two short definitions whose names share no word are one renamed only if they are clearly
    alike: record 18 deleted GPTConfig's vocabulary rounding and added a window schedule of about
    the same shape, which must read as a removal and an addition (else the schedule's signature
    holds the difference of two unrelated helpers). A renamed helper that keeps a word still pairs."""
    settings = "class Hyperparameters:\n    num_iterations = 10\n\n\nargs = Hyperparameters()\n\n\n"
    old = settings + (
        "class GPTConfig:\n    vocab_size: int = 50257\n\n"
        "    def vocab_size_next_multiple_of(self, n: int):\n"
        "        v = self.vocab_size\n"
        "        return next(x for x in range(v + n)[::n] if x >= v)\n\n\n"
        "def get_lr(it):\n    return min(1.0, it / 10)\n"
    )
    new = settings + (
        "class GPTConfig:\n    vocab_size: int = 50257\n\n\n"
        "def get_sliding_window_blocks(it):\n"
        "    x = it / args.num_iterations\n"
        "    assert 0 <= x <= 1\n"
        "    return int(((1 - x) * 128 + x * 1856) // 128)\n\n\n"
        "def get_lr_multiplier(it):\n    return min(1.0, it / 20)\n"
    )
    diff = d(old, new)
    assert {u.qualname for u in diff.removed_units()} == {"GPTConfig.vocab_size_next_multiple_of"}
    assert {u.qualname for u in diff.added_units()} == {"get_sliding_window_blocks"}
    assert any(u.qualname == "get_lr" and v.qualname == "get_lr_multiplier" for u, v in diff.pairs.items())
