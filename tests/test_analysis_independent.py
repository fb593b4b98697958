"""The independent attribution suite (tests/independent/*.cands, issue 18): hand-written candidates
that are not cut from record i+1's diff, with expected verdicts.

Mini track (default tests): every candidate applies to record i, is valid Python and differs from
both records; the development set gets every verdict right except the listed known misses (a miss
that starts passing must leave the list); each set keeps its precision and recall (floors just
under what was measured, README: attribution), decoys are rarely credited and few scores sit on the
threshold. Real track: the same figures where a modded-nanogpt clone is given
(``SPEEDRUN_NANOGPT_CHECKOUT``; skipped without one).
"""

from __future__ import annotations

import ast
import os
import warnings

import independent
import pytest

from analysis.task import load_task

# Development-set candidates attribution still gets wrong, and why (static features cannot see it, and
# no behavioural probe measures the idea).
KNOWN_MISSES = {
    "dn19-long-short": "two calls of the mask builder instead of clamping one mask's blocks",
}

# Floors per (set, track): precision, recall, decoy credit at most; measured figures are in the README.
FLOORS = {
    ("dev", "mini"): (0.97, 0.97, 0.03),
    ("heldout1", "mini"): (0.95, 0.85, 0.03),
    ("heldout2", "mini"): (0.95, 0.95, 0.03),
    ("heldout3", "mini"): (0.93, 0.93, 0.05),
    ("heldout4", "mini"): (0.95, 0.90, 0.03),
    ("heldout5", "mini"): (0.97, 0.92, 0.03),
    ("heldout26", "mini"): (0.95, 0.88, 0.08),  # first measurement 0.97 / 0.91 / 1 of 13, not tuned on
    ("dev", "nanogpt"): (0.95, 0.92, 0.03),
    ("heldout1", "nanogpt"): (0.95, 0.95, 0.03),
    ("heldout2", "nanogpt"): (0.95, 0.85, 0.03),
    ("heldout3", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout4", "nanogpt"): (0.95, 0.88, 0.03),
    ("heldout6", "nanogpt"): (0.95, 0.89, 0.03),
    ("heldout7", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout8", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout9", "nanogpt"): (0.95, 0.90, 0.05),
    ("heldout10", "nanogpt"): (0.95, 0.82, 0.03),
    ("heldout11", "nanogpt"): (0.95, 0.85, 0.03),
    ("heldout12", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout13", "nanogpt"): (0.95, 0.88, 0.03),
    ("heldout14", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout15", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout16", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout17", "nanogpt"): (0.95, 0.88, 0.03),
    ("heldout18", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout19", "nanogpt"): (0.95, 0.90, 0.03),
    ("heldout20", "nanogpt"): (0.95, 0.88, 0.03),
    ("heldout21", "nanogpt"): (0.95, 0.90, 0.03),  # first measurement 0.98 / 0.87 / 1 of 23, tuned on since
    ("heldout22", "nanogpt"): (0.95, 0.90, 0.03),  # first measurement 1.00 / 0.90 / 0 of 31, tuned on since
    ("heldout23", "nanogpt"): (0.95, 0.90, 0.03),  # first measurement 1.00 / 0.94 / 0 of 23, tuned on since
    ("heldout24", "nanogpt"): (0.95, 0.90, 0.03),  # first measurement 1.00 / 0.87 / 0 of 37, tuned on since
    ("heldout25", "nanogpt"): (0.95, 0.90, 0.03),  # first measurement 1.00 / 0.92 / 0 of 23, tuned on since
    ("heldout26", "nanogpt"): (0.90, 0.95, 0.17),  # first measurement 0.94 / 1.00 / 1 of 6, not tuned on
    ("seen", "nanogpt"): (0.95, 0.84, 0.03),
}
KNIFE_EDGE, KNIFE_EDGE_MAX = 0.05, 0.05  # at most 5% of the scores within 0.05 of the threshold


@pytest.fixture(scope="module")
def mini_store():
    from test_analysis_mini_track import mini_store as store

    return store()


@pytest.fixture(scope="module")
def mini_verdicts(mini_store):
    return {kind: independent.evaluate(mini_store, "mini", independent.load(kind, "mini")) for kind in _kinds("mini")}


def _parses(text: str) -> None:
    with warnings.catch_warnings():  # the real scripts have invalid escapes in some strings
        warnings.simplefilter("ignore", (SyntaxWarning, DeprecationWarning))
        ast.parse(text)


def _kinds(track: str) -> list[str]:
    return [kind for kind, t in independent.sets() if t == track]


def test_suite_is_large_and_varied():
    sets = independent.sets()
    everything = [c for kind, track in sets for c in independent.load(kind, track)]
    assert len(everything) >= 60 and len({(c.track, c.task) for c in everything}) >= 12
    assert {c.cls for c in everything} == set(independent.CLASSES)
    assert {track for _, track in sets} == {"mini", "nanogpt"}


def test_every_mini_candidate_applies_and_is_its_own_code(mini_store):
    tasks = {}  # a task's records are loaded once
    for kind in _kinds("mini"):
        for c in independent.load(kind, "mini"):
            if c.task not in tasks:
                tasks[c.task] = load_task(mini_store, "mini", c.task)
            base, target, innovations = tasks[c.task]
            text = c.build(base.text)
            _parses(text)
            assert text != base.text and text != target.text, c.id
            c.expected([i.name for i in innovations])  # every name is one of the task's innovations


def test_dev_verdicts_are_right_but_for_known_misses(mini_verdicts):
    wrong = {v.candidate.id for v in mini_verdicts["dev"] if v.reproduced != v.expected}
    unexpected = wrong - KNOWN_MISSES.keys()
    assert not unexpected, [
        (v.candidate.id, v.innovation, v.expected, v.score)
        for v in mini_verdicts["dev"]
        if v.candidate.id in unexpected
    ]
    ids = {v.candidate.id for v in mini_verdicts["dev"]}
    fixed = {k for k in KNOWN_MISSES if k in ids} - wrong
    assert not fixed, f"known misses now right, take them off KNOWN_MISSES: {sorted(fixed)}"


def _check_floors(verdicts: dict, track: str) -> None:
    for kind, vs in verdicts.items():
        t = independent.tally(vs)
        p_min, r_min, credit_max = FLOORS[(kind, track)]
        credited, decoys = independent.decoy_credit(vs)
        assert t.precision is not None and t.precision >= p_min, (kind, track, t)
        assert t.recall is not None and t.recall >= r_min, (kind, track, t)
        assert credited <= credit_max * decoys, (kind, track, credited, decoys)


def test_mini_precision_recall_and_decoys(mini_verdicts):
    _check_floors(mini_verdicts, "mini")


def test_idea_layer_beats_the_statement_layer(mini_verdicts):
    """On the held-out sets the idea layer is right where statement matching alone (attribution
    before issue 18) is not: higher recall, no more credited decoys."""
    for kind in ("heldout1", "heldout2", "heldout3", "heldout4", "heldout5"):
        vs = mini_verdicts[kind]
        ideas, statements = independent.tally(vs), independent.tally(vs, statements=True)
        assert ideas.recall > statements.recall and ideas.precision >= statements.precision, kind
        assert independent.decoy_credit(vs)[0] <= independent.decoy_credit(vs, statements=True)[0]


def test_probes_right_static_verdicts_and_wrong_none(mini_verdicts):
    """Where a behavioural probe decides, it agrees with the manifest: it turns wrong static verdicts
    right (another mechanism for the same idea, a decoy that only looks like it) and no right one wrong."""
    probed = [v for vs in mini_verdicts.values() for v in vs if v.decided_by == "probe"]
    assert probed
    wronged = [(v.candidate.id, v.innovation) for v in probed if v.static_reproduced == v.expected != v.reproduced]
    assert not wronged
    assert any(v.reproduced == v.expected != v.static_reproduced for v in probed)


def test_few_verdicts_on_the_knife_edge(mini_verdicts):
    scores = [v.score for vs in mini_verdicts.values() for v in vs]
    near = sum(abs(s - 0.5) < KNIFE_EDGE for s in scores)
    assert near <= KNIFE_EDGE_MAX * len(scores), (near, len(scores))


CHECKOUT = os.environ.get("SPEEDRUN_NANOGPT_CHECKOUT")


@pytest.mark.skipif(not CHECKOUT, reason="needs SPEEDRUN_NANOGPT_CHECKOUT (a modded-nanogpt clone)")
def test_real_track_suite(tmp_path_factory):
    store, _ = independent.real_track_store(CHECKOUT, tmp_path_factory.mktemp("real"))
    verdicts = {}
    for kind in _kinds("nanogpt"):
        candidates = independent.load(kind, "nanogpt")
        for c in candidates:
            base, target, _ = load_task(store, "nanogpt", c.task)
            text = c.build(base.text)
            _parses(text)
            assert text != base.text and text != target.text, c.id
        verdicts[kind] = independent.evaluate(store, "nanogpt", candidates)
    wrong = {v.candidate.id for v in verdicts["dev"] if v.reproduced != v.expected}
    assert wrong <= KNOWN_MISSES.keys(), sorted(wrong - KNOWN_MISSES.keys())
    _check_floors(verdicts, "nanogpt")
