"""The warm probe server (analysis/probe_server.py): calls in separate processes share one sandboxed
worker, which answers as a worker of the caller's own would; a measured script cannot leave a process
or a file for the next one; a server ends when asked, when idle, and is replaced when it died; where
the socket folder is not the user's alone, no server is used.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from process_trees import program_under_shell

from analysis import probe_server, probe_worker
from analysis.probe_process import Worker
from analysis.probes import Prober

MLP = """
import torch
import torch.nn as nn
import torch.nn.functional as F


class MLP(nn.Module):
    def __init__(self, config=None, dim=16):
        super().__init__()
        self.up = nn.Linear(dim, 4 * dim, bias=False)
        self.down = nn.Linear(4 * dim, dim, bias=False)

    def forward(self, x):
        return self.down({ACT})
"""
SQUARED = MLP.replace("{ACT}", "F.relu(self.up(x)).square()")
PLAIN = MLP.replace("{ACT}", "F.gelu(self.up(x))")

# a script whose class body, executed when the worker loads its definitions, starts a process in a
# session of its own (its parent, the measuring child, exits: it is orphaned) and writes files where
# the next script might find them
LEAVING = (
    SQUARED
    + """

class Leaves:
    import subprocess, sys
    subprocess.Popen([sys.executable, "-c", "import time; time.sleep(300)", "{MARK}"], start_new_session=True)
    open("planted.py", "w").write("x = 1\\n")
    open("/tmp/planted", "w").write("x")
"""
)


def _server_pid(client) -> int | None:
    lock = client.path.with_suffix(".lock")
    try:
        return int(lock.read_text())
    except (OSError, ValueError):
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    with open(f"/proc/{pid}/stat") as f:
        return f.read().rsplit(")", 1)[1].split()[0] != "Z"


def _marked(mark: str) -> list[int]:
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                if mark.encode() in Path(f"/proc/{name}/cmdline").read_bytes():
                    found.append(int(name))
            except OSError:
                pass
    return found


@pytest.fixture
def server(home, monkeypatch):
    """A client of a server of this test's own (its own SPEEDRUN_HOME names it), stopped afterwards."""
    monkeypatch.setenv(probe_server.IDLE_VARIABLE, "120")
    prober = Prober(server=True)
    if prober.unavailable:
        pytest.skip(f"no sandbox here: {prober.unavailable}")
    client = prober.worker
    assert isinstance(client, probe_server.ServerClient)
    yield client
    probe_server.stop(client)


def test_calls_in_other_processes_share_one_server_that_answers_as_a_worker_of_their_own(server):
    names = ["squared_relu"]
    server.start()  # as attribution starts it, before its static layers: it does not wait
    first = server.ask(SQUARED, names)
    pid = _server_pid(server)
    assert pid and _alive(pid)
    # a second process: a prober of its own, through the CLI's code path
    code = (
        "import json, sys; from analysis.probes import Prober; p = Prober(server=True); "
        "print(json.dumps(p.worker.ask(sys.stdin.read(), ['squared_relu'])))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], input=PLAIN, capture_output=True, text=True, check=True, env=os.environ
    )
    assert _server_pid(server) == pid, "the second process started a server of its own"
    own = Worker(Prober().sandbox)
    try:
        assert first == own.ask(SQUARED, names) and first["squared_relu"]["value"] is True
        second = json.loads(out.stdout)
        assert second == own.ask(PLAIN, names) and second["squared_relu"]["value"] is False
    finally:
        own.close()


def test_a_measured_script_leaves_no_process_and_no_file_behind(server):
    mark = f"speedrun-leftover-{os.getpid()}-{time.monotonic_ns()}"
    answer = server.ask(LEAVING.replace("{MARK}", mark), ["squared_relu"])
    assert answer["squared_relu"]["value"] is True
    deadline = time.monotonic() + 5
    while [p for p in _marked(mark) if _alive(p)] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [p for p in _marked(mark) if _alive(p)], "the script's process outlived its measurement"
    # the same MLP, squared only where nothing was left: a planted module or file turns it into a GELU
    looking = SQUARED.replace(
        "        return self.down(F.relu(self.up(x)).square())",
        """        import os
        try:
            import planted  # noqa: F401
            left = True
        except ImportError:
            left = os.path.exists("planted.py") or os.path.exists("/tmp/planted")
        h = self.up(x)
        return self.down(F.gelu(h) if left else F.relu(h).square())""",
    )
    assert looking != SQUARED
    assert server.ask(looking, ["squared_relu"])["squared_relu"]["value"] is True


