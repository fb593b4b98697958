"""The leaderboard counts every declared run: a missing, unfinished or failed run scores FSR 0
and is reported by reason, never dropped, both for run folders (the grid completed per track)
and for a sweep's cells. Its means, IQMs and intervals are the ones computed by hand; replays
of a best branch decide "significantly faster"; every format renders the same cells."""

import csv
import io
import json
import statistics

import pytest
from typer.testing import CliRunner

from analysis import leaderboard as board
from analysis.intervals import OVER_TASKS, STRATIFIED, score_intervals
from analysis.leaderboard_render import BoardFormat, render
from analysis.runs_index import scan
from analysis.sweep_index import load_sweep
from replay import paths
from replay.cli.app import app
from replay.errors import SpeedrunError
from replay.statuses import RunStatus

from runlogs import agent_run, replay_of, sweep_index


def cells(doc):
    return {(c["row"], c["column"]): c for c in doc["cells"]}


def test_missing_runs_count_as_zero_and_are_reported(home):
    # model a: tasks 1, 2 x seeds 0, 1; model b ran only task 1 seed 0 -> three missing slots
    times = {(1, 0): 9.0, (1, 1): 8.0, (2, 0): 10.0, (2, 1): 9.5}
    for (task, seed), t in times.items():
        agent_run(f"agent-a-{task}-{seed}", model="a", task=task, seed=seed, best_time=t)
    agent_run("agent-b-1-0", model="b", task=1, seed=0, best_time=8.0)
    doc = board.build(board.slots_from_runs(scan()))
    a, b = cells(doc)[("a · aide", "0")], cells(doc)[("b · aide", "0")]
    assert a["slots"] == b["slots"] == 4 and a["zeros"]["missing"] == 0 and b["zeros"]["missing"] == 3
    per_task_a = [statistics.mean([0.5, 1.0]), statistics.mean([0.0, 0.25])]
    assert a["fsr"]["value"] == pytest.approx(statistics.mean(per_task_a))
    assert b["fsr"]["value"] == pytest.approx(1.0 / 4)  # (1 + 0) / 2 for task 1, 0 for task 2
    assert a["interval"] == STRATIFIED and a["fsr"]["ci"][0] <= a["fsr"]["value"] <= a["fsr"]["ci"][1]
    assert {s["zero_reason"] for s in doc["slots"] if s["model"] == "b" and s["run_id"] is None} == {"missing"}
    # a missing run reproduced none of its task's innovations, which stay in the denominator
    assert b["innovations"]["reproduced"] == 1 and b["innovations"]["total"] == 4 * 2


def test_unfinished_failed_and_no_valid_node_are_told_apart(home):
    agent_run("agent-ok", seed=0, best_time=9.0)
    agent_run("agent-none", seed=1, best_time=None)  # every draft failed: no best node, no FSR
    agent_run("agent-going", seed=2, status=RunStatus.RUNNING)
    agent_run("agent-broke", seed=3, status=RunStatus.FAILED)
    doc = board.build(board.slots_from_runs(scan()))
    (cell,) = doc["cells"]
    assert cell["zeros"] == {"missing": 0, "unfinished": 1, "failed": 1, "no_valid_node": 1}
    assert [s["fsr"] for s in doc["slots"]] == [0.5, None, None, None] and cell["fsr"]["value"] == pytest.approx(0.125)
    assert cell["nodes"]["buggy"] == 5 and cell["nodes"]["valid"] == 3  # failed drafts are buggy, roots excluded


def test_a_best_node_slower_than_record_i_scores_below_zero(home):
    agent_run("agent-slow", best_time=11.0)
    (slot,) = board.slots_from_runs(scan())
    assert slot.fsr == -0.5 and slot.zero_reason is None


def test_the_latest_finished_run_of_a_slot_counts(home):
    agent_run("agent-1-old", best_time=9.0)
    agent_run("agent-2-new", best_time=8.0)
    agent_run("agent-3-crashed", status=RunStatus.INTERRUPTED)
    (slot,) = board.slots_from_runs(scan())
    assert slot.run_id == "agent-2-new" and slot.fsr == 1.0


def test_a_sweep_reports_every_cell(home):
    agent_run("agent-s1", task=1, best_time=9.0)
    agent_run("agent-s2", task=2, best_time=8.0)
    replay_of("replay-s1", "agent/agent-s1/n001", ci=(0.2, 1.8))
    sweep_index(
        "sw",
        [
            {
                "task": 1,
                "model": "m",
                "seed": 0,
                "status": "finished",
                "run_id": "agent-s1",
                "replay_run_id": "replay-s1",
            },  # noqa: E501
            {"task": 2, "model": "m", "seed": 0, "status": "finished", "run_id": "agent-s2"},
            {"task": 3, "model": "m", "seed": 0, "status": "pending"},
            {"task": 4, "model": "m", "seed": 0, "status": "failed", "error": "out of budget"},
            {"task": 5, "model": "m", "seed": 0, "status": "running", "run_id": "agent-gone"},
        ],
        spec={"tasks": [1, 2, 3, 4, 5], "seeds": [0]},
    )
    doc = board.build(board.slots_from_sweep(load_sweep("sw")), source="sweep sw")
    (cell,) = doc["cells"]
    assert cell["slots"] == 5 and cell["fsr"]["value"] == pytest.approx((0.5 + 1.0) / 5)
    assert cell["zeros"] == {"missing": 1, "unfinished": 1, "failed": 1, "no_valid_node": 0}
    assert cell["interval"] == OVER_TASKS
    assert cell["significant"] == {"faster": 1, "replayed": 1, "share": 0.2, "tasks_faster": 1, "task_share": 0.2}
    assert cell["innovations"]["reproduced"] == 2 and cell["innovations"]["total"] == 4


