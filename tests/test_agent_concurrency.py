"""The nodes of a batch run at once, and their model calls too, without changing the run: a
concurrent run plans exactly the tree of a sequential one (node ids, parents, actions, order in
run.json, replies, scripts, outcomes), really has several runs in flight, retries the
provider's rate-limit errors, and with a cost budget stops where a sequential run stops."""

import threading

import pygit2
import pytest

from agent.llm import LLMClient
from agent.runner import AgentRunner
from agent.state import AgentRequest
from replay import paths
from replay.records.add import add_record, init_records_repo
from replay.records.store import RecordsStore

import agent_policies
from toyrecords import write_toy_record


class CountingExecutor:
    """The runner's executor, counting the runs in flight at once (submitted, not yet collected)."""

    def __init__(self, inner):
        self.inner = inner
        self.lock = threading.Lock()
        self.in_flight = 0
        self.most = 0

    def __getattr__(self, name):
        return getattr(self.inner, name)

    def submit(self, task, on_step=None):
        with self.lock:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
        return CountedJob(self.inner.submit(task, on_step), self)


class CountedJob:
    def __init__(self, job, counter):
        self.job, self.counter, self.counted = job, counter, False

    def __getattr__(self, name):
        return getattr(self.job, name)

    def result(self):
        try:
            return self.job.result()
        finally:
            with self.counter.lock:
                if not self.counted:
                    self.counted = True
                    self.counter.in_flight -= 1


@pytest.fixture
def slow_toy_store(home):
    """Toy records whose runs take about half a second, so concurrent runs overlap."""
    store = init_records_repo(home / "records.git")
    for index, step_ms in ((1, 100.0), (2, 80.0)):
        add_record(store, "toy", write_toy_record(home / f"src{index}", index=index, step_ms=step_ms, sleep_s=0.025))
    return RecordsStore(home / "records.git")


def run_agent(store, policy="tweaker", jobs=1, llm_jobs=1, nodes=9, **options):
    client = LLMClient(f"scripted/agent_policies:{policy}", sleep=lambda s: None)
    runner = AgentRunner(store, client=client, jobs=jobs, llm_jobs=llm_jobs)
    counter = runner.replayer.executor = CountingExecutor(runner.replayer.executor)
    request = AgentRequest(
        track="toy", task=1, model=client.model, scaffold="multi-aide", hints=(1,), nodes=nodes, seed=3, **options
    )
    return runner.run(runner.start(request)), counter


def tree(state):
    work = pygit2.Repository(str(paths.work_repo()))
    return [
        (
            n.id,
            n.parent,
            n.action,
            n.debug_depth,
            n.batch_start,
            n.outcome,
            n.problem,
            n.execution.time_s if n.execution else None,
            n.llm.response_sha256 if n.llm else None,
            str(work[n.commit].tree_id),
        )
        for n in state.nodes
    ]


def test_concurrent_run_plans_the_sequential_tree(slow_toy_store):
    sequential, one_at_a_time = run_agent(slow_toy_store, jobs=1, llm_jobs=1)
    concurrent, three_at_a_time = run_agent(slow_toy_store, jobs=3, llm_jobs=3)
    assert one_at_a_time.most == 1 and three_at_a_time.most == 3
    assert sequential.status == concurrent.status == "finished" and len(sequential.nodes) == 10
    actions = {n.action for n in sequential.nodes}
    outcomes = {n.outcome for n in sequential.nodes}
    assert {"draft", "improve"} <= actions and {"valid", "buggy"} <= outcomes  # a tree worth comparing
    assert tree(concurrent) == tree(sequential)
    assert concurrent.summary["best"] == sequential.summary["best"]


def test_rate_limits_are_retried_and_change_nothing(slow_toy_store):
    agent_policies.RATE_LIMITED_PROMPTS.clear()
    plain, _ = run_agent(slow_toy_store, nodes=4)
    limited, _ = run_agent(slow_toy_store, policy="rate_limited_tweaker", jobs=2, llm_jobs=4, nodes=4)
    calls = [n.llm for n in limited.nodes[1:]]
    assert all(c.attempts == 2 and c.retried_errors[0].startswith("RateLimitError") for c in calls)
    assert [row[:-2] + row[-1:] for row in tree(limited)] == [row[:-2] + row[-1:] for row in tree(plain)]


def test_cost_budget_stops_a_concurrent_run_where_a_sequential_one_stops(slow_toy_store):
    state, _ = run_agent(slow_toy_store, jobs=3, llm_jobs=3, nodes=6, budget_usd=1.0)
    assert state.status == "stopped" and "cannot be enforced" in state.stop_reason
    assert len(state.nodes) == 2  # the root and the one call that revealed the missing price