def test_a_server_ends_when_asked_and_when_idle(server, monkeypatch):
    server.ask(PLAIN, ["squared_relu"])
    pid = _server_pid(server)
    assert probe_server.stop(server)
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(pid) and not server.path.exists()

    monkeypatch.setenv(probe_server.IDLE_VARIABLE, "1")
    server.ask(SQUARED, ["squared_relu"])
    pid = _server_pid(server)
    deadline = time.monotonic() + 15
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid) and not server.path.exists()


def test_a_server_that_died_is_replaced_on_the_next_call(server):
    server.ask(PLAIN, ["squared_relu"])
    pid = _server_pid(server)
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 5
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert server.path.exists(), "the killed server's socket file is left: the next one must cope with it"
    assert server.ask(SQUARED, ["squared_relu"])["squared_relu"]["value"] is True
    assert _server_pid(server) not in (None, pid)


def test_another_home_gets_another_server(home, monkeypatch):
    sandbox = Prober().sandbox
    first = probe_server.server_key(sandbox)
    monkeypatch.setenv("SPEEDRUN_HOME", str(home / "elsewhere"))
    assert probe_server.server_key(sandbox) != first


def test_no_server_where_the_socket_folder_is_not_the_users_alone(tmp_path, monkeypatch):
    monkeypatch.setattr(probe_server.tempfile, "gettempdir", lambda: str(tmp_path))
    folder = tmp_path / f"speedrun-{os.getuid()}"
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    assert probe_server.socket_folder() is None
    assert isinstance(Prober(server=True).worker, Worker)
    folder.chmod(0o700)
    assert probe_server.socket_folder() == folder
    folder.rmdir()
    (tmp_path / "target").mkdir(mode=0o700)
    folder.symlink_to(tmp_path / "target")
    assert probe_server.socket_folder() is None


def test_leftovers_are_cleared_and_nothing_else(tmp_path):
    """In a process of its own (it kills its caller's children): an orphaned grandchild and a child are
    killed, two scratch folders emptied except the worker's own file; an unrelated process lives."""
    scratch, tmp = tmp_path / "scratch", tmp_path / "tmp"
    for folder in (scratch, tmp):
        (folder / "sub").mkdir(parents=True)
        (folder / "sub" / "f").write_text("x")
        (folder / "planted.py").write_text("x")
    (scratch / "probe_worker.py").write_text(Path(probe_worker.__file__).read_text())
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    code = f"""
import importlib.util, os, subprocess, sys, time, ctypes
spec = importlib.util.spec_from_file_location("w", {str(scratch / "probe_worker.py")!r})
w = importlib.util.module_from_spec(spec); spec.loader.exec_module(w)
ctypes.CDLL(None).prctl(w.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
middle = subprocess.Popen([sys.executable, "-c",
    "import subprocess, sys; p = subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(60)'],"
    " start_new_session=True); print(p.pid)"], stdout=subprocess.PIPE, text=True)
orphan = int(middle.stdout.readline()); middle.wait()
time.sleep(0.2)
w.clear_leftovers([{str(scratch)!r}, {str(tmp)!r}])
def alive(pid):
    try:
        return open(f"/proc/{{pid}}/stat").read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False
print(alive(child.pid), alive(orphan))
"""
    try:
        out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
        assert out.stdout.split() == ["False", "False"], out.stderr
        assert bystander.poll() is None
        assert sorted(p.name for p in scratch.iterdir()) == ["probe_worker.py"]
        assert list(tmp.iterdir()) == []
    finally:
        bystander.kill()
        bystander.wait()


def test_a_request_sent_ahead_is_answered_with_or_without_a_server_running(server):
    """``send`` goes to a running server at once; with none running it is asked (a server started)
    when its answer is read."""
    assert not server.path.exists()
    server.send(SQUARED, ["squared_relu"])  # no server yet: nothing sent
    assert server.receive(["squared_relu"])["squared_relu"]["value"] is True
    pid = _server_pid(server)
    server.send(PLAIN, ["squared_relu"])
    assert server.receive(["squared_relu"])["squared_relu"]["value"] is False
    assert _server_pid(server) == pid


