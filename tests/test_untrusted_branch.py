"""A candidate branch decides nothing about how it is run or judged: it is launched exactly as
its start record is (entry, launcher, processes, data, time limit), whatever its own record.toml
says, and judged against the target record's loss; and a candidate whose runs ignore their seed
(identical results where the seeds differ) is flagged and not valid, since the validity t-test
would see no spread."""

from replay.records.store import materialize
from replay.records.workrepo import commit_folder, create_branch, open_work_repo
from replay.run.replayer import Replayer, ReplayRequest
from replay.score.replay_report import notes

FAKE = "raise SystemExit(0)  # would end with no step lines at all, if the harness ran it\n"


def branch(store, home, name, edit) -> str:
    record = store.record("toy", 1)
    folder = home / name
    materialize(store.repo, record.tree_id, folder)
    edit(folder)
    work = open_work_repo(store.path)
    create_branch(work, name, record.commit_id)
    commit_folder(work, name, folder, name)
    return name


def replay(store, *branches, runs=2):
    replayer = Replayer(store)
    return replayer.run(replayer.start(ReplayRequest("toy", 1, branches=branches, runs=runs)))


def test_a_branch_record_toml_decides_nothing(toy_store, home):
    def rewrite(folder):
        (folder / "fast.py").write_text(FAKE)
        toml = (folder / "record.toml").read_text()
        toml = toml.replace('entry = "train_gpt.py"', 'entry = "fast.py"').replace(
            "target_val_loss = 3.28", "target_val_loss = 9.0"
        )
        (folder / "record.toml").write_text(toml.replace("time_s = 2.0", "time_s = 100000.0"))

    name = branch(toy_store, home, "own-entry", rewrite)
    state = replay(toy_store, name)
    runs = [r for r in state.runs if r["side"] == name]
    assert all(r["exit"]["command"][-1].endswith("train_gpt.py") for r in runs)  # the start record's entry
    assert all(r["time_s"] > 1.0 and r["val_loss"] > 3.0 for r in runs)  # its real work, not the fake line
    assert state.target_val_loss == 3.28  # the target record's, not the branch's


def test_a_branch_that_fixes_its_seed_is_refused_before_running(toy_store, home):
    """On a track whose scripts measure themselves, the whole-script rules refuse a changed seed (on a
    harness-measured track the same cheat is caught by its identical replicates: tests/test_adversarial.py)."""

    def fix_seed(folder):
        script = (folder / "train_gpt.py").read_text()
        (folder / "train_gpt.py").write_text(script.replace('int(os.environ.get("SPEEDRUN_SEED", "0"))', "0"))

    name = branch(toy_store, home, "fixed-seed", fix_seed)
    state = replay(toy_store, name, runs=2)
    runs = [r for r in state.runs if r["side"] == name]
    assert all(r["failure"] == "refused" and "seed" in r["reason"] for r in runs), runs[0]["reason"]
    assert any(line.startswith(f"REFUSED {name} run 1:") for line in notes(state.summary))
    sides = {s["name"]: s for s in state.summary["sides"]}
    assert sides[name]["completed"] == 0 and sides["baseline"]["valid"]
