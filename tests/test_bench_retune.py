"""bench/retune.py sets exactly the Hyperparameters fields it is given, over every combination, and
refuses a field the script lacks with one line; a run is scored by the harness's own evaluation
(slow: the seed-0 run of mini record 21 reproduces its logged val loss)."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))

import retune  # noqa: E402

SCRIPT = """class Hyperparameters:
    num_iterations: int = 50  # steps of the run
    muon_lr: float = 0.045
    lr_floor: float = 0.1  # the cooldown ends here


args = Hyperparameters()
"""


def test_only_the_named_fields_change_and_comments_stay():
    out = retune.with_settings(SCRIPT, {"num_iterations": "47", "muon_lr": "0.06"})
    assert "    num_iterations: int = 47  # steps of the run\n" in out
    assert "    muon_lr: float = 0.06\n" in out
    assert "    lr_floor: float = 0.1  # the cooldown ends here\n" in out


def test_an_unknown_field_is_refused_with_one_line():
    with pytest.raises(SystemExit, match="no Hyperparameters field 'momentum'"):
        retune.with_settings(SCRIPT, {"momentum": "0.9"})


def test_the_grid_is_every_combination_in_order():
    assert retune.grid(["a=1,2", "b=3"]) == [{"a": "1", "b": "3"}, {"a": "2", "b": "3"}]
    assert retune.grid([]) == [{}]
    with pytest.raises(SystemExit, match="NAME=VALUE"):
        retune.grid(["a"])


@pytest.mark.slow
def test_a_seed_run_is_scored_as_the_harness_scores_it(tmp_path):
    from replay.records.store import RecordsStore

    store = RecordsStore()
    record = store.record("mini", 21)
    script = store.read_file(record, record.meta.entry).decode()
    loss, train_s, problem = retune.run_once(script, 0, record.meta.data, tmp_path)
    assert problem == "" and train_s > 0
    assert loss == pytest.approx(3.7408, abs=0.002)  # record 21's seed-0 run, as its notes give it
