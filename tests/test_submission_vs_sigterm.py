"""A SIGTERM never separates a cluster job from its run: one that arrives while a job is being
submitted stops the run only after the job's id is in run.json (so a resume re-attaches to it
rather than submitting it again), whether the submission runs on the run's own thread (a replay)
or on a worker (an agent run's node), and no submission starts once the process is stopping."""

import json
import os
import signal
import threading
import time

import pytest

from agent.llm import LLMClient
from agent.runner import AgentRunner
from agent.state import AgentRequest
from replay import paths
from replay.run.executor import JobRef
from replay.run.lifecycle import Terminated, job_submission, sigterm_as_interrupt
from replay.run.replayer import Replayer
from replay.run.runlog import ReplayRequest
from replay.run.sandbox import untrusted_sandbox


class SlowCluster:
    """A cluster whose jobs outlive the process, reached by a slow sbatch: the job exists on the
    cluster as soon as the submission starts, its id comes back only when ``answer`` is set."""

    name = "slow-cluster"
    gpus = 0
    jobs_outlive_process = True

    def __init__(self):
        self.sandbox = untrusted_sandbox(allow_unsandboxed=True)
        self.submitting = threading.Event()
        self.answer = threading.Event()
        self.end = threading.Event()  # set when the test is over: the jobs fail then
        self.queued: list[JobRef] = []

    def submit(self, task, on_step=None):
        ref = JobRef(self.name, f"job-{len(self.queued)}", str(task.log_path.parent))
        self.queued.append(ref)
        self.submitting.set()
        self.answer.wait(30)
        return EndlessJob(ref, self.end)

    def attach(self, ref, task=None, on_step=None):
        return None

    def describe(self):
        return {"name": self.name}

    def hardware(self):
        return {}


class EndlessJob:
    poll_s = 0.05

    def __init__(self, ref: JobRef, end: threading.Event):
        self.ref, self.end = ref, end

    def done(self) -> bool:
        return self.end.is_set()

    def result(self):
        self.end.wait()
        raise RuntimeError("the test is over")

    def cancel(self) -> None:
        self.end.set()


@pytest.fixture(autouse=True)
def _a_process_that_goes_on():
    """A stopped process refuses submissions until it exits; this one goes on with other tests."""
    yield
    with sigterm_as_interrupt():  # a new run's block opens the gate again
        pass


@pytest.fixture
def cluster():
    cluster = SlowCluster()
    yield cluster
    cluster.end.set()


def sigterm_during_submission(cluster: SlowCluster) -> threading.Thread:
    """From another thread: SIGTERM this process while a submission waits for sbatch, then answer it."""

    def kill():
        assert cluster.submitting.wait(60)
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(0.3)  # the signal is handled while the submission is still in flight
        cluster.answer.set()

    thread = threading.Thread(target=kill, daemon=True)
    thread.start()
    return thread


def saved_job_ids(run_id: str) -> set[str]:
    jobs = json.loads((paths.run_dir(run_id) / "run.json").read_text())["jobs"]
    return {job["job_id"] for job in (jobs.values() if isinstance(jobs, dict) else jobs)}


def test_a_replay_stopped_during_a_submission_keeps_the_job(toy_store, cluster):
    replayer = Replayer(toy_store, executor=cluster)
    state = replayer.start(ReplayRequest("toy", 1, runs=1))
    killer = sigterm_during_submission(cluster)
    with pytest.raises(Terminated):
        replayer.run(state)
    killer.join()
    assert [ref.job_id for ref in cluster.queued] == ["job-0"]
    assert saved_job_ids(state.run_id) == {"job-0"}


def test_an_agent_run_stopped_during_a_workers_submission_keeps_the_job(toy_store, cluster):
    runner = AgentRunner(toy_store, client=LLMClient("scripted/agent_policies:tweaker"), executor=cluster)
    request = AgentRequest(track="toy", task=1, model="scripted/agent_policies:tweaker", scaffold="flat", nodes=2)
    state = runner.start(request)
    killer = sigterm_during_submission(cluster)
    with pytest.raises(Terminated):
        runner.run(state)
    killer.join()
    time.sleep(0.3)  # a submission that started after the stop would be queued by now
    assert [ref.job_id for ref in cluster.queued] == ["job-0"]
    assert saved_job_ids(state.run_id) == {"job-0"}
    saved = json.loads((paths.run_dir(state.run_id) / "run.json").read_text())
    assert saved["status"] == "interrupted"


def test_no_submission_starts_once_the_process_is_stopping():
    raised = []
    with pytest.raises(Terminated), sigterm_as_interrupt():
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(5)  # interrupted long before

    def late_worker():
        try:
            with job_submission():
                raised.append(None)
        except Terminated as refused:
            raised.append(refused)

    with sigterm_as_interrupt():  # a new run in this process starts with the gate open again
        worker = threading.Thread(target=late_worker)
        worker.start()
        worker.join()
        assert raised == [None]
        raised.clear()
        with pytest.raises(Terminated):
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(5)
        worker = threading.Thread(target=late_worker)
        worker.start()
        worker.join()
    assert len(raised) == 1 and isinstance(raised[0], Terminated)


def test_a_sigterm_inside_a_submission_is_raised_when_it_ends():
    steps = []
    with pytest.raises(Terminated), sigterm_as_interrupt():
        with job_submission():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.2)
            steps.append("submitted and noted")
        steps.append("after the submission")
    assert steps == ["submitted and noted"]
