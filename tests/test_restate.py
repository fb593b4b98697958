"""Restating a track from a chain measurement (bench/restate.py) rewrites only what the
measurement decides: every record's logs become its runs' training output closed by the
harness's validation line, which the log parser reads back as the run's time and val loss;
[result] becomes their median, sd, mean and count; notes name the measurement; code, hints and
innovations stay byte for byte; tags and the branch move, the old tip is kept. A measurement
with a missing or failed run writes nothing."""

import json
import statistics
import sys
from pathlib import Path

import pytest

from replay.records.official_log import MARKER, official_log
from replay.records.store import RecordsStore
from replay.score.log_parser import parse_log

from toyrecords import toy_log

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import restate  # noqa: E402

TIMES = {1: [2.1, 2.3, 1.9], 2: [1.6, 1.7, 1.5], 3: [1.2, 1.1, 1.3]}


def chain_measurement(tmp_path: Path, store: RecordsStore, fail: tuple[int, int] | None = None) -> Path:
    """A chain JSON over the toy track's 3 records x 3 seeds, with the training logs on disk."""
    folder = tmp_path / "bench-chain-toy"
    results = {}
    for index, times in TIMES.items():
        results[str(index)] = []
        for seed, time_s in enumerate(times):
            log = f"logs/r{index:02d}-{seed}.txt"
            (folder / log).parent.mkdir(parents=True, exist_ok=True)
            training = "\n".join(line for line in toy_log(steps=20).splitlines() if "val_loss" not in line)
            (folder / log).write_text(training + "\n")
            status = "failed" if fail == (index, seed) else "ok"
            results[str(index)].append({"time_s": time_s, "val_loss": 3.2 + seed / 100, "status": status, "log": log})
    measurement = {
        "records": [1, 2, 3],
        "runs": 3,
        "date": "2026-11-28",
        "command": "python bench/chain.py --track toy --runs 3",
        "folder": str(folder),
    }
    path = tmp_path / "chain-toy.json"
    path.write_text(json.dumps({"track": "toy", "measurements": [measurement], "results": results}))
    return path


def test_restate_rewrites_logs_results_and_notes_and_nothing_else(toy_store, tmp_path, monkeypatch):
    before = {r.index: r for r in toy_store.records("toy")}
    old_tip = toy_store.repo.references["refs/heads/toy"].target
    chain = chain_measurement(tmp_path, toy_store)
    monkeypatch.setattr(sys, "argv", ["restate.py", "--track", "toy", "--chain", str(chain)])
    restate.main()
    store = RecordsStore(toy_store.path)
    for record in store.records("toy"):
        old = before[record.index]
        assert record.commit_id != old.commit_id
        assert store.read_file(record, "train_gpt.py") == toy_store.read_file(old, "train_gpt.py")
        assert [f for f in store.files(record) if f.startswith("hints/")] == [
            f for f in toy_store.files(old) if f.startswith("hints/")
        ]
        assert record.meta.innovations == old.meta.innovations
        logs = sorted(f for f in store.files(record) if f.startswith("logs/"))
        assert logs == ["logs/seed0.txt", "logs/seed1.txt", "logs/seed2.txt"]
        finals = [parse_log(store.read_file(record, name).decode()).final for name in logs]
        assert [f.train_time_ms / 1000 for f in finals] == TIMES[record.index]
        assert [f.val_loss for f in finals] == [3.2, 3.21, 3.22]
        result = record.meta.result
        assert result.time_s == round(statistics.median(TIMES[record.index]), 1) and result.runs == 3
        assert result.val_loss == pytest.approx(3.21)
        assert (
            "Official figures since 2026-11-28" in record.meta.notes
            and "bench/chain.py --track toy" in record.meta.notes
        )
        tag = store.repo.references[f"refs/tags/toy/r{record.index:02d}"].target
        assert str(tag) == record.commit_id
    assert [r.index for r in store.records("toy")] == [1, 2, 3]
    pre = [ref for ref in store.repo.references if ref.startswith("refs/pre-restate/toy-")]
    assert len(pre) == 1 and store.repo.references[pre[0]].target == old_tip


def test_a_failed_run_writes_nothing(toy_store, tmp_path, monkeypatch):
    tip = toy_store.repo.references["refs/heads/toy"].target
    chain = chain_measurement(tmp_path, toy_store, fail=(2, 1))
    monkeypatch.setattr(sys, "argv", ["restate.py", "--track", "toy", "--chain", str(chain)])
    with pytest.raises(SystemExit, match="r02 has 3 runs, not 3 or more that all reached the target"):
        restate.main()
    assert toy_store.repo.references["refs/heads/toy"].target == tip


def test_official_log_is_a_speedrun_log_with_the_harness_line_last():
    text = official_log(
        "step:1/5 train_time:10ms step_avg:10ms\nstep:5/5 train_time:50ms step_avg:10ms", 5, 11.72, 3.74713
    )
    assert MARKER in text and text.endswith("step:5/5 val_loss:3.7471 train_time:11720ms\n")
    final = parse_log(text).final
    assert (final.step, final.val_loss, final.train_time_ms) == (5, 3.7471, 11720)
    with pytest.raises(ValueError):
        official_log("", 5, float("nan"), 3.7)
