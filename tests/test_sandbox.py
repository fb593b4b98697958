"""A sandboxed run cannot undo its sandbox, see what it must not, or outlive itself.

The invariant guarded here (replay/run/sandbox.py): code run through ``LocalExecutor`` with the
sandbox runs as an unprivileged uid without capabilities, so remounting or unmounting a
read-only path (``mount``/``umount`` and the raw syscalls) and making a user namespace to regain
capabilities all fail; it sees only its scratch folder (writable), the data files it is given
(read-only) and a read-only interpreter, never the records repository, the project checkout,
``runs/`` or the home folder; its environment holds no API key; its /tmp and /dev/shm die with
it; no process it starts survives it; a fork bomb hits the process cap; it has no network and
cannot reach the harness's processes (signal, priority, CPU affinity). A run whose log outgrows
the cap is stopped and graded as failed. Without bubblewrap, a sandbox refuses in one line
unless running unsandboxed was asked for. Tests that need bubblewrap skip where it is missing.
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import pytest

from replay import paths
from replay.errors import SpeedrunError
from replay.records.workrepo import create_branch, open_work_repo
from replay.run import sandbox as sandbox_module
from replay.run.executor import LaunchSpec, LocalExecutor
from replay.run.sandbox import Sandbox, SandboxLayoutError, SandboxUnavailable, interpreter_paths, sandbox_unavailable
from replay.score.grading import grade

MISSING = sandbox_unavailable()
needs_bwrap = pytest.mark.skipif(MISSING is not None, reason=f"no bubblewrap sandbox on this machine: {MISSING}")

PROBE = textwrap.dedent("""
    import ctypes, json, os, socket, subprocess, sys
    args = json.loads(sys.argv[1])
    libc = ctypes.CDLL(None, use_errno=True)
    out = {}

    def fails(f):
        try:
            result = f()
        except (OSError, MemoryError, subprocess.SubprocessError):
            return True
        return result is False

    def write(path):
        return lambda: open(path, "a").write("x")

    def run(*command):
        return lambda: subprocess.run(command, capture_output=True, timeout=30).returncode == 0

    def syscall(result):
        return lambda: result() == 0

    MS_REMOUNT, MS_BIND, MNT_DETACH, CLONE_NEWUSER = 32, 4096, 2, 0x10000000
    out["uid"] = os.getuid()
    out["capabilities"] = [l.split()[1] for l in open("/proc/self/status") if l.startswith(("CapEff", "CapBnd"))]
    for protected in (sys.prefix, args["data"]):  # read-only mounts: the interpreter, a data file
        remount = lambda: libc.mount(None, protected.encode(), None, MS_REMOUNT | MS_BIND, None)
        out[f"mount_binary {protected}"] = fails(run("mount", "-o", "remount,bind,rw", protected))
        out[f"umount_binary {protected}"] = fails(run("umount", "-l", protected))
        out[f"mount_syscall {protected}"] = fails(syscall(remount))
        out[f"umount_syscall {protected}"] = fails(syscall(lambda: libc.umount2(protected.encode(), MNT_DETACH)))
    out["userns_syscall"] = fails(syscall(lambda: libc.unshare(CLONE_NEWUSER)))
    out["userns_binary"] = fails(run("unshare", "--user", "--map-root-user", "--mount", "true"))
    out["readonly_write"] = fails(write(os.path.join(sys.prefix, "x.txt")))
    out["data_write"] = fails(write(args["data"]))
    out["usr_write"] = fails(write("/usr/x.txt"))
    out["data_read"] = open(args["data"]).read()
    out["scratch_write"] = not fails(write("out.txt"))
    out["visible"] = {p: os.path.exists(p) for p in args["hidden"]}
    out["env"] = dict(os.environ)
    def environ(pid):
        try:
            return open(f"/proc/{pid}/environ", errors="replace").read()
        except OSError:  # another uid's (PID 1's, for a root harness): not readable
            return ""

    out["proc_environ"] = "".join(environ(p) for p in os.listdir("/proc") if p.isdigit())
    out["network"] = fails(lambda: socket.create_connection(("1.1.1.1", 80), timeout=2))
    out["interfaces"] = [name for _, name in socket.if_nameindex()]
    harness = args["harness"]
    out["ppid"] = os.getppid()
    out["kill"] = fails(lambda: os.kill(harness, 0))
    out["renice"] = fails(lambda: os.setpriority(os.PRIO_PROCESS, harness, 19))
    out["affinity"] = fails(lambda: os.sched_setaffinity(harness, {0}))
    out["alloc"] = fails(lambda: bytearray(args["alloc"]))
    print(json.dumps(out))