def test_a_replay_within_noise_is_not_significant(home):
    agent_run("agent-x", best_time=9.0)
    replay_of("replay-x", "agent/agent-x/n001", ci=(-0.3, 1.0))
    (slot,) = board.slots_from_runs(scan())
    assert slot.significant is False


def test_grouping_dimensions(home):
    agent_run("agent-1", model="a", scaffold="flat", hints=(1,), best_time=9.0)
    agent_run("agent-2", model="a", scaffold="aide", hints=(1, 2), best_time=8.0)
    slots = board.slots_from_runs(scan())
    by_model = board.build(slots, rows=("model",), columns=())
    assert [(c["row"], c["column"]) for c in by_model["cells"]] == [("a", "all")]
    # the grid is completed: each configuration is expected on every task and seed seen
    default = board.build(slots)
    assert set(cells(default)) == {("a · aide", "1+2"), ("a · flat", "1")}
    with pytest.raises(SpeedrunError, match="cannot group by 'colour'"):
        board.build(slots, rows=("colour",))


def test_intervals_match_scipy_by_hand():
    from scipy.stats import bootstrap

    mean, iqm, method = score_intervals({1: [0.0, 1.0], 2: [0.5, 0.5, 1.0]})
    assert method == STRATIFIED and mean.value == pytest.approx((0.5 + 2 / 3) / 2)
    assert iqm.value == pytest.approx(statistics.mean([0.5, 0.5, 1.0]))  # the middle of 0, .5, .5, 1, 1
    single = score_intervals({1: [0.2], 2: [0.4], 3: [0.9]})
    expected = bootstrap(([0.2, 0.4, 0.9],), lambda x, axis: x.mean(axis=axis), method="percentile", rng=0)
    assert single[2] == OVER_TASKS and single[0].low == pytest.approx(expected.confidence_interval.low, abs=0.05)
    assert score_intervals({1: [0.3]})[0].low is None  # one run of one task: no interval


def test_every_format_renders_the_same_cells(home):
    agent_run("agent-a", model="a", best_time=9.0, cost=None)
    agent_run("agent-b", model="b", best_time=8.5)
    doc = board.build(board.slots_from_runs(scan()), source="test")
    text = render(doc, BoardFormat.TERMINAL)
    assert "0.50" in text and "0.75" in text and "counted as 0" in text
    md = render(doc, BoardFormat.MARKDOWN)
    assert "| model · scaffold \\ hints | hints 0 |" in md and "| a · aide | 0.50 |" in md
    rows = list(csv.DictReader(io.StringIO(render(doc, BoardFormat.CSV))))
    assert [r["row"] for r in rows] == ["a · aide", "b · aide"] and rows[0]["unpriced_calls"] == "2"
    assert json.loads(render(doc, BoardFormat.JSON))["cells"] == json.loads(json.dumps(doc["cells"]))
    from analysis import plots

    rendered = plots.render(doc)
    page = render(doc, BoardFormat.HTML, rendered)
    assert page.count("data:image/png;base64,") == 4 and "http" not in page.replace("http://www.w3.org", "")


def test_plots_are_png_and_svg(home, tmp_path):
    from analysis import plots

    agent_run("agent-a", model="a", best_time=9.0)
    agent_run("agent-a2", model="a", task=2, best_time=8.0, hints=(1,))
    doc = board.build(board.slots_from_runs(scan()))
    written = plots.write(plots.render(doc), tmp_path / "plots")
    assert sorted(p.name for p in written) == sorted(f"{n}.{f}" for n in plots.PLOTS for f in ("png", "svg"))
    for path in written:
        data = path.read_bytes()
        assert data.startswith(b"\x89PNG") if path.suffix == ".png" else b"<svg" in data[:500]
        assert len(data) > 5000


def test_cli_leaderboard(home, tmp_path):
    agent_run("agent-a", model="a", best_time=9.0)
    sweep_index("sw", [{"task": 1, "model": "a", "seed": 0, "status": "finished", "run_id": "agent-a"}])
    runner = CliRunner()
    out = runner.invoke(app, ["leaderboard", "--format", "markdown"])
    assert out.exit_code == 0 and "| a · aide | 0.50 |" in out.output
    page, figures = tmp_path / "board.html", tmp_path / "figs"
    out = runner.invoke(app, ["leaderboard", "-S", "sw", "-f", "html", "-o", str(page), "-p", str(figures)])
    assert out.exit_code == 0 and "<table" in page.read_text() and (figures / "fsr_heatmap.svg").is_file()
    damaged = paths.run_dir("agent-z")
    damaged.mkdir()
    (damaged / "run.json").write_text("[")
    out = runner.invoke(app, ["leaderboard", "-f", "markdown"])
    assert (
        out.exit_code == 0
        and "| a · aide | 0.50 |" in out.output
        and "UNREADABLE: 1 run folder(s) (agent-z)" in out.output
    )
    out = runner.invoke(app, ["leaderboard", "no-such-run"])
    assert out.exit_code == 1 and "holds no run.json" in str(out.exception)
