"""Where scripts measure themselves, the harness stamps every step line as it arrives and checks the
reported train_time against its own clock: a candidate whose clock claims less time than passed is
refused with the reason, on the replay path as on every path that grades through it; a trusted
record is never refused by this check, only flagged; a clock that claims more time than passed
(a burst, as synthetic scripts print) costs only its author and is flagged; an honest clock passes.
The stamps are kept in the run's exit, so regrading from run.json gives the same verdicts."""

from test_untrusted_branch import branch, replay

from replay import paths
from replay.records.add import add_record, init_records_repo
from replay.records.store import RecordsStore
from replay.run.replayer import Replayer, ReplayRequest, load_state
from replay.score.replay_report import notes, summarize

from toyrecords import write_toy_record


def set_clock(sleep_s: float, step_ms: float):
    def edit(folder):
        script = (folder / "train_gpt.py").read_text()
        script = script.replace("sleep_s = 0.0", f"sleep_s = {sleep_s}").replace(
            "step_ms = 100.0", f"step_ms = {step_ms}"
        )
        (folder / "train_gpt.py").write_text(script)

    return edit


def test_a_candidate_whose_clock_runs_slow_is_refused_and_an_honest_one_passes(toy_store, home):
    slow = branch(toy_store, home, "slow-clock", set_clock(sleep_s=0.1, step_ms=20.0))  # 20 ms claimed per 100 ms
    honest = branch(toy_store, home, "honest-clock", set_clock(sleep_s=0.1, step_ms=100.0))
    state = replay(toy_store, slow, honest, runs=1)
    run = {r["side"]: r for r in state.runs}
    assert run[slow]["failure"] == "refused" and "paused or slow clock" in run[slow]["reason"]
    assert run[honest]["status"] == "ok" and not run[honest]["clock_problems"]
    assert any(line.startswith(f"REFUSED {slow} run 1: the harness's clock") for line in notes(state.summary))
    assert len(run[slow]["exit"]["step_clock"]) == 25  # step 0, 20 training lines, 4 validation lines
    # The baseline (a trusted record printing synthetic times at once) is flagged for its bursts only.
    flagged = {c["side"]: c["problems"] for c in state.summary["clock_contradicted"]}
    assert run["baseline"]["status"] == "ok" and flagged["baseline"][0].startswith("burst of step lines")
    assert slow not in flagged and honest not in flagged  # a refused run is reported as refused, once
    # Grading again from the saved run.json reaches the same verdicts.
    saved = load_state(state.run_id)
    assert summarize(saved, paths.run_dir(state.run_id))["refused"] == state.summary["refused"]


def test_a_trusted_record_with_a_slow_clock_is_flagged_not_refused(home):
    store = init_records_repo(home / "records.git")
    for index, step_ms in ((1, 20.0), (2, 10.0)):
        add_record(store, "slow", write_toy_record(home / f"src{index}", "slow", index, step_ms=step_ms, sleep_s=0.06))
    store = RecordsStore(home / "records.git")
    replayer = Replayer(store)
    state = replayer.run(replayer.start(ReplayRequest("slow", 1, runs=1)))
    assert all(r["status"] == "ok" for r in state.runs)
    flagged = {c["side"]: c["problems"] for c in state.summary["clock_contradicted"]}
    assert set(flagged) == {"baseline", "ground_truth"} and "paused or slow clock" in flagged["baseline"][0]
    assert any(line.startswith("CHECK baseline run 1: the harness's stamps") for line in notes(state.summary))
