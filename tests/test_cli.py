"""The CLI answers user mistakes with one `error:` line and a non-zero exit, never a traceback,
and its happy paths print what they promise."""

import subprocess
import sys
from pathlib import Path

import pytest

from toyrecords import write_toy_record

SPEEDRUN = str(Path(sys.executable).parent / "speedrun")


def run(*args, env=None):
    return subprocess.run([SPEEDRUN, *args], capture_output=True, text=True, timeout=120)


@pytest.mark.parametrize(
    "args, message",
    [
        (["replay", "1", "--track", "nope"], "unknown track 'nope'"),
        (["replay", "99", "--track", "toy"], "track 'toy' has no task 99"),
        (["records", "show", "toy/9"], "there is no record 9"),
        (["records", "show", "garbage"], "is not a record name"),
        (["tasks", "--track", "nope"], "unknown track"),
        (["report", "no-such-run"], "no run 'no-such-run'"),
        (["replay", "1", "--track", "toy", "--branch", "missing"], "no branch 'missing'"),
        (["replay"], "give a task number"),
    ],
)
def test_user_errors_are_one_line(toy_store, args, message):
    out = run(*args)
    assert out.returncode == 1
    assert out.stderr.startswith("error: ") and message in out.stderr
    assert "Traceback" not in out.stderr and len(out.stderr.strip().splitlines()) == 1


def test_invalid_record_add_is_one_line(toy_store, home):
    folder = write_toy_record(home / "bad", index=7)
    out = run("records", "add", "--track", "toy", str(folder))
    assert out.returncode == 1 and "field 'index' is 7" in out.stderr and "Traceback" not in out.stderr


def test_records_commands(toy_store, home):
    assert "toy/r03" in run("records", "list").stdout
    shown = run("records", "show", "toy/2").stdout
    assert "faster steps 2" in shown and "hints/level1.md" in shown
    assert "task  2: r02 -> r03" in run("tasks", "--track", "toy").stdout
    out = run("records", "export", "toy/3", str(home / "exported"))
    assert out.returncode == 0 and (home / "exported" / "train_gpt.py").is_file()
    text = (
        (home / "exported" / "record.toml")
        .read_text()
        .replace("index = 3", "index = 4")
        .replace("2026-01-03", "2026-01-04")
    )
    (home / "exported" / "record.toml").write_text(text)
    added = run("records", "add", "--track", "toy", str(home / "exported"))
    assert added.returncode == 0 and "added toy/r04" in added.stdout


def test_no_args_shows_help():
    out = run()
    assert "Usage" in out.stdout + out.stderr and "replay" in out.stdout + out.stderr


def test_replay_prints_table_and_report_path(toy_store):
    out = run("replay", "1", "--track", "toy", "--runs", "2")
    assert out.returncode == 0, out.stderr
    assert "ground_truth" in out.stdout and "1 (reference)" in out.stdout and "report:" in out.stdout
    run_id = out.stderr.split("run ", 1)[1].split()[0]
    regraded = run("report", run_id)
    assert regraded.returncode == 0 and "ground_truth" in regraded.stdout


def test_work_branch_round_trip_is_replayable(toy_store, home):
    assert run("work", "new", "idea", "--from", "toy/1").returncode == 0
    assert "already exists" in run("work", "new", "idea", "--from", "toy/1").stderr
    run("records", "export", "toy/2", str(home / "idea"))
    committed = run("work", "commit", "idea", str(home / "idea"), "-m", "copy of record 2")
    assert committed.returncode == 0, committed.stderr
    assert "copy of record 2" in run("work", "list").stdout
    out = run("replay", "1", "--track", "toy", "--branch", "idea", "--runs", "2")
    assert out.returncode == 0, out.stderr
    assert "│ idea" in out.stdout