def test_the_cli_shows_and_stops_the_server(server):
    env = dict(os.environ, SPEEDRUN_PROBE_SERVER="1")

    def cli(*args):
        return subprocess.run(
            [str(Path(sys.executable).parent / "speedrun"), "probes", *args], capture_output=True, text=True, env=env
        ).stdout

    assert "none running" in cli("status")
    server.ask(PLAIN, ["squared_relu"])
    assert f"running, pid {_server_pid(server)}" in cli("status")
    assert "stopped" in cli("stop")
    assert "none running" in cli("status") and "none running" in cli("stop")
    assert (
        "SPEEDRUN_PROBE_SERVER=0"
        in subprocess.run(
            [str(Path(sys.executable).parent / "speedrun"), "probes", "status"],
            capture_output=True,
            text=True,
            env=dict(env, SPEEDRUN_PROBE_SERVER="0"),
        ).stdout
    )


def test_callers_at_once_each_get_their_own_answer(server):
    """Requests arriving together are answered one after another, each with its own script's."""
    from concurrent.futures import ThreadPoolExecutor

    server.ask(PLAIN, ["squared_relu"])
    scripts = [SQUARED, PLAIN] * 3
    scripts = [text + f"\n# caller {i}\n" for i, text in enumerate(scripts)]
    clients = [probe_server.ServerClient(server.path, server.key) for _ in scripts]
    with ThreadPoolExecutor(len(scripts)) as pool:
        answers = list(
            pool.map(lambda pair: pair[0].ask(pair[1], ["squared_relu"]), zip(clients, scripts, strict=True))
        )
    assert [a["squared_relu"]["value"] for a in answers] == [True, False] * 3


def test_where_no_server_starts_the_process_measures_with_a_worker_of_its_own(server, monkeypatch):
    """A server that never takes connections (here: never launched) costs one wait, then the
    process's own worker answers; a temporary folder too deep for a socket's path means no server."""
    monkeypatch.setattr(probe_server.ServerClient, "_launch", lambda self: None)
    monkeypatch.setattr(probe_server, "START_TIMEOUT_S", 0.3)
    assert server.ask(SQUARED, ["squared_relu"])["squared_relu"]["value"] is True
    assert server.own is not None and not server.path.exists()
    server.send(PLAIN, ["squared_relu"])
    assert server.receive(["squared_relu"])["squared_relu"]["value"] is False
    server.close()


def test_no_server_where_a_socket_path_would_be_too_long(tmp_path, monkeypatch):
    deep = tmp_path / ("d" * 60) / ("e" * 60)
    deep.mkdir(parents=True)
    monkeypatch.setattr(probe_server.tempfile, "gettempdir", lambda: str(deep))
    sandbox = Prober().sandbox
    assert probe_server.socket_folder() is not None
    assert probe_server.ServerClient.for_sandbox(sandbox) is None


def test_a_measured_script_cannot_reach_the_workers_memory(server):
    """The worker that measures every script is not dumpable: a script running as the same user
    cannot open its memory (where it could change what the next script measures)."""
    reaching = SQUARED.replace(
        "        return self.down(F.relu(self.up(x)).square())",
        """        import os
        try:
            open(f"/proc/{os.getppid()}/mem", "rb").close()
            reached = True
        except OSError:
            reached = False
        h = self.up(x)
        return self.down(F.gelu(h) if reached else F.relu(h).square())""",
    )
    assert reaching != SQUARED
    assert server.ask(reaching, ["squared_relu"])["squared_relu"]["value"] is True


@pytest.mark.parametrize(
    "program, answered",
    [
        # waits longer than the CPU budget but uses almost none of it (a busy machine's share): answered
        ("import time; time.sleep(1.2); print('{}', flush=True)", True),
        ("while True: pass", False),  # spends the budget: given up at once
        ("import time; time.sleep(60)", False),  # waits on nothing: given up at the wall-clock limit
    ],
)
def test_a_request_is_given_up_by_the_workers_cpu_time_not_the_clock(program, answered, monkeypatch):
    """How long a request may take counts the worker's CPU time (its process tree's), so a measurement
    that a busy machine slows down is not turned into a failure; a worker that spins, or that waits on
    nothing, is still given up."""
    from analysis import probe_process

    monkeypatch.setattr(probe_process, "REQUEST_TIMEOUT_S", 0.6)
    monkeypatch.setattr(probe_process, "WALL_LIMIT_S", 3.0)
    monkeypatch.setattr(probe_process, "POLL_S", 0.1)
    monkeypatch.setattr(probe_process, "CPUS", 1)
    with program_under_shell(program) as proc:
        start = time.monotonic()
        if answered:
            probe_process.await_answer(proc, start)
            assert proc.stdout.readline().strip() == "{}"
        else:
            with pytest.raises(TimeoutError):
                probe_process.await_answer(proc, start)
            assert time.monotonic() - start < 3.0 + 1.0
