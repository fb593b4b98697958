"""An agent run: plan nodes with a scaffold, ask the model, commit, execute, judge; resumable.

Every node is one commit of the work repository whose parent is its parent node's commit,
on its own branch ``agent/<run-id>/<node>``; the root is record i itself (or, with
``--from RUN``, a commit holding the earlier run's best script on top of record i). The run
lists its commits in run.json rather than discovering them from refs. Nodes execute through
the replay engine's ``run_side`` (same executor, result cache, logs and grading as replays;
agent code runs in the sandbox) and are judged only from the deterministic log parser.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import FIRST_COMPLETED, Future, wait
from dataclasses import asdict, replace

import pygit2

from agent import judge, prompts, rules
from agent.edits import EditError, EditFormat, apply_reply
from agent.hints import hint_texts
from agent.llm import LLMClient, import_litellm
from agent.pool import DaemonPool
from agent.scaffolds import best_node, plan_next, scaffold
from agent.state import (
    ATTRIBUTION_MD,
    AgentRequest,
    AgentState,
    Execution,
    Node,
    branch_name,
    load_agent_state,
    node_id,
    reply_path,
    run_folder,
)
from replay.atomic import write_text_atomic
from replay.errors import SpeedrunError
from replay.records.store import RecordsStore
from replay.records.workrepo import create_branch
from replay.run.executor import Executor, JobRef, leave_running
from replay.run.executor_choice import build_executor
from replay.run.lifecycle import new_run_id, run_lock, sigterm_as_interrupt
from replay.run.provenance import gpu_names, provenance
from replay.run.replayer import Replayer, ReplayRequest, Side
from replay.statuses import NodeAction, NodeOutcome, NodeStage, Role, RunStatus

SIGNATURE = ("speedrun-agent", "agent@speedrun.invalid")


class AgentRunner:
    """Starts, runs and resumes agent runs."""

    def __init__(
        self,
        store: RecordsStore | None = None,
        client: LLMClient | None = None,
        on_event: Callable[[str], None] = lambda line: None,
        unsandboxed: bool = False,
        jobs: int = 1,
        llm_jobs: int = 4,
        executor: Executor | None = None,
    ):
        if jobs < 1 or llm_jobs < 1:
            raise SpeedrunError("--jobs and --llm-jobs must be at least 1")
        self.store = store or RecordsStore()
        if executor is None:  # this machine, running as many node runs at once as a batch may
            executor = build_executor("local", jobs=jobs, unsandboxed=unsandboxed)
        # --unsandboxed: nodes run unconfined; executor: where node runs go (default: this machine)
        self.replayer = Replayer(self.store, executor=executor, unsandboxed=unsandboxed)
        self.sandbox = self.replayer.executor.sandbox
        self.work = self.replayer.work
        self.client = client
        self.on_event = on_event
        # Nodes of a batch executing at once, and model calls in flight at once. One run at a time by
        # default: on a CPU machine concurrent runs would share its cores and slow each other down.
        self.runs = DaemonPool(jobs, "agent-run")
        self.calls = DaemonPool(llm_jobs, "agent-call")
        self._worker_replayers = threading.local()

    # --- starting -------------------------------------------------------------------------

    def start(self, request: AgentRequest, run_id: str | None = None) -> AgentState:
        """Validate the request, create the run's folder, root node and run.json (``run_id``: one
        chosen beforehand, as a sweep does to find its cell's run after a crash)."""
        scaffold(request.scaffold)
        if request.nodes < 1:
            raise SpeedrunError("--nodes must be at least 1")
        if request.edit_format not in tuple(EditFormat):
            raise SpeedrunError(f"--edit-format must be one of {', '.join(EditFormat)}, not '{request.edit_format}'")
        task = self.store.task(request.track, request.task)
        hint_texts(self.store, task, request.hints)  # fail now, not at the first node, if a hint is missing
        self._client_for(request).check_environment()
        self.sandbox.check()  # no sandbox here and no --unsandboxed: refused before anything is written
        run_id = run_id or new_run_id(request.track, request.task, kind="agent")
        root_commit, root_tree = task.start.commit_id, task.start.tree_id
        if request.from_run:
            root_commit, root_tree = self._cumulative_root(request, task, run_id)
        state = AgentState(
            run_id=run_id,
            request=request,
            start_label=task.start.label,
            target_label=task.target.label,
            target_val_loss=task.target.meta.target_val_loss,
            protected=tuple(task.start.meta.protected),
            entry=task.start.meta.entry,
            sandbox=self.sandbox.describe(len(gpu_names())),
            measure=task.start.meta.measure,
            provenance=provenance(),
            executor=self.replayer.executor.describe(),
        )
        root = Node(
            node_id(0),
            None,
            NodeAction.ROOT,
            stage=NodeStage.COMMITTED,
            commit=root_commit,
            branch=branch_name(run_id, node_id(0)),
        )
        state.nodes.append(root)
        run_folder(run_id).mkdir(parents=True)
        create_branch(self.work, root.branch, root_commit)
        state.save()
        return state

    def _cumulative_root(self, request: AgentRequest, task, run_id: str) -> tuple[str, str]:
        """Record i's tree with its script replaced by the earlier run's best (the paper's cascade)."""
        earlier = load_agent_state(request.from_run)
        if earlier.request.track != request.track or earlier.target_label != task.start.label:
            raise SpeedrunError(
                f"--from {request.from_run}: that run worked on {earlier.start_label} -> {earlier.target_label}; "
                f"task {request.task} starts from {task.start.label}"
            )
        best = best_node(earlier)
        if best is None:
            raise SpeedrunError(f"--from {request.from_run}: that run has no valid node to start from")
        script = self._script(best.commit, earlier.entry)
        tree = self._tree_with(task.start.tree_id, task.start.meta.entry, script)
        message = (
            f"agent {run_id} n000: start from {earlier.run_id} {best.id}\n\n"
            f"Speedrun-Run: {run_id}\nSpeedrun-From: {best.branch}\n"
        )
        commit = self._commit(tree, [task.start.commit_id, best.commit], message)
        return commit, str(tree)

    # --- the loop -------------------------------------------------------------------------

    def run(self, state: AgentState) -> AgentState:
        """Run (or resume) until the node budget, the cost budget or the scaffold is exhausted."""
        self.client = self._client_for(state.request)
        task = self.store.task(state.request.track, state.request.task)
        self.hints = hint_texts(self.store, task, state.request.hints)
        import_litellm()  # registered once here, before model calls run in worker threads
        with run_lock(run_folder(state.run_id), state.run_id):
            try:
                with sigterm_as_interrupt():  # before the status says running, so a SIGTERM is never lost
                    state.status, state.stop_reason = RunStatus.RUNNING, None
                    state.save()
                    self._loop(state)
                    if state.status != RunStatus.FAILED:  # the closing reference runs are interruptible too
                        state.summary = self._summarize(state, task)
                        state.status = RunStatus.STOPPED if state.stop_reason else RunStatus.FINISHED
            except KeyboardInterrupt as interrupt:
                if not leave_running(interrupt, self.replayer.executor):
                    self._cancel_jobs(state)
                state.status = RunStatus.INTERRUPTED
                state.save()
                raise
            state.save()
            return state

    def _cancel_jobs(self, state: AgentState) -> None:
        """Ctrl-C: cancel this run's jobs still queued or running (a cluster's; local runs end with
        this process) and forget them, so that a resume runs those nodes afresh. (Stopped from
        outside, a run leaves a cluster's jobs running and in run.json, to be re-attached to.)"""
        executor = self.replayer.executor
        for saved in state.jobs.values():
            ref = JobRef.from_json(saved)
            job = executor.attach(ref) if ref.executor == executor.name else None
            if job is not None:
                job.cancel()
        state.jobs = {}

    def _loop(self, state: AgentState) -> None:
        """Plan batches and advance their nodes until the budgets or the scaffold stop the run."""
        while True:
            pending = [n for n in state.nodes if n.stage != NodeStage.DONE]
            if not pending:
                plans = plan_next(state, state.request.nodes - (len(state.nodes) - 1))
                if not plans:
                    break
                known = len(state.nodes)
                for plan in plans:
                    state.nodes.append(
                        Node(node_id(len(state.nodes)), plan.parent, plan.action, plan.debug_depth, batch_start=known)
                    )
                state.save()
                continue
            self._advance_batch(state, pending)
            if state.stop_reason:
                break
            root = state.root
            if root.outcome not in (NodeOutcome.VALID, NodeOutcome.PARTIAL, NodeOutcome.MISSED_TARGET):
                state.status, state.stop_reason = (
                    RunStatus.FAILED,
                    f"the starting script failed: {root.problem}: {root.detail}",
                )
                state.save()
                return

    def _client_for(self, request: AgentRequest) -> LLMClient:
        if self.client is None:
            self.client = LLMClient(
                request.model, api_base=request.api_base, temperature=request.temperature, seed=request.seed
            )
        return self.client

    def _budget_stop(self, state: AgentState) -> str | None:
        budget = state.request.budget_usd
        if budget is None:
            return None
        if state.unpriced_calls:
            return f"--budget-usd {budget} cannot be enforced: litellm has no price for {state.request.model}"
        if state.cost_usd >= budget:
            return f"cost budget spent: ${state.cost_usd:.4f} of ${budget:.4f}"
        return None

    def _advance_batch(self, state: AgentState, pending: list[Node]) -> None:
        """Take every node of a batch to ``done``: model calls and runs go to the pools, while this
        thread alone builds prompts, writes commits, judges and saves run.json (git objects and the
        run's state are never touched by two threads). A node's prompt sees the tree as it was
        when its batch was planned, so the order in which siblings finish changes nothing: the
        tree is the one a sequential run plans. With a cost budget each call waits for the one
        before it, so that every call knows what has been spent, as in a sequential run."""
        for node in pending:
            if node.stage == NodeStage.REPLIED and not reply_path(state.run_id, node.id).is_file():
                node.stage = NodeStage.PLANNED  # the saved reply is gone: ask again
        to_ask = [n for n in pending if n.stage == NodeStage.PLANNED]
        asking: dict[Future, Node] = {}
        running: dict[Future, Node] = {}
        submitted: dict[Future, Node] = {}  # set by a worker when its node's job is submitted
        sequential_calls = state.request.budget_usd is not None
        try:
            while True:
                for node in pending:
                    if node.stage == NodeStage.REPLIED:
                        self._make_commit(state, node)
                    if node.stage == NodeStage.COMMITTED and node not in running.values():
                        if node.outcome is not None:  # failed before running: judged without a run
                            self._finish(state, node)
                        elif node.execution is not None:  # ran before a kill, not judged: its run is kept
                            self._judge(state, node, node.execution)
                            self._finish(state, node)
                        elif len(running) < self.runs.size:
                            note: Future = Future()
                            submitted[note] = node
                            saved = state.jobs.get(node.id)
                            running[self.runs.submit(self._execute_in_worker, state, node, saved, note)] = node
                while to_ask and len(asking) < self.calls.size and not (sequential_calls and asking):
                    if reason := self._budget_stop(state):
                        state.nodes = [n for n in state.nodes if n.stage != NodeStage.PLANNED]
                        state.stop_reason = reason
                        to_ask.clear()
                        state.save()
                        break
                    node = to_ask.pop(0)
                    asking[self.calls.submit(self.client.complete, self._messages(state, node))] = node
                if not asking and not running:
                    return
                finished, _ = wait([*asking, *running, *submitted], return_when=FIRST_COMPLETED)
                for future in sorted(finished, key=lambda f: f not in submitted):  # a job's id before its end
                    if future in asking:
                        self._save_reply(state, asking.pop(future), future.result())
                    elif future in submitted:
                        self._note_job(state, submitted[future].id, future.result())
                        del submitted[future]  # only once noted: a SIGTERM in between finds it below
                    elif future in running:
                        node = running.pop(future)
                        for note in [f for f, n in submitted.items() if n is node]:  # run from the cache: no job
                            del submitted[note]
                        node.execution = future.result()
                        self._forget_job(state, node.id)  # saved with the run: a kill from here never reruns it
                        self._judge(state, node, node.execution)
                        self._finish(state, node)
        except KeyboardInterrupt:
            for note, node in submitted.items():  # submitted while this thread was stopped: kept for a resume
                if note.done():
                    self._note_job(state, node.id, note.result())
            raise

    def _finish(self, state: AgentState, node: Node) -> None:
        node.stage = NodeStage.DONE
        state.save()
        self.on_event(_describe(node))

    # --- one node's stages ----------------------------------------------------------------

    def _messages(self, state: AgentState, node: Node) -> list[dict]:
        """The node's prompt, from the tree as it stood when the node's batch was planned."""
        attempt = None
        if node.batch_start is None:  # a run.json from before batches were recorded: what it saw then
            known = state.nodes.index(node)
        else:
            known = node.batch_start
            batch = [n for n in state.nodes if n.batch_start == known]
            attempt = (batch.index(node) + 1, len(batch))
        seen = replace(state, nodes=state.nodes[:known])
        parent = state.node(node.parent)
        script = self._script(parent.commit, state.entry)
        return prompts.build_messages(seen, node.action, parent, script, self.hints, run_folder(state.run_id), attempt)

    def _save_reply(self, state: AgentState, node: Node, completion) -> None:
        path = reply_path(state.run_id, node.id)
        path.parent.mkdir(parents=True, exist_ok=True)
        write_text_atomic(path, completion.text)
        node.llm = completion.call
        node.stage = NodeStage.REPLIED
        state.save()

    def _make_commit(self, state: AgentState, node: Node) -> None:
        """Apply the reply's edit and commit it (an edit that fails is committed unchanged, as the attempt it was)."""
        parent = state.node(node.parent)
        script = self._script(parent.commit, state.entry)
        reply = reply_path(state.run_id, node.id).read_text()
        new_script = script
        try:
            applied = apply_reply(script, reply)
            new_script, node.edit_format = applied.text, applied.format
            problem = rules.syntax_error(new_script)
            if problem:
                node.outcome, node.problem, node.detail = NodeOutcome.BUGGY, "syntax_error", problem
            else:
                # Against the root, not the parent: a debug child of a violating node must not inherit it.
                root_script = self._script(state.root.commit, state.entry)
                violations = rules.protected_violations(root_script, new_script, state.protected)
                if violations:
                    node.outcome, node.problem, node.detail = NodeOutcome.BUGGY, "rule_violation", "; ".join(violations)
        except EditError as exc:
            node.outcome, node.problem, node.detail = NodeOutcome.BUGGY, "edit_error", str(exc)
            node.edit_format = "error"
        parent_commit = self.work[parent.commit]
        tree = self._tree_with(str(parent_commit.tree_id), state.entry, new_script)
        summary = reply.strip().splitlines()[0][:200] if reply.strip() else "(empty reply)"
        trailers = {
            "Speedrun-Run": state.run_id,
            "Speedrun-Node": node.id,
            "Speedrun-Parent": node.parent,
            "Speedrun-Action": node.action,
            "Speedrun-Model": state.request.model,
            "Speedrun-Edit": node.edit_format,
            "Speedrun-Reply-SHA256": node.llm.response_sha256 if node.llm else "",
        }
        message = f"agent {state.run_id} {node.id}: {node.action} of {node.parent}\n\n{summary}\n\n" + "".join(
            f"{k}: {v}\n" for k, v in trailers.items()
        )
        node.commit = self._commit(tree, [parent.commit], message)
        node.branch = branch_name(state.run_id, node.id)
        # force: a node killed after making its branch, and resumed, has made a new commit since
        self.work.branches.local.create(node.branch, self.work[node.commit].peel(pygit2.Commit), force=True)
        node.stage = NodeStage.COMMITTED
        state.save()

    def _execute_in_worker(self, state: AgentState, node: Node, saved: dict | None, note: Future) -> Execution:
        """Run a node (in a pool worker: reads only what the run's thread wrote before submitting it,
        and tells that thread its job through ``note`` rather than writing the state itself)."""
        untrusted = node.action != NodeAction.ROOT or state.request.from_run is not None
        role = Role.CANDIDATE if untrusted else Role.BASELINE
        return self._run_side(
            state, node.id, role, node.branch, node.commit, self._worker_replayer(), saved, note.set_result
        )

    @staticmethod
    def _note_job(state: AgentState, name: str, ref: JobRef) -> None:
        """Save a submitted job's reference before waiting for it: a killed run re-attaches to it."""
        state.jobs[name] = asdict(ref)
        state.save()

    @staticmethod
    def _forget_job(state: AgentState, name: str) -> None:
        """The job's run is collected (or cancelled): a resume must not wait for it again."""
        if state.jobs.pop(name, None) is not None:
            state.save()

    def _worker_replayer(self) -> Replayer:
        """This worker's own replayer: a pygit2 repository must not be shared between threads, so
        each worker opens the records and the work repository itself (same executor and progress)."""
        local = self._worker_replayers
        if getattr(local, "replayer", None) is None:
            local.replayer = Replayer(
                RecordsStore(self.store.path), executor=self.replayer.executor, progress=self.replayer.progress
            )
        return local.replayer

    def _judge(self, state: AgentState, node: Node, execution: Execution) -> None:
        """Grade a node's run. The verdict is set only once it is final, so a run killed during the
        fresh reference below resumes by judging the saved run again (re-attaching to the reference's
        job), never by running the node again."""
        node.execution = execution
        verdict = self._verdict(state, execution, state.root.execution)
        if verdict[1] == "clock" and state.root.execution is not None:
            # The allowance came from the root, timed at the start of the run under that moment's load:
            # before calling the clock implausible, time the untouched script again now, next to the node.
            reference = self._run_side(
                state, f"{node.id}-reference", Role.BASELINE, state.root.branch, state.root.commit
            )
            state.references[f"{node.id}-reference"] = reference
            verdict = self._verdict(state, execution, reference)
        node.outcome, node.problem, node.detail = verdict

    @staticmethod
    def _verdict(state: AgentState, execution: Execution, reference: Execution | None):
        allowance = rules.startup_allowance(
            reference.wall_s if reference else None, reference.time_s if reference else None
        )
        return judge.judge(execution, state.target_val_loss, state.request.max_steps is not None, allowance)

    def _run_side(
        self,
        state: AgentState,
        name: str,
        role: Role,
        ref: str,
        commit: str,
        replayer: Replayer | None = None,
        saved: dict | None = None,
        on_submit: Callable[[JobRef], None] | None = None,
    ) -> Execution:
        """Run ``name`` (a node, or a reference run of a record) through the replay engine, re-attaching
        to its saved job if an earlier process submitted one. Without ``on_submit`` this is the run's
        own thread: it saves the job's reference itself and forgets it once the run is collected."""
        in_run_thread = on_submit is None
        if in_run_thread:
            saved = state.jobs.get(name)
            on_submit = lambda job: self._note_job(state, name, job)  # noqa: E731
        replayer = replayer or self.replayer
        request = ReplayRequest(
            track=state.request.track,
            task=state.request.task,
            runs=1,
            max_steps=state.request.max_steps,
            time_limit_s=state.request.node_timeout_s,
            use_cache=state.request.use_cache,
        )
        side = Side(name, role, ref, commit, str(replayer.work[commit].peel(pygit2.Commit).tree_id))
        record = replayer.run_side(
            request, side, 0, run_folder(state.run_id), JobRef.from_json(saved) if saved else None, on_submit
        )
        if in_run_thread:
            self._forget_job(state, name)
        return Execution(
            status=record["status"],
            failure=record["failure"],
            time_s=record["time_s"],
            val_loss=record["val_loss"],
            steps=record["steps"],
            wall_s=record["wall_s"],
            log=record["log"],
            cached=record["cached"],
            reason=record["reason"],
        )

    # --- scoring --------------------------------------------------------------------------

    def _summarize(self, state: AgentState, task) -> dict:
        """Best node, single-run FSR estimates against the human record and the agent's start, attribution."""
        if "record_target" not in state.references:
            state.references["record_target"] = self._run_side(
                state, "record_target", Role.GROUND_TRUTH, task.target.label, task.target.commit_id
            )
        if state.request.from_run and "record_start" not in state.references:
            state.references["record_start"] = self._run_side(
                state, "record_start", Role.BASELINE, task.start.label, task.start.commit_id
            )
        state.save()
        return judge.summarize(state, self._attribution(state, task))

    def _attribution(self, state: AgentState, task) -> dict | None:
        best = best_node(state)
        if best is None:
            return None
        from analysis.report import to_markdown
        from analysis.task import attribute_task

        _, doc = attribute_task(
            self.store, task.track, task.number, best.branch, self._script(best.commit, state.entry)
        )
        write_text_atomic(run_folder(state.run_id) / ATTRIBUTION_MD, to_markdown(doc))
        reproduced = [i["name"] for i in doc["innovations"] if i["reproduced"]]
        return {
            "reproduced": reproduced,
            "innovations": [i["name"] for i in doc["innovations"]],
            "scores": {i["name"]: i["score"] for i in doc["innovations"]},
            "novel_edits": len(doc["novel"]),
            "fallback": doc["fallback"],
        }

    # --- git ------------------------------------------------------------------------------

    def _script(self, commit: str, entry: str) -> str:
        return (self.work[commit].peel(pygit2.Commit).tree / entry).data.decode()

    def _tree_with(self, base_tree: str, entry: str, script: str) -> pygit2.Oid:
        builder = self.work.TreeBuilder(self.work[base_tree])
        builder.insert(entry, self.work.create_blob(script.encode()), pygit2.enums.FileMode.BLOB)
        return builder.write()

    def _commit(self, tree, parents: list[str], message: str) -> str:
        sig = pygit2.Signature(*SIGNATURE)
        return str(self.work.create_commit(None, sig, sig, message, tree, [pygit2.Oid(hex=p) for p in parents]))


def _describe(node: Node) -> str:
    e = node.execution
    what = f"{node.id} {node.action}" + (f" of {node.parent}" if node.parent else "")
    if node.outcome in (NodeOutcome.BUGGY, NodeOutcome.INVALID):
        first_line = (node.detail or "").partition("\n")[0][:120]
        return f"{what}: {node.outcome} ({node.problem}: {first_line})"
    time = f"{e.time_s:.2f} s" if e and e.time_s is not None else "-"
    loss = f" val {e.val_loss:.4f}" if e and e.val_loss is not None else ""
    return f"{what}: {time}{loss} {node.outcome}" + (" (cached)" if e and e.cached else "")


def resume_state(run_id: str) -> AgentState:
    """The state of a run to resume (finished runs cannot be resumed)."""
    state = load_agent_state(run_id)
    if not state.status.resumable:
        raise SpeedrunError(f"run {run_id} is {state.status}; nothing to resume")
    return state
