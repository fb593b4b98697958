"""Attribution verdicts are right and stable: on the fixture track, the gold candidate (record i+1)
reproduces every innovation and the null candidate (record i) none; partial candidates get
exactly their innovations; reformatting, consistent renames and reordering change no verdict;
unrelated edits are novel and never raise a score; unparsable candidates take the line-diff
fallback and say so; the CLI finds candidates by --commit, --branch and --file."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

from analysis.attribute import THRESHOLD
from analysis.task import attribute_task, load_task

from candidates import add_unrelated, partial, reformat, rename, reorder
from fixtures.analysis.fixture_records import INNOVATIONS, build_store, script

PERTURB = {
    "as is": lambda t: t,
    "reformatted": reformat,
    "renamed": lambda t: rename(t, "Rotary" if "class Rotary" in t else None),
    "reordered": reorder,
}


@pytest.fixture
def fx_store(home):
    return build_store(home)


def verdicts(store, task, text, label="candidate"):
    res, doc = attribute_task(store, "fx", task, label, text)
    return {i["name"] for i in doc["innovations"] if i["reproduced"]}, res, doc


def names(task):
    return {name for name, _ in INNOVATIONS[task + 1]}


def candidates(store, task):
    """(label, text, expected reproduced innovations) for gold, null and every partial subset."""
    base, target, innovations = load_task(store, "fx", task)
    yield "gold", target.text, names(task)
    yield "null", base.text, set()
    for inv in innovations:
        yield f"only {inv.name}", partial(base, target, innovations, {inv.name}), {inv.name}


@pytest.mark.parametrize("task", [1, 2])
@pytest.mark.parametrize("perturbation", list(PERTURB))
def test_verdicts_on_fixture_track(fx_store, task, perturbation):
    for label, text, expected in candidates(fx_store, task):
        got, res, doc = verdicts(fx_store, task, PERTURB[perturbation](text))
        assert got == expected, (label, perturbation, [(i["name"], i["score"]) for i in doc["innovations"]])
        assert doc["fallback"] is None
        if perturbation != "reordered":  # reordering moves whole definitions; that is no edit
            assert doc["novel"] == [], (label, perturbation, doc["novel"])


def test_gold_scores_one_and_null_scores_zero(fx_store):
    _, _, gold = verdicts(fx_store, 1, script(2))
    _, _, null = verdicts(fx_store, 1, script(1))
    assert [i["score"] for i in gold["innovations"]] == [1.0, 1.0]
    assert [i["score"] for i in null["innovations"]] == [0.0, 0.0]
    assert all(g["missed"] for g in null["innovations"])


def test_unrelated_edits_are_novel_and_do_not_raise_scores(fx_store):
    for _label, text, expected in candidates(fx_store, 1):
        _, _, plain = verdicts(fx_store, 1, text)
        got, _, extra = verdicts(fx_store, 1, add_unrelated(text))
        assert got == expected
        assert [i["score"] for i in extra["innovations"]] == [i["score"] for i in plain["innovations"]]
        novel_units = {n["unit"] for n in extra["novel"]}
        assert {"unrelated_helper", "UNRELATED_CHECK"} <= novel_units


def test_unparsable_candidate_takes_line_fallback(fx_store):
    got, _, doc = verdicts(fx_store, 1, script(2) + "\ndef broken(:\n    pass\n")
    assert doc["fallback"].startswith("line diff: candidate: syntax error near line")
    assert got == names(1)
    got, _, doc = verdicts(fx_store, 1, script(1) + "\ndef broken(:\n")
    assert got == set() and doc["fallback"]


def test_json_schema_and_evidence(fx_store):
    _, _, doc = verdicts(fx_store, 1, reformat(script(2)))
    assert doc["schema"] == 2 and doc["track"] == "fx" and doc["task"] == 1 and doc["threshold"] == THRESHOLD
    assert {"schema", "track", "task", "candidate", "innovations", "novel", "fallback"} <= set(doc)
    inv = doc["innovations"][0]
    assert {"name", "score", "reproduced", "layer", "statement_score", "idea", "evidence"} <= set(inv)
    assert inv["layer"] == "ideas" and inv["idea"]["matched"] and not inv["idea"]["missing"]
    hit = inv["idea"]["matched"][0]
    assert {"feature", "sign", "weight", "credit", "truth", "candidate"} <= set(hit)
    assert hit["truth"]["target"] and hit["candidate"]["candidate"]  # line ranges on both sides
    ev = inv["evidence"][0]
    assert ev["truth"]["target_lines"] and ev["candidate"]["candidate_lines"]
    assert {g["name"] for g in doc["groups"]} == {"hyperparameters", "other"}
    hyper = next(g for g in doc["groups"] if g["name"] == "hyperparameters")
    assert {e["unit"] for e in hyper["evidence"]} == {
        "Hyperparameters.learning_rate",
        "Hyperparameters.warmup_iters",
        "Hyperparameters.num_iterations",
    }
    json.dumps(doc)


def cli(*args):
    return subprocess.run(
        [str(Path(sys.executable).parent / "speedrun"), *args], capture_output=True, text=True, timeout=60
    )


def test_cli_commit_branch_file(fx_store, tmp_path):
    records = fx_store.records("fx")
    out = cli("attribute", "1", "--track", "fx", "--commit", records[1].commit_id, "--format", "json")
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["summary"] == {"reproduced": 2, "innovations": 2}
    out = cli("attribute", "1", "--track", "fx", "--commit", "fx/r01", "--format", "json")
    assert json.loads(out.stdout)["summary"] == {"reproduced": 0, "innovations": 2}
    from replay.records.workrepo import commit_folder, create_branch, open_work_repo

    repo = open_work_repo()
    create_branch(repo, "agent/x", records[0].commit_id)
    folder = tmp_path / "cand"
    folder.mkdir()
    (folder / "train_gpt.py").write_text(
        partial(*load_task(fx_store, "fx", 1)[:2], load_task(fx_store, "fx", 1)[2], {"trapezoidal schedule"})
    )
    commit_folder(repo, "agent/x", folder, "node 1")
    out = cli("attribute", "1", "--track", "fx", "--branch", "agent/x", "--format", "md")
    assert out.returncode == 0, out.stderr
    assert "| trapezoidal schedule | 1.00 | yes |" in out.stdout and "| rotary embeddings | 0.00 | no |" in out.stdout
    out = cli(
        "attribute",
        "1",
        "--track",
        "fx",
        "--file",
        str(folder / "train_gpt.py"),
        "--format",
        "html",
        "-o",
        str(tmp_path / "r.html"),
    )
    assert out.returncode == 0 and "1/2 innovations reproduced" in out.stdout
    assert (tmp_path / "r.html").read_text().startswith("<!DOCTYPE html>")


@pytest.mark.parametrize(
    "args, message",
    [
        (["attribute", "1", "--track", "fx"], "give exactly one candidate"),
        (["attribute", "1", "--track", "fx", "--commit", "deadbeef"], "no commit 'deadbeef'"),
        (["attribute", "1", "--track", "fx", "--branch", "nope"], "no branch 'nope'"),
        (["attribute", "1", "--track", "fx", "--file", "/no/such.py"], "no file /no/such.py"),
        (["attribute", "9", "--track", "fx", "--file", "/no/such.py"], "has no task 9"),
        (["attribute", "1", "--track", "fx", "--commit", "fx/r02", "--format", "pdf"], "--format must be"),
        (["blame", "fx/7"], "there is no record 7"),
    ],
)
def test_cli_user_errors_are_one_line(fx_store, args, message):
    out = cli(*args)
    assert out.returncode == 1 and message in out.stderr and "Traceback" not in out.stderr, out.stderr


def test_blame_shows_lineage(fx_store):
    out = cli("blame", "fx/3")
    assert out.returncode == 0, out.stderr
    rows = {line.split()[0]: line for line in out.stdout.splitlines()}
    assert "fx/r03" in rows["MLP.forward"] and "relu squared" in rows["MLP.forward"]
    assert "fx/r02" in rows["Rotary"] and "introduced" in rows["Rotary"]
    assert "fx/r01" in rows["Block"] if "Block" in rows else "fx/r01" in rows["CausalSelfAttention"]
    assert "fx/r02" in rows["get_lr"] and "trapezoidal schedule" in rows["get_lr"]
