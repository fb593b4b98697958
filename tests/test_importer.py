"""`speedrun records import` turns a modded-nanogpt checkout into one commit per record, exactly.

Guards: the record list comes from the README table (re-timings and log-less rows skipped with a
note), and every record's index is its README number (a log-less row leaves a gap that the task
before it spans, labelled; a track numbered by position before that rule is refused until
`records renumber` has made it exactly what a fresh import makes); code comes from logs in every
real variant (leading separator or not, appended kernel files split out, folders of runs) and,
for records 1-3, from the root script history with run.sh's flags; results, pins, task flags and
shipped labels/hints land in record.toml; re-importing is a no-op and a newer checkout only
appends; a checkout that lacks something fails with one line naming it and leaves the track
untouched.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from analysis.diff import changed_definitions
from replay.errors import SpeedrunError
from replay.importer.modded_nanogpt import ENTRY, import_records
from replay.importer.renumber import renumber
from replay.records.add import add_record, init_records_repo
from replay.records.store import RecordsStore

from speedrun_checkout import KERNELS, build_checkout, script


def write_labels(root: Path, track: str = "toy") -> Path:
    """Labels for records 1, 2 and 5 of the fixture, plus record 3's official result."""
    base = root / "labels" / track
    protected = '["Hyperparameters.input_val_bin", "Hyperparameters.val_tokens", "evaluate"]'
    (base / "r01").mkdir(parents=True)
    (base / "r01" / "labels.toml").write_text(f"protected = {protected}\n")
    for number, anchors in ((2, '["block_2", "Hyperparameters.learning_rate"]'), (5, '["block_5"]')):
        folder = base / f"r{number:02d}"
        (folder / "hints").mkdir(parents=True)
        (folder / "labels.toml").write_text(
            f'protected = {protected}\n\n[[innovations]]\nname = "technique {number}"\n'
            f'description = "What record {number} did."\nanchors = {anchors}\n'
        )
        for level in (1, 2, 3):
            (folder / "hints" / f"level{level}.md").write_text(f"Our hint {level} for record {number}.\n")
    (base / "official.toml").write_text("[r03]\nval_loss = 3.2813\nsteps = 3000\n")
    return root / "labels"


@pytest.fixture
def checkout(tmp_path):
    return build_checkout(tmp_path / "src")


@pytest.fixture
def store(home):
    return init_records_repo(home / "records.git")


def run_import(store, checkout, labels_root, through=8, **kwargs):
    repo, commits = checkout
    return import_records(
        repo,
        store,
        changed_definitions=changed_definitions,
        track="toy",
        through=through,
        root_commits=commits,
        labels_root=labels_root,
        **kwargs,
    )


def text(store, label, path):
    return store.read_file(store.resolve(label), path).decode()


def test_import_builds_records_tasks_code_and_metadata(store, checkout, tmp_path):
    report = run_import(store, checkout, write_labels(tmp_path))
    assert report.added == [f"toy/r{i:02d}" for i in range(1, 9)]
    assert any("re-timing of record 5" in note for note in report.skipped)
    # 6 -> 7 has identical code: no task 6, as in the paper.
    assert [t.number for t in store.tasks("toy")] == [1, 2, 3, 4, 5, 7]
    # Code: root scripts for 1-3, logs with and without a leading separator, appended kernels split out.
    for number in (1, 2, 3, 4, 5, 8):
        assert text(store, f"toy/{number}", ENTRY) == script(number)
    assert text(store, "toy/5", "triton_kernels.py") == KERNELS
    assert "triton_kernels" not in text(store, "toy/5", ENTRY)
    assert text(store, "toy/6", ENTRY) == text(store, "toy/7", ENTRY) == script(6)
    r1, r3, r4, r6 = (store.resolve(f"toy/{n}").meta for n in (1, 3, 4, 6))
    assert r1.args[-2:] == ("--num_iterations", "1000") and r1.args[:2] == (
        "--input_bin",
        "data/fineweb10B/fineweb_train_*.bin",
    )
    assert (r1.result.val_loss, r1.result.steps, r1.result.time_s) == (3.2799, 500, 2700.0)  # llm.c-format log
    assert (r3.result.val_loss, r3.result.steps) == (3.2813, 3000)  # official.toml for the log-less record
    assert r4.result.val_loss == 3.2771 and r4.environment.torch == "2.4.1+cu121"
    assert r4.environment.python == "3.12" and "python pin taken from README #5" in r4.notes
    assert r1.environment.torch == "2.4.1+cu121"  # no log header: the nearest later record's pin
    assert (
        r6.result.runs == 2 and r6.result.val_loss == 3.276
    )  # the folder's two runs of this code; the experiment left out
    assert "ran other code" in r6.notes and not r6.task
    assert (r1.launcher, r1.nproc, r1.target_val_loss, r1.data, r1.date.isoformat()) == (
        "torchrun",
        8,
        3.28,
        "fineweb10B",
        "2024-05-28",
    )
    assert store.resolve("toy/3").meta.authors == ("@b", "@c")
    # Shipped labels and hints.
    r2 = store.resolve("toy/2").meta
    assert [(i.name, i.anchors) for i in r2.innovations] == [
        ("technique 2", ("block_2", "Hyperparameters.learning_rate"))
    ]
    assert r2.protected == ("Hyperparameters.input_val_bin", "Hyperparameters.val_tokens", "evaluate")
    assert text(store, "toy/2", "hints/level3.md") == "Our hint 3 for record 2.\n"
    # The official log is kept where it has step lines.
    assert "logs/a.txt" in store.files(store.resolve("toy/4")) and not any(
        f.startswith("logs/") for f in store.files(store.resolve("toy/1"))
    )