""")


def confined(scratch: Path, script: str, *args: str, sandbox: Sandbox | None = None, **spec):
    """Run ``script`` in ``scratch`` through the executor and the sandbox: (exit, log text)."""
    scratch.mkdir(parents=True, exist_ok=True)
    (scratch / "probe.py").write_text(script)
    sandbox = sandbox or Sandbox(max_processes=64)
    log = scratch.parent / f"log-{uuid.uuid4().hex[:6]}.txt"
    spec = {"time_limit_s": 120, **spec}
    launch = LaunchSpec(workdir=scratch, entry="probe.py", args=args, python=sys.executable, **spec)
    exit = LocalExecutor(gpus=0, sandbox=sandbox).run(launch, log)
    return exit, log.read_text()


def survivors(marker: str, wait_s: float = 5.0) -> list[str]:
    """Command lines of host processes naming ``marker`` once they had ``wait_s`` to die; any found
    (this test's own leftovers) are killed, so a failing test leaves nothing behind either."""
    deadline = time.monotonic() + wait_s
    while True:
        found = {}
        for entry in Path("/proc").iterdir():
            try:
                cmdline = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                continue
            if entry.name.isdigit() and marker in cmdline and int(entry.name) != os.getpid():
                found[int(entry.name)] = cmdline
        if not found or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    for pid in found:
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass
    return list(found.values())


@needs_bwrap
def test_the_sandbox_cannot_be_undone_nor_see_or_reach_what_it_must_not(home, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-do-not-leak")
    records = paths.records_repo()  # a fake records repository that exists on the host
    (records / "refs").mkdir(parents=True)
    (records / "HEAD").write_text("ref: refs/heads/mini\n")
    other_run = paths.home() / "replay-other" / "run.json"
    other_run.parent.mkdir(parents=True)
    other_run.write_text("{}")
    cache = paths.cache_dir() / "ab" / "entry.json"
    cache.parent.mkdir(parents=True)
    cache.write_text("{}")
    data = home / "data"
    data.mkdir()
    (data / "train.bin").write_text("training tokens")
    (data / "val.bin").write_text("validation tokens")  # same folder, not given: invisible
    scratch = paths.home() / "replay-this" / "scratch" / "candidate-0"
    mine = [p for q in interpreter_paths(sys.executable) for p in (q, *q.parents)]
    in_home = [p for p in Path.home().iterdir() if p not in mine] if Path.home().is_dir() else []
    hidden = [records / "HEAD", other_run, cache, paths.PROJECT_ROOT / "replay" / "paths.py", data / "val.bin"]
    hidden += [paths.PROJECT_ROOT / "records.git", *in_home[:3]]
    args = {
        "data": str(data / "train.bin"),
        "hidden": [str(p) for p in hidden],
        "harness": os.getpid(),
        "alloc": 3 * 2**30,
    }
    run_env = {"NANOGPT_TRAIN_FILES": str(data / "train.bin"), "SPEEDRUN_SEED": "3", "SPEEDRUN_API_KEY": "sk-2"}
    sandbox = Sandbox(max_processes=64, memory_bytes=2 * 2**30)
    exit, log = confined(scratch, PROBE, json.dumps(args), sandbox=sandbox, readable=(data / "train.bin",), env=run_env)
    assert exit.returncode == 0, log
    out = json.loads(log.strip().splitlines()[-1])
    assert out["uid"] == 65534 and set(out["capabilities"]) == {"0000000000000000"}, out
    attempts = [k for k in out if k.startswith(("mount_", "umount_"))]
    assert len(attempts) == 8 and all(out[k] for k in attempts), [k for k in attempts if not out[k]]
    assert out["userns_syscall"] and out["userns_binary"], "a nested user namespace could be made"
    assert out["readonly_write"] and out["data_write"] and out["usr_write"], "wrote outside scratch"
    assert out["scratch_write"] and (scratch / "out.txt").exists(), "the scratch folder is not writable"
    assert out["data_read"] == "training tokens"
    assert not any(out["visible"].values()), {p: v for p, v in out["visible"].items() if v}
    assert "OPENAI_API_KEY" not in out["env"] and "SPEEDRUN_API_KEY" not in out["env"]
    assert "sk-test-do-not-leak" not in out["proc_environ"] and "sk-2" not in out["proc_environ"]
    assert out["env"]["NANOGPT_TRAIN_FILES"] == str(data / "train.bin") and out["env"]["SPEEDRUN_SEED"] == "3"
    assert out["network"] and out["interfaces"] == ["lo"]
    assert out["ppid"] != os.getpid() and out["kill"] and out["renice"] and out["affinity"], out
    assert out["alloc"], "the address-space cap did not hold"
    assert (data / "train.bin").read_text() == "training tokens" and not (Path(sys.prefix) / "x.txt").exists()
    described = sandbox.describe()
    assert described.startswith("bubblewrap: uid 65534") and "RLIMIT_AS 2.0 GiB" in described


@needs_bwrap
def test_tmp_and_shm_are_private_to_one_run(tmp_path):
    leave = "open('/tmp/leak', 'w').write('x'); open('/dev/shm/leak', 'w').write('x'); print('left')\n"
    exit, log = confined(tmp_path / "a", leave)
    assert exit.returncode == 0 and "left" in log, log
    look = "import os; print('seen', os.path.exists('/tmp/leak') or os.path.exists('/dev/shm/leak'))\n"
    exit, log = confined(tmp_path / "b", look)
    assert exit.returncode == 0 and "seen False" in log, log
    assert not Path("/dev/shm/leak").exists()


@needs_bwrap
def test_nothing_the_run_starts_outlives_it(tmp_path):
    marker = f"speedrun-leftover-{uuid.uuid4().hex}"
    script = textwrap.dedent(f"""
        import os, subprocess, sys
        stay = [sys.executable, "-c", "import time; time.sleep(600)", "{marker}"]
        quiet = dict(stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        subprocess.Popen(stay, start_new_session=True, **quiet)  # a background process
        if os.fork() == 0:  # a daemon: double fork, new session, no inherited output
            os.setsid()
            if os.fork() == 0:
                null = os.open(os.devnull, os.O_RDWR)
                for fd in (0, 1, 2):
                    os.dup2(null, fd)
                os.execv(sys.executable, stay)
            os._exit(0)
        os.wait()
        print("started", flush=True)
    """)
    exit, log = confined(tmp_path / "s", script)
    assert exit.returncode == 0 and "started" in log, log
    assert survivors(marker) == []


@needs_bwrap
def test_a_run_the_harness_stops_leaves_nothing_even_outside_its_process_group(tmp_path):
    marker = f"speedrun-stopped-{uuid.uuid4().hex}"
    script = textwrap.dedent(f"""
        import os, subprocess, sys, time
        os.setsid()  # out of the group the executor signals
        subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)", "{marker}"], start_new_session=True)
        print("step:1/9 train_time:1ms", flush=True)
        time.sleep(600)
    """)
    exit, log = confined(tmp_path / "s", script, max_steps=1)
    assert exit.stopped_at_max_steps and exit.wall_s < 30, (exit, log)
    assert survivors(marker) == []
    script = script.replace('print("step:1/9 train_time:1ms", flush=True)', 'print("started", flush=True)')
    exit, log = confined(tmp_path / "t", script.replace(marker, marker + "-t"), time_limit_s=2)
    assert exit.timed_out and exit.wall_s < 30, (exit, log)
    assert survivors(marker + "-t") == []


@needs_bwrap
def test_a_fork_bomb_hits_the_process_cap_and_dies_with_the_run(tmp_path):
    marker = f"speedrun-bomb-{uuid.uuid4().hex}"
    script = textwrap.dedent("""
        import os, time
        n = 0
        try:
            while n < 500:  # bounded: if the cap failed, the test fails without harming the host
                if os.fork() == 0:
                    time.sleep(600)
                    os._exit(0)
                n += 1
        except OSError as exc:
            print("forks", n, exc.errno, flush=True)
    """)
    start = time.monotonic()
    exit, log = confined(tmp_path / "s", script, marker, sandbox=Sandbox(max_processes=32))
    assert exit.returncode == 0 and "forks" in log, log
    assert int(log.split("forks")[1].split()[0]) < 32
    assert time.monotonic() - start < 60
    assert survivors(marker) == []


@needs_bwrap
def test_torch_imports_inside_the_sandbox(tmp_path):
    script = "import torch\nprint('torch', torch.__version__, float(torch.ones(2).sum()))\n"
    exit, log = confined(tmp_path / "s", script)
    assert exit.returncode == 0 and "torch " in log and " 2.0" in log, log
    assert exit.cpu_s > 0.2, "the CPU time of the work inside the sandbox is counted"


@needs_bwrap
def test_torchrun_workers_rendezvous_over_loopback(tmp_path):
    """torchrun's rendezvous connects to the host name: it must resolve to loopback inside."""
    script = textwrap.dedent("""
        import os, torch, torch.distributed as dist
        dist.init_process_group("gloo")
        total = torch.ones(1)
        dist.all_reduce(total)
        os.write(1, f"rank {dist.get_rank()} sum {int(total)}\\n".encode())  # one write: ranks share the pipe
        dist.destroy_process_group()
    """)
    scratch = tmp_path / "s"
    scratch.mkdir()
    (scratch / "probe.py").write_text(script)
    spec = LaunchSpec(scratch, "probe.py", launcher="torchrun", nproc=2, python=sys.executable, time_limit_s=120)
    # gpus=2: the executor launches torchrun as on a GPU machine; the workers use gloo on the CPU
    exit = LocalExecutor(gpus=2, sandbox=Sandbox()).run(spec, tmp_path / "log.txt")
    log = (tmp_path / "log.txt").read_text()
    assert exit.returncode == 0 and log.count(" sum 2") == 2, log[-3000:]
    assert "torch.distributed.run" in exit.command


@needs_bwrap
def test_a_layout_showing_hidden_state_is_refused(home):
    scratch = home / "scratch"
    scratch.mkdir()
    paths.home().mkdir()
    for readable in (paths.home(), paths.PROJECT_ROOT):
        with pytest.raises(SandboxLayoutError):
            Sandbox().wrap([sys.executable, "x.py"], scratch, readable=(readable,))


def test_a_run_printing_past_the_log_cap_is_stopped_and_fails(tmp_path):
    script = "import sys\nprint('step:1/9 train_time:5ms')\nwhile True:\n    sys.stdout.write('x' * 999 + '\\n')\n"
    spec_args = dict(max_log_bytes=200_000)
    exit, log = confined(tmp_path / "s", script, sandbox=Sandbox(allow_unsandboxed=True), **spec_args)
    assert exit.log_capped and not exit.timed_out and exit.returncode != 0
    assert 190_000 < len(log) < 201_000 and "log exceeded 200000 bytes" in log
    result = grade(log, exit)
    assert result.status == "failed" and result.failure == "log_capped"


def test_without_bubblewrap_runs_are_refused_in_one_line_unless_unsandboxed(tmp_path, monkeypatch):
    monkeypatch.setattr(sandbox_module, "sandbox_unavailable", lambda: "bwrap not found (Debian: apt-get install x)")
    with pytest.raises(SandboxUnavailable) as refused:
        Sandbox().wrap([sys.executable, "x.py"], tmp_path)
    message = str(refused.value)
    assert isinstance(refused.value, SpeedrunError) and "\n" not in message
    assert "bwrap not found" in message and "--unsandboxed" in message
    assert Sandbox().describe().startswith("refused: no sandbox here (bwrap not found")
    free = Sandbox(allow_unsandboxed=True)
    assert free.wrap([sys.executable, "x.py"], tmp_path) == [sys.executable, "x.py"]
    assert free.describe().startswith("NOT sandboxed (--unsandboxed)")
    exit, log = confined(tmp_path / "s", "print('ran as is')\n", sandbox=free)
    assert exit.returncode == 0 and "ran as is" in log
    assert "GPUs present" in Sandbox(memory_bytes=2**30).describe(gpus=1)


def test_the_cli_refuses_without_bubblewrap_and_runs_with_unsandboxed(toy_store, tmp_path):
    bare = tmp_path / "bin"  # a PATH without bwrap (nor env, prlimit)
    bare.mkdir()
    env = {**os.environ, "PATH": str(bare)}
    env.pop(sandbox_module.UNSANDBOXED_VARIABLE, None)
    speedrun = str(Path(sys.executable).parent / "speedrun")
    create_branch(open_work_repo(toy_store.path), "candidate", toy_store.record("toy", 1).commit_id)
    replay = [speedrun, "replay", "1", "--track", "toy", "--branch", "candidate"]
    refused = subprocess.run(replay, capture_output=True, text=True, env=env)
    assert refused.returncode == 1 and "Traceback" not in refused.stderr, refused.stderr
    assert len(refused.stderr.strip().splitlines()) == 1 and "--unsandboxed" in refused.stderr
    assert not list(paths.home().glob("replay-*")), "a refused replay starts nothing"
    ran = subprocess.run([*replay, "--unsandboxed"], capture_output=True, text=True, env=env)
    assert ran.returncode == 0, ran.stderr
    run_json = json.loads(next(paths.home().glob("replay-*/run.json")).read_text())
    assert run_json["provenance"]["sandbox"].startswith("NOT sandboxed")
    report = next(paths.home().glob("replay-*/report.md")).read_text()
    assert "UNSANDBOXED" in report
