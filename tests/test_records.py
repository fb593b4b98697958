"""The records store and `records add`: records are first-parent commits with tags, tasks skip
`task = false`, a list of indices names its gaps, and add makes exactly one commit and one tag
or — for every rejection — leaves the repository byte-for-byte untouched."""

import hashlib
import shutil
from pathlib import Path

import pygit2
import pytest

from replay.errors import SpeedrunError
from replay.records.add import add_record, init_records_repo
from replay.records.schema import RecordError, parse_record_toml
from replay.records.store import RecordsStore, index_ranges

from toyrecords import toy_log, write_toy_record


def snapshot(repo_path: Path) -> dict[str, str]:
    return {
        str(p.relative_to(repo_path)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(repo_path.rglob("*"))
        if p.is_file()
    }


def test_store_lists_records_tags_and_tasks(toy_store):
    assert toy_store.tracks() == ["toy"]
    records = toy_store.records("toy")
    assert [r.index for r in records] == [1, 2, 3]
    repo = toy_store.repo
    for record in records:
        assert str(repo.references[f"refs/tags/toy/r{record.index:02d}"].target) == record.commit_id
    assert repo[records[1].commit_id].parents[0].id == repo[records[0].commit_id].id
    assert [(t.number, t.start.index, t.target.index) for t in toy_store.tasks("toy")] == [(1, 1, 2), (2, 2, 3)]
    assert b"step_ms = 80.0" in toy_store.read_file(records[1], "train_gpt.py")
    assert "hints/level2.md" in toy_store.files(records[1])
    assert toy_store.resolve("toy/r02") == toy_store.resolve("toy/2") == records[1]


def test_task_false_is_skipped(home):
    store = init_records_repo(home / "records.git")
    for index in (1, 2, 3):
        add_record(store, "toy", write_toy_record(home / f"s{index}", index=index, task=index != 2))
    assert [t.number for t in RecordsStore(home / "records.git").tasks("toy")] == [1]


def test_unknown_track_and_task_errors(toy_store):
    with pytest.raises(SpeedrunError, match="unknown track 'nope'.*toy"):
        toy_store.records("nope")
    with pytest.raises(SpeedrunError, match="no task 7 .*tasks: 1, 2"):
        toy_store.task("toy", 7)
    with pytest.raises(SpeedrunError, match="no file"):
        toy_store.read_file(toy_store.record("toy", 1), "missing.py")


def test_add_makes_exactly_one_commit_and_one_tag(toy_store, home):
    repo = toy_store.repo
    refs_before = set(repo.references)
    commits_before = sum(1 for _ in repo.walk(repo.references["refs/heads/toy"].target))
    folder = write_toy_record(home / "s4", index=4, step_ms=50.0)
    (folder / "logs").mkdir()
    (folder / "logs" / "run.txt").write_text(toy_log())
    add_record(toy_store, "toy", folder)
    repo = pygit2.Repository(str(home / "records.git"))
    assert set(repo.references) - refs_before == {"refs/tags/toy/r04"}
    assert sum(1 for _ in repo.walk(repo.references["refs/heads/toy"].target)) == commits_before + 1
    tip = repo.references["refs/heads/toy"].peel(pygit2.Commit)
    assert sorted(e.name for e in tip.tree) == ["hints", "logs", "record.toml", "train_gpt.py"]
    assert RecordsStore(home / "records.git").record("toy", 4).meta.result.time_s == 1.0


def test_first_record_creates_the_track(home):
    store = init_records_repo(home / "records.git")
    add_record(store, "fresh", write_toy_record(home / "s1", track="fresh"))
    assert RecordsStore(home / "records.git").tracks() == ["fresh"]


def _edit_toml(folder: Path, old: str, new: str) -> None:
    toml = folder / "record.toml"
    assert old in toml.read_text()
    toml.write_text(toml.read_text().replace(old, new))


REJECTIONS = {
    "wrong index": (lambda f: _edit_toml(f, "index = 4", "index = 6"), "field 'index' is 6; the next record"),
    "date before parent": (
        lambda f: _edit_toml(f, "date = 2026-01-04", "date = 2025-12-01"),
        "field 'date' 2025-12-01 is before",
    ),
    "wrong track": (lambda f: _edit_toml(f, 'track = "toy"', 'track = "other"'), "field 'track' is 'other'"),
    "entry missing": (lambda f: (f / "train_gpt.py").unlink(), "field 'entry' names train_gpt.py"),
    "entry not python": (lambda f: (f / "train_gpt.py").write_text("def broken(:\n"), "not valid Python"),
    "bad log": (
        lambda f: ((f / "logs").mkdir(), (f / "logs" / "x.txt").write_text("no steps here\n")),
        "no validation step line",
    ),
    "bad hint name": (lambda f: (f / "hints" / "level9.md").write_text("x"), "hints must be"),
    "missing field": (lambda f: _edit_toml(f, "nproc = 1\n", ""), "missing field 'nproc'"),
    "unknown field": (lambda f: _edit_toml(f, "nproc = 1\n", "nproc = 1\nnprocs = 2\n"), "unknown field 'nprocs'"),
    "bad type": (
        lambda f: _edit_toml(f, "time_s = 0.4", 'time_s = "fast"'),
        "'result.time_s' must be a finite positive number",
    ),
    "bad launcher": (
        lambda f: _edit_toml(f, 'launcher = "python"', 'launcher = "mpirun"'),
        "'launcher' must be one of",
    ),
    "anchor not in code": (
        lambda f: _edit_toml(f, '"Hyperparameters.step_ms"', '"Muon.step"'),
        "anchor 'Muon.step' is not defined",
    ),
    "protected not in code": (
        lambda f: _edit_toml(f, '"Hyperparameters.val_loss_every"', '"timer"'),
        "protected name 'timer' is not defined",
    ),
    "no record.toml": (lambda f: (f / "record.toml").unlink(), "no record.toml"),
}


@pytest.mark.parametrize("case", sorted(REJECTIONS))
def test_rejected_record_leaves_repository_untouched(toy_store, home, case):
    breaker, message = REJECTIONS[case]
    folder = write_toy_record(home / "s4", index=4, steps=4)
    breaker(folder)
    before = snapshot(home / "records.git")
    with pytest.raises(RecordError, match=message):
        add_record(toy_store, "toy", folder)
    assert snapshot(home / "records.git") == before


def test_existing_tag_is_rejected_untouched(toy_store, home):
    toy_store.repo.references.create("refs/tags/toy/r04", toy_store.record("toy", 1).commit_id)
    before = snapshot(home / "records.git")
    with pytest.raises(RecordError, match="tag toy/r04 already exists"):
        add_record(toy_store, "toy", write_toy_record(home / "s4", index=4))
    assert snapshot(home / "records.git") == before


def test_record_toml_round_trip_fields(home):
    folder = write_toy_record(home / "s1")
    meta = parse_record_toml((folder / "record.toml").read_text())
    assert meta.innovations[0].anchors == ("Hyperparameters.step_ms",)
    assert meta.protected == ("Hyperparameters.val_loss_every",)
    assert meta.launcher == "python" and meta.task is True and meta.data is None


def test_missing_records_repo_is_one_clear_error(tmp_path):
    with pytest.raises(SpeedrunError, match="records repository not found"):
        RecordsStore(tmp_path / "nothing.git")


def test_reading_never_writes(toy_store, home):
    before = snapshot(home / "records.git")
    store = RecordsStore(home / "records.git")
    for track in store.tracks():
        for record in store.records(track):
            store.files(record)
        store.tasks(track)
    assert snapshot(home / "records.git") == before
    shutil.rmtree(home / "runs", ignore_errors=True)


def test_index_ranges_name_records_with_their_gaps():
    assert [index_ranges(x) for x in ([1, 2, 3, 5], [7], [4, 2, 3], [])] == ["1-3, 5", "7", "2-4", ""]
