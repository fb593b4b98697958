"""Nothing crashes on damaged state, and nothing is lost or run twice under concurrency.

Every case damages one piece of state a user's machine can damage (a truncated or garbled ref,
a missing object, a truncated or misshapen run.json, a missing log or reply, a damaged cache
entry) and runs the commands that read it. Each ends either in a correct recovery (exit 0) or in
one ``error:`` line that names what is damaged (exit 1), never a traceback; one damaged run never
breaks the listing of the others. A run being run by one process cannot be resumed by a second
one, and concurrent writers of one cache key leave one valid entry.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

import pygit2
import pytest

from replay import paths
from replay.records.add import add_record, init_records_repo
from replay.records.store import RecordsStore, materialize
from replay.records.workrepo import commit_folder, create_branch, open_work_repo
from replay.run.replayer import Replayer, ReplayRequest
from replay.run.result_cache import ResultCache
from replay.score.grading import Exit

from toyrecords import write_toy_record

SPEEDRUN = str(Path(sys.executable).parent / "speedrun")
TESTS = Path(__file__).parent


def speedrun(*args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": f"{TESTS}{os.pathsep}{os.environ.get('PYTHONPATH', '')}"}
    return subprocess.run([SPEEDRUN, *args], capture_output=True, text=True, timeout=180, env=env)


def survived(out: subprocess.CompletedProcess, *damaged: str) -> None:
    """Exit 0, or exit 1 with one ``error:`` line naming the damage; never a traceback."""
    assert "Traceback" not in out.stderr, out.stderr
    if out.returncode == 0:
        return
    assert out.returncode == 1, out.stderr
    lines = out.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), out.stderr
    assert any(word in lines[0] for word in damaged), lines[0]


def loose_object_path(repo_path: Path, oid: str) -> Path:
    return repo_path / "objects" / oid[:2] / oid[2:]


@pytest.fixture(scope="module")
def template(tmp_path_factory):
    """Built once: a toy store, a work branch, one finished replay and two finished agent runs."""
    root = tmp_path_factory.mktemp("template")
    env = {"SPEEDRUN_HOME": str(root / "runs"), "SPEEDRUN_RECORDS": str(root / "records.git")}
    with pytest.MonkeyPatch.context() as patch:
        for key, value in env.items():
            patch.setenv(key, value)
        store = init_records_repo(root / "records.git")
        for index, step_ms in ((1, 100.0), (2, 80.0), (3, 60.0)):
            add_record(store, "toy", write_toy_record(root / f"src{index}", index=index, step_ms=step_ms))
        store = RecordsStore(root / "records.git")
        create_branch(open_work_repo(store.path), "idea", store.record("toy", 2).commit_id)
        replayer = Replayer(store)
        replay_id = replayer.run(replayer.start(ReplayRequest("toy", 1, branches=("idea",), runs=2))).run_id
        for nodes in ("2", "1"):
            out = speedrun(
                "agent",
                "run",
                "1",
                "--track",
                "toy",
                "--model",
                "scripted/agent_policies:oracle",
                "--scaffold",
                "flat",
                "--nodes",
                nodes,
            )
            assert out.returncode == 0, out.stderr
        agent_ids = sorted(p.parent.name for p in (root / "runs").glob("agent-*/run.json"))
    return root, replay_id, agent_ids


@pytest.fixture
def replayed(template, home):
    """A copy of the template in this test's home: (store, replay id, an agent run's id)."""
    root, replay_id, agent_ids = template
    shutil.rmtree(home / "runs", ignore_errors=True)
    for name in ("records.git", "runs"):
        shutil.copytree(root / name, home / name, symlinks=True)
    return RecordsStore(home / "records.git"), replay_id, agent_ids[0]


RECORD_COMMANDS = [
    ["records", "list"],
    ["tasks", "--track", "toy"],
    ["records", "show", "toy/2"],
    ["blame", "toy/3"],
    ["replay", "1", "--track", "toy"],
]


@pytest.mark.parametrize("damage", ["empty ref", "garbled ref", "missing commit", "missing blob", "no HEAD"])
def test_damaged_records_repository(toy_store, home, damage):
    repo = home / "records.git"
    store = RecordsStore(repo)
    if damage == "empty ref":
        (repo / "refs" / "heads" / "toy").write_text("")
    elif damage == "garbled ref":
        (repo / "refs" / "heads" / "toy").write_text("not a commit id\n")
    elif damage == "missing commit":
        loose_object_path(repo, store.record("toy", 2).commit_id).unlink()
    elif damage == "missing blob":
        record = store.record("toy", 2)
        blob = store.repo[record.tree_id][paths.RECORD_TOML].id
        loose_object_path(repo, str(blob)).unlink()
    else:
        (repo / "HEAD").unlink()
    for command in RECORD_COMMANDS:
        survived(speedrun(*command), "records", "damaged", "toy", "commit", "object")


@pytest.mark.parametrize("damage", ["empty branch ref", "no alternates"])
def test_damaged_work_repository(replayed, damage):
    work = paths.work_repo()
    if damage == "empty branch ref":
        (work / "refs" / "heads" / "idea").write_text("")
    else:
        (work / "objects" / "info" / "alternates").unlink()  # repaired on the next open
    for command in (
        ["work", "list"],
        ["replay", "1", "--track", "toy", "--branch", "idea"],
        ["attribute", "1", "--track", "toy", "--branch", "idea"],
        ["diff", "toy/1", "idea"],
    ):
        survived(speedrun(*command), "idea", "work", "damaged", "branch")


RUN_JSON_DAMAGE = {
    "truncated": lambda text: text[: len(text) // 2],
    "empty": lambda text: "",
    "not an object": lambda text: "[1, 2, 3]",
    "wrong schema": lambda text: json.dumps({**json.loads(text), "schema": 99}),
    "missing field": lambda text: json.dumps({k: v for k, v in json.loads(text).items() if k != "request"}),
    "wrong types": lambda text: json.dumps({**json.loads(text), "runs": "many", "nodes": "many", "sides": 3}),
    "binary": lambda text: "\udcff\x00garbage",
}


@pytest.mark.parametrize("damage", sorted(RUN_JSON_DAMAGE))
def test_damaged_replay_run_json(replayed, damage):
    _, replay_id, _ = replayed
    path = paths.run_dir(replay_id) / paths.RUN_JSON
    path.write_text(RUN_JSON_DAMAGE[damage](path.read_text()), errors="surrogateescape")
    for command in (["report", replay_id], ["replay", "--resume", replay_id]):
        survived(speedrun(*command), replay_id, "damaged", "cannot be read")


@pytest.mark.parametrize("damage", sorted(RUN_JSON_DAMAGE))
def test_damaged_agent_run_json_breaks_only_itself(replayed, damage):
    _, _, agent_id = replayed
    path = paths.run_dir(agent_id) / paths.RUN_JSON
    path.write_text(RUN_JSON_DAMAGE[damage](path.read_text()), errors="surrogateescape")
    for command in (["agent", "show", agent_id], ["agent", "resume", agent_id], ["agent", "best", agent_id]):
        survived(speedrun(*command), agent_id, "damaged", "cannot be read")
    listed = speedrun("agent", "list")
    assert listed.returncode == 0 and "Traceback" not in listed.stderr
    assert agent_id in listed.stdout and "damaged" in listed.stdout  # listed as damaged, the others as they are
    assert sum(line.startswith("agent-") for line in listed.stdout.splitlines()) == 2


def test_missing_log_and_missing_reply(replayed):
    _, replay_id, agent_id = replayed
    log = next((paths.run_dir(replay_id) / "logs").glob("*.txt"))
    log.unlink()
    survived(speedrun("report", replay_id), log.name, "missing")
    # an agent run killed between saving the reply and committing it, whose reply is gone: asked again
    path = paths.run_dir(agent_id) / paths.RUN_JSON
    data = json.loads(path.read_text())
    data["status"] = "interrupted"
    node = data["nodes"][-1]
    node.update(stage="replied", commit=None, branch=None, execution=None, outcome=None, problem=None, detail=None)
    path.write_text(json.dumps(data))
    (paths.run_dir(agent_id) / "replies" / f"{node['id']}.md").unlink()
    out = speedrun("agent", "resume", agent_id)
    assert out.returncode == 0, out.stderr
    assert json.loads(path.read_text())["status"] == "finished"


@pytest.mark.parametrize("damage", ["truncated entry", "missing log", "wrong types", "foreign key"])
def test_damaged_cache_entry_is_a_miss(toy_store, home, damage):
    Replayer(toy_store).run(Replayer(toy_store).start(ReplayRequest("toy", 1, runs=1)))
    entries = list(paths.cache_dir().glob("*/*/entry.json"))
    assert len(entries) == 2
    entry = entries[0]
    if damage == "truncated entry":
        entry.write_text(entry.read_text()[:20])
    elif damage == "missing log":
        (entry.parent / "log.txt").unlink()
    elif damage == "wrong types":
        entry.write_text(json.dumps({"schema": 1, "exit": {"returncode": "x", "wall_s": [], "nope": 1}}))
    else:
        other = json.loads(entry.read_text())
        other["key_hash"] = "0" * 64
        entry.write_text(json.dumps(other))
    again = Replayer(toy_store).run(Replayer(toy_store).start(ReplayRequest("toy", 1, runs=1, use_cache=True)))
    assert sorted(r["cached"] for r in again.runs) == [False, True]  # the damaged one ran again
    assert ResultCache(paths.cache_dir()).get(entry.parent.name) is not None  # and its entry is whole again


def test_concurrent_writers_of_one_cache_key(tmp_path):
    cache = ResultCache(tmp_path / "cache")
    log = tmp_path / "log.txt"
    log.write_text("step:1/1 val_loss:3.0 train_time:5ms\n")
    errors = []

    def write(k: int) -> None:
        try:
            for _ in range(20):
                cache.put("ab" * 32, Exit(returncode=0, wall_s=float(k)), log, {"k": k})
        except Exception as exc:  # noqa: BLE001 - the test collects whatever a writer raises
            errors.append(exc)

    threads = [threading.Thread(target=write, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    hit = cache.get("ab" * 32)
    assert hit is not None and hit[1].read_text() == log.read_text()
    assert [p.name for p in (tmp_path / "cache" / "ab").iterdir()] == ["ab" * 32]  # no leftovers


def test_a_run_is_run_by_one_process_at_a_time(home):
    store = init_records_repo(home / "records.git")
    for index in (1, 2):
        add_record(store, "toy", write_toy_record(home / f"s{index}", index=index, steps=15, sleep_s=0.05))
    proc = subprocess.Popen(
        [SPEEDRUN, "replay", "1", "--track", "toy", "--runs", "3"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline, found = time.time() + 60, []
    while time.time() < deadline and not found:
        found = [p for p in paths.home().glob("replay-*/run.json") if json.loads(p.read_text())["status"] == "running"]
        time.sleep(0.05)
    run_id = found[0].parent.name
    second = speedrun("replay", "--resume", run_id)
    assert second.returncode == 1 and "is being run by another process" in second.stderr
    assert proc.wait(timeout=120) == 0
    state = json.loads(found[0].read_text())
    assert state["status"] == "finished" and len(state["runs"]) == 6  # nothing lost, nothing twice
    assert speedrun("replay", "--resume", run_id).returncode == 0  # free again once the first is done


def test_run_ids_stay_inside_the_runs_folder(home):
    for bad in ("../../etc", "a/b", ".hidden"):
        survived(speedrun("report", bad), "is not a run id")
        survived(speedrun("agent", "show", bad), "is not a run id")


def test_records_are_never_written_by_reading_commands(replayed, home):
    before = sorted((p.relative_to(home), p.stat().st_mtime_ns) for p in (home / "records.git").rglob("*"))
    for command in RECORD_COMMANDS[:4]:
        assert speedrun(*command).returncode == 0
    after = sorted((p.relative_to(home), p.stat().st_mtime_ns) for p in (home / "records.git").rglob("*"))
    assert before == after


def materialized(store, label: str, folder: Path) -> Path:
    materialize(store.repo, store.resolve(label).tree_id, folder)
    return folder


def test_killed_writer_of_a_work_commit_leaves_the_branch_as_it_was(replayed, home):
    store, _, _ = replayed
    work = open_work_repo(store.path)
    tip = str(work.branches.local["idea"].target)
    folder = materialized(store, "toy/3", home / "next")
    (folder / "link.py").symlink_to("/etc/hostname")
    with pytest.raises(Exception, match="symbolic link"):
        commit_folder(work, "idea", folder, "with a link")
    assert str(pygit2.Repository(str(paths.work_repo())).branches.local["idea"].target) == tip