def test_unlabelled_records_get_derived_labels(store, checkout, tmp_path):
    run_import(store, checkout, write_labels(tmp_path))
    r8 = store.resolve("toy/8").meta
    assert [i.name for i in r8.innovations] == ["Plain description"]
    assert "block_8" in r8.innovations[0].anchors
    # Protected names carry over from the parent where the code still defines them.
    assert r8.protected == ("Hyperparameters.input_val_bin", "Hyperparameters.val_tokens", "evaluate")


def test_reimport_is_a_noop_and_a_newer_checkout_appends(store, checkout, tmp_path):
    labels = write_labels(tmp_path)
    run_import(store, checkout, labels, through=7)
    head = str(store.repo.branches.local["toy"].target)
    again = run_import(store, checkout, labels, through=7)
    assert again.added == [] and len(again.unchanged) == 7
    assert str(RecordsStore(store.path).repo.branches.local["toy"].target) == head
    more = run_import(RecordsStore(store.path), checkout, labels, through=None)
    assert more.added == ["toy/r08", "toy/r10"]  # README numbers: #9 published no code
    assert any("README #9" in note and "no log" in note for note in more.skipped)
    r10 = RecordsStore(store.path).resolve("toy/10").meta
    assert "README #10" in r10.notes and r10.result.val_loss == 3.2745


def test_paper_hints_replace_ours(store, checkout, tmp_path):
    paper = tmp_path / "paper"
    (paper / "record_1").mkdir(parents=True)
    (paper / "record_1" / "level_1_pseudo.txt").write_text("paper pseudo for task 1")
    (paper / "record_1" / "level_5_paper.txt").write_text("paper mini-paper for task 1")
    run_import(store, checkout, write_labels(tmp_path), through=3, hints_dir=paper)
    record = store.resolve("toy/2")
    assert text(store, "toy/2", "hints/level1.md") == "paper pseudo for task 1"
    assert text(store, "toy/2", "hints/level3.md") == "paper mini-paper for task 1"
    assert "hints/level2.md" not in store.files(record)


@pytest.mark.parametrize(
    "breakage, message",
    [
        ("no-git", "not a git checkout"),
        ("no-table", "no 'World record history' table"),
        ("missing-log", "record 4's log 'records/r4/a.txt'"),
        ("missing-commit", "commit deadbeef (record 1's train_gpt2.py) is missing"),
        ("codeless-log", "carries no code"),
    ],
)
def test_broken_checkouts_fail_with_one_line_and_write_nothing(store, checkout, tmp_path, breakage, message):
    from speedrun_checkout import commit_all, git

    repo, commits = checkout
    if breakage == "no-git":
        repo = tmp_path / "plain"
        repo.mkdir()
    elif breakage == "no-table":
        (repo / "README.md").write_text("# nothing here\n")
        commit_all(repo, "drop table")
    elif breakage == "missing-log":
        git(repo, "rm", "-q", "records/r4/a.txt")
        commit_all(repo, "drop log")
    elif breakage == "missing-commit":
        commits = {**commits, 1: "deadbeef"}
    elif breakage == "codeless-log":
        (repo / "records" / "r4" / "a.txt").write_text("step:1/1 val_loss:3.2 train_time:1ms step_avg:1.00ms\n")
        commit_all(repo, "codeless")
    with pytest.raises(SpeedrunError) as info:
        import_records(
            repo,
            store,
            changed_definitions=changed_definitions,
            track="toy",
            through=8,
            root_commits=commits,
            labels_root=write_labels(tmp_path),
        )
    assert message in str(info.value) and "\n" not in str(info.value)
    assert "toy" not in RecordsStore(store.path).tracks()


