"""A task that the chain cannot resolve says why in its target record (bench/within_noise.py):
the reasons must match the measurement exactly (one for every task that is not significantly
>= 5% faster, none for one that is, else nothing is written); the rewrite sets `within_noise` on
those targets only, removes a stale one, leaves code, logs, hints and every other field as they
were, keeps the old tip, and `records show` prints the reason. The shipped mini track holds a
reason for exactly the tasks its committed chain leaves unresolved."""

import json
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from replay import paths
from replay.cli.app import app
from replay.records.schema import parse_record_toml
from replay.records.store import RecordsStore

sys.path.insert(0, str(Path(__file__).parents[1] / "bench"))
import within_noise  # noqa: E402

# task 1 (r1 -> r2) clearly faster in every round; task 2 (r2 -> r3) the same times, shuffled
TIMES = {1: [2.1, 2.3, 1.9, 2.2, 2.0], 2: [1.6, 1.7, 1.5, 1.6, 1.65], 3: [1.65, 1.5, 1.7, 1.6, 1.6]}


def write_inputs(tmp_path: Path, reasons: dict[int, str]) -> tuple[Path, Path]:
    chain = {
        "track": "toy",
        "results": {
            str(i): [{"time_s": t, "val_loss": 3.2, "status": "ok"} for t in times] for i, times in TIMES.items()
        },
    }
    chain_path, reasons_path = tmp_path / "chain-toy.json", tmp_path / "within-noise-toy.toml"
    chain_path.write_text(json.dumps(chain))
    reasons_path.write_text("[tasks]\n" + "".join(f"{t} = {json.dumps(r)}\n" for t, r in reasons.items()))
    return chain_path, reasons_path


def run(monkeypatch, chain: Path, reasons: Path, *extra: str) -> None:
    argv = ["within_noise.py", "--track", "toy", "--chain", str(chain), "--reasons", str(reasons), *extra]
    monkeypatch.setattr(sys, "argv", argv)
    within_noise.main()


@pytest.mark.parametrize(
    ("reasons", "message"),
    [
        ({}, r"leaves tasks \[2\] unresolved; give a reason for \[2\]"),
        ({1: "no", 2: "why"}, r"drop the reasons for \[1\], which it resolves"),
    ],
)
def test_reasons_that_do_not_match_the_measurement_write_nothing(toy_store, tmp_path, monkeypatch, reasons, message):
    tip = toy_store.repo.references["refs/heads/toy"].target
    chain, reasons_path = write_inputs(tmp_path, reasons)
    with pytest.raises(SystemExit, match=message):
        run(monkeypatch, chain, reasons_path)
    assert toy_store.repo.references["refs/heads/toy"].target == tip


def test_the_reason_goes_to_the_target_only_and_nothing_else_changes(toy_store, tmp_path, monkeypatch):
    before = {r.index: r for r in toy_store.records("toy")}
    old_tip = toy_store.repo.references["refs/heads/toy"].target
    reason = 'Same code as record 2, "re-timed"; nothing to gain at this scale.'
    chain, reasons_path = write_inputs(tmp_path, {2: reason})
    run(monkeypatch, chain, reasons_path)
    store = RecordsStore(toy_store.path)
    for record in store.records("toy"):
        old = before[record.index]
        assert record.meta.within_noise == (reason if record.index == 3 else "")
        assert record.meta.result == old.meta.result and record.meta.notes == old.meta.notes
        assert store.files(record) == toy_store.files(old)
        for name in store.files(record):
            if name != "record.toml":
                assert store.read_file(record, name) == toy_store.read_file(old, name)
    pre = [ref for ref in store.repo.references if ref.startswith("refs/pre-within-noise/toy-")]
    assert len(pre) == 1 and store.repo.references[pre[0]].target == old_tip

    shown = CliRunner().invoke(app, ["records", "show", "toy/3"])
    assert shown.exit_code == 0 and f"within noise: {reason}" in shown.output


def test_a_stale_reason_is_removed_and_the_toml_is_restored_byte_for_byte():
    text = 'schema = 1\nname = "x"\n\n[result]\ntime_s = 1.0\n'
    with_reason = within_noise.with_reason(text, "a reason")
    assert with_reason == 'schema = 1\nname = "x"\nwithin_noise = "a reason"\n\n[result]\ntime_s = 1.0\n'
    assert within_noise.with_reason(with_reason, "") == text
    assert within_noise.with_reason(with_reason, "another") == within_noise.with_reason(text, "another")


def test_the_mini_track_says_why_for_exactly_the_tasks_its_chain_leaves_unresolved():
    store = RecordsStore(paths.PROJECT_ROOT / "records.git")
    records = store.records("mini")
    chain = json.loads((Path(within_noise.RESULTS) / "chain-mini.json").read_text())
    unresolved = within_noise.unresolved_tasks(records, chain)
    said = [r.index - 1 for r in records if r.meta.within_noise]
    assert said == unresolved
    for record in records:
        parse_record_toml(store.read_file(record, "record.toml").decode())  # the field is in the schema
