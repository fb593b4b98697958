"""On the real mini track (records.git, branch `mini`): for every task the gold candidate
(record i+1) reproduces every innovation of record i+1 and the null candidate (record i) none,
whether given as text or as a records.git commit id (as `speedrun attribute N --commit` resolves
it), and the gold verdicts survive reformatting, consistent renames and reordering. Skipped, with
the reason, while records.git has no mini track."""

import os
from pathlib import Path

import pytest

from candidates import reformat, rename, reorder

RECORDS = Path(os.environ.get("SPEEDRUN_RECORDS") or Path(__file__).resolve().parents[1] / "records.git")


def mini_store():
    if not (RECORDS / "HEAD").exists():
        pytest.skip(f"no records repository at {RECORDS}")
    from replay.records.store import RecordsStore

    store = RecordsStore(RECORDS)
    if "mini" not in store.tracks():
        pytest.skip("records.git has no 'mini' track yet")
    return store


def mini_tasks():
    try:
        store = mini_store()
    except pytest.skip.Exception as exc:
        return [pytest.param(None, marks=pytest.mark.skip(reason=str(exc.msg)))]
    return [t.number for t in store.tasks("mini")]


@pytest.mark.parametrize("task", mini_tasks())
def test_gold_and_null(task):
    from analysis.task import attribute_task, load_task

    store = mini_store()
    base, target, innovations = load_task(store, "mini", task)
    assert innovations, f"mini task {task}: record {task + 1} declares no innovations"
    everything = {i.name for i in innovations}
    for label, text, expected in (
        ("gold", target.text, everything),
        ("null", base.text, set()),
        ("gold reformatted", reformat(target.text), everything),
        ("gold renamed", rename(target.text), everything),
        ("gold reordered", reorder(target.text), everything),
    ):
        _, doc = attribute_task(store, "mini", task, label, text)
        got = {i["name"] for i in doc["innovations"] if i["reproduced"]}
        assert got == expected, (task, label, [(i["name"], i["score"]) for i in doc["innovations"]])
        assert doc["fallback"] is None


@pytest.mark.parametrize("task", mini_tasks())
def test_commit_candidates(task, monkeypatch, tmp_path):
    """The candidate as a commit id: record i+1's commit reproduces every innovation, record i's none."""
    from analysis.sources import commit_script, work_repo_commit
    from analysis.task import attribute_task

    store = mini_store()
    monkeypatch.setenv("SPEEDRUN_RECORDS", str(RECORDS))
    monkeypatch.setenv("SPEEDRUN_HOME", str(tmp_path / "runs"))
    t = store.task("mini", task)
    for record, expected in ((t.target, {i.name for i in t.target.meta.innovations}), (t.start, set())):
        repo, obj = work_repo_commit(record.commit_id, "commit")
        label, text = commit_script(repo, obj, t.start.meta.entry, record.label)
        _, doc = attribute_task(store, "mini", task, label, text)
        assert {i["name"] for i in doc["innovations"] if i["reproduced"]} == expected, (task, record.label)


def test_cli_attribute_commits(monkeypatch, tmp_path):
    """`attribute 1 --track mini --commit <record 2>` reproduces everything; `<record 1>` nothing."""
    import json
    import subprocess
    import sys

    store = mini_store()
    monkeypatch.setenv("SPEEDRUN_RECORDS", str(RECORDS))
    monkeypatch.setenv("SPEEDRUN_HOME", str(tmp_path / "runs"))
    task = store.tasks("mini")[0]
    for record, expected in ((task.target, len(task.target.meta.innovations)), (task.start, 0)):
        out = subprocess.run(
            [
                str(Path(sys.executable).parent / "speedrun"),
                "attribute",
                str(task.number),
                "--track",
                "mini",
                "--commit",
                record.commit_id,
                "--format",
                "json",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert out.returncode == 0, out.stderr
        summary = json.loads(out.stdout)["summary"]
        assert summary == {"reproduced": expected, "innovations": len(task.target.meta.innovations)}