def test_reimport_from_another_history_is_refused(store, checkout, tmp_path):
    labels = write_labels(tmp_path)
    run_import(store, checkout, labels, through=4)
    other, commits = build_checkout(tmp_path / "other")
    (other / "records" / "r4" / "a.txt").write_text(
        (other / "records" / "r4" / "a.txt").read_text().replace("block_4", "block_x")
    )
    from speedrun_checkout import commit_all

    commit_all(other, "changed")
    with pytest.raises(SpeedrunError, match="differs from README #4"):
        import_records(
            other,
            RecordsStore(store.path),
            changed_definitions=changed_definitions,
            track="toy",
            through=5,
            root_commits=commits,
            labels_root=labels,
        )


def test_cli_names_the_missing_root_commit(store, checkout):
    repo, _ = checkout
    speedrun = str(Path(sys.executable).parent / "speedrun")
    out = subprocess.run(
        [speedrun, "records", "import", str(repo), "--track", "toy", "--through", "3"], capture_output=True, text=True
    )
    assert out.returncode == 1
    assert out.stderr.strip().startswith("error:") and "4a452a26" in out.stderr and "Traceback" not in out.stderr


def test_indices_are_readme_numbers_and_a_task_spans_a_gap(store, checkout, tmp_path):
    run_import(store, checkout, write_labels(tmp_path), through=None)
    assert [r.index for r in store.records("toy")] == [1, 2, 3, 4, 5, 6, 7, 8, 10]
    task = store.task("toy", 8)
    assert task.target.label == "toy/r10" and task.skipped == [9]
    assert "README #9 published no code: task 8 spans to this record." in task.target.meta.notes
    with pytest.raises(SpeedrunError, match="has records 1-8, 10; there is no record 9"):
        store.resolve("toy/9")
    speedrun = str(Path(sys.executable).parent / "speedrun")
    listed = subprocess.run([speedrun, "tasks", "--track", "toy"], capture_output=True, text=True).stdout
    assert "task  8: r08 -> r10" in listed and "[spans #9: no published code]" in listed


def positional_track(store, checkout, tmp_path):
    """The track an import made before indices were README numbers: README #10 as record 9."""
    run_import(store, checkout, write_labels(tmp_path), through=8)
    fresh = init_records_repo(tmp_path / "fresh.git")
    run_import(fresh, checkout, write_labels(tmp_path / "l2"), through=None)
    folder = tmp_path / "r10"
    from replay.records.store import materialize

    materialize(fresh.repo, fresh.record("toy", 10).tree_id, folder)
    toml = (folder / "record.toml").read_text().replace("index = 10", "index = 9")
    (folder / "record.toml").write_text(toml.replace("README #9 published no code: task 8 spans to this record. ", ""))
    add_record(store, "toy", folder)
    return RecordsStore(store.path), fresh


def test_renumber_makes_a_positional_track_exactly_a_fresh_import(store, checkout, tmp_path):
    old, fresh = positional_track(store, checkout, tmp_path)
    assert old.record("toy", 9).meta.name == fresh.record("toy", 10).meta.name
    old_tip = str(old.repo.branches.local["toy"].target)
    with pytest.raises(SpeedrunError, match="numbers its records by position .* records renumber --track toy"):
        run_import(old, checkout, write_labels(tmp_path / "l3"), through=None)
    done = renumber(old, "toy")
    assert [(r.old, r.new) for r in done] == [("toy/r09", "toy/r10")]
    again = RecordsStore(old.path)
    assert str(again.repo.branches.local["toy"].target) == str(fresh.repo.branches.local["toy"].target)
    assert sorted(r for r in again.repo.references if r.startswith("refs/tags/")) == sorted(
        r for r in fresh.repo.references if r.startswith("refs/tags/")
    )
    assert str(again.repo.references["refs/renumbered/toy"].target) == old_tip  # nothing lost
    assert renumber(again, "toy") == []
    assert run_import(again, checkout, write_labels(tmp_path / "l4"), through=None).added == []


def test_records_add_leaves_a_gap_only_when_asked(store, checkout, tmp_path):
    run_import(store, checkout, write_labels(tmp_path), through=8)
    fresh = init_records_repo(tmp_path / "fresh.git")
    run_import(fresh, checkout, write_labels(tmp_path / "l2"), through=None)
    from replay.records.store import materialize

    materialize(fresh.repo, fresh.record("toy", 10).tree_id, tmp_path / "r10")
    with pytest.raises(SpeedrunError, match="field 'index' is 10; the next record of track 'toy' is 9"):
        add_record(store, "toy", tmp_path / "r10")
    add_record(store, "toy", tmp_path / "r10", allow_gap=True)
    assert RecordsStore(store.path).task("toy", 8).skipped == [9]
