"""The chain benchmark can re-measure part of a chain: with --keep, the records outside the
measured range keep their runs from an earlier chain JSON, the written JSON says which
measurement each record's runs came from, and the table's header names them; an unusable
--keep file stops the benchmark with one line naming it before anything runs; rendering from the
JSON keeps the machine the runs were measured on."""

import importlib.util
import json
import sys

import pytest

from replay import paths
from replay.records.store import RecordsStore

BENCH = paths.PROJECT_ROOT / "bench"


@pytest.fixture
def chain(tmp_path, monkeypatch):
    """bench/chain.py as a module, writing its results under tmp_path instead of bench/results."""
    monkeypatch.syspath_prepend(str(BENCH))
    spec = importlib.util.spec_from_file_location("chain_under_test", BENCH / "chain.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(module, "RESULTS", tmp_path)
    monkeypatch.setattr(sys.modules["chain_plot"], "RESULTS", tmp_path)
    return module


def run(time_s, val_loss=3.74):
    return {"time_s": time_s, "val_loss": val_loss, "status": "ok"}


def test_kept_runs_and_their_measurement(chain, tmp_path):
    # an older file: no "measurements" key, one 3-run measurement of records 1-3
    earlier = tmp_path / "earlier.json"
    earlier.write_text(
        json.dumps(
            {
                "track": "mini",
                "runs": 3,
                "date": "2026-11-20",
                "results": {str(i): [run(100 / i), run(101 / i), run(99 / i)] for i in (1, 2, 3)},
            }
        )
    )
    kept, measurements = chain.load_kept(earlier, [1, 2])
    assert kept == {1: [run(100), run(101), run(99)], 2: [run(50), run(50.5), run(49.5)]}
    assert measurements == [
        {"records": [1, 2], "runs": 3, "date": "2026-11-20", "command": "python bench/chain.py --track mini --runs 3"}
    ]

    records = RecordsStore(paths.PROJECT_ROOT / "records.git").records("mini")[:3]
    new = {
        "records": [3],
        "runs": 5,
        "date": "2026-11-27",
        "command": "python bench/chain.py --track mini --runs 5 --first 3 --last 3",
        "done": 2,
    }
    table = chain.write_results("mini", records, {**kept, 3: [run(30), run(31)]}, [new, *measurements])
    header = table.splitlines()[0]
    assert (
        "records 3: 5 runs each (2026-11-27; `python bench/chain.py --track mini --runs 5 --first 3 --last 3`, 2 of "
        "5 passes done)" in header
    )
    assert "records 1-2: 3 runs each (2026-11-20; `python bench/chain.py --track mini --runs 3`)" in header
    row3 = next(line for line in table.splitlines() if line.startswith("| 3 |"))
    assert "| 30.5 |" in row3 and "| 2/2 |" in row3 and "1.64x" in row3  # mean 30.5 against record 2's 50

    written = json.loads((tmp_path / "chain-mini.json").read_text())
    assert written["measurements"] == [new, *measurements]
    assert list(written["results"]) == ["1", "2", "3"] and written["results"]["2"] == kept[2]
    assert "<svg" in (tmp_path / "chain-mini.svg").read_text()[:500] and (tmp_path / "chain-mini.png").is_file()

    # the file just written is itself a valid --keep source, measurement by measurement
    _, again = chain.load_kept(tmp_path / "chain-mini.json", [1, 3])
    assert [m["records"] for m in again] == [[3], [1]]


def test_unusable_keep_file_is_one_clear_line(chain, tmp_path):
    missing = tmp_path / "missing.json"
    with pytest.raises(SystemExit, match=r"--keep .*missing\.json: not a chain JSON with runs of records \[1, 2\]"):
        chain.load_kept(missing, [1, 2])
    partial = tmp_path / "partial.json"
    partial.write_text(json.dumps({"track": "mini", "runs": 3, "date": "2026-11-20", "results": {"1": [run(100)]}}))
    with pytest.raises(SystemExit, match="runs of records \\[1, 2\\]"):
        chain.load_kept(partial, [1, 2])


def test_rendering_keeps_the_machine_the_runs_were_measured_on(chain, tmp_path, monkeypatch):
    records = RecordsStore(paths.PROJECT_ROOT / "records.git").records("mini")
    indices = [r.index for r in records]
    measured = [{"records": indices, "runs": 2, "date": "2026-11-28", "command": "python bench/chain.py"}]
    runs = {i: [run(100 / i), run(101 / i)] for i in indices}
    chain.write_results("mini", records, runs, measured, tmp_path, machine="AMD EPYC (2 CPUs), no GPU")
    monkeypatch.setattr(sys, "argv", ["chain.py", "--track", "mini", "--render", "--out", str(tmp_path)])
    chain.main()
    assert json.loads((tmp_path / "chain-mini.json").read_text())["hardware"] == "AMD EPYC (2 CPUs), no GPU"
    assert "on AMD EPYC (2 CPUs), no GPU, interleaved" in (tmp_path / "chain-mini.md").read_text()
