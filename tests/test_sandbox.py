"""Candidate code runs confined where the machine allows: no network, the records repository and
runtime home read-only while its scratch folder stays writable, and an address-space cap; where
namespaces are unavailable the sandbox says so instead of pretending."""

import sys
import textwrap

import pytest

from replay.run.executor import LaunchSpec, LocalExecutor
from replay.run.sandbox import Sandbox, namespaces_available

PROBE = textwrap.dedent("""
    import os, socket, sys
    def attempt(f):
        try:
            f()
            return "yes"
        except OSError as exc:
            return "no"
    def connect():
        s = socket.socket(); s.settimeout(2); s.connect(("1.1.1.1", 80))
    def write(path):
        return lambda: open(path, "w").write("x")
    print("net", attempt(connect))
    print("scratch", attempt(write("out.txt")))
    print("protected", attempt(write(sys.argv[1])))
    try:
        bytearray(int(sys.argv[2]))
        print("alloc yes")
    except MemoryError:
        print("alloc no")
""")


@pytest.mark.skipif(namespaces_available() is not None, reason="no user namespaces on this machine")
def test_sandbox_blocks_network_and_writes_outside_scratch(tmp_path):
    protected = tmp_path / "records"
    protected.mkdir()
    scratch = protected / "run" / "scratch"  # writable although inside a read-only folder
    scratch.mkdir(parents=True)
    (scratch / "probe.py").write_text(PROBE)
    (protected / "objects").mkdir()
    # nested read-only paths (records.git inside the project, as by default) must not hide each other
    sandbox = Sandbox(readonly=(protected / "objects", protected), memory_bytes=2 * 2**30)
    # arguments: a file in the protected folder, and an allocation beyond the cap
    spec = LaunchSpec(
        workdir=scratch,
        entry="probe.py",
        python=sys.executable,
        time_limit_s=60,
        args=(str(protected / "x.txt"), str(3 * 2**30)),
    )
    LocalExecutor(gpus=0, sandbox=sandbox).run(spec, tmp_path / "log.txt")
    log = (tmp_path / "log.txt").read_text()
    assert "net no" in log and "scratch yes" in log and "protected no" in log and "alloc no" in log, log
    assert (scratch / "out.txt").exists() and not (protected / "x.txt").exists()
    assert "no network" in sandbox.describe() and "RLIMIT_AS 2.0 GiB" in sandbox.describe()


def test_without_namespaces_the_command_is_unchanged_and_the_note_says_so(monkeypatch):
    import replay.run.sandbox as sandbox_module

    monkeypatch.setattr(sandbox_module, "namespaces_available", lambda: "no unshare binary")
    sandbox = Sandbox(readonly=(sandbox_module.paths.PROJECT_ROOT,))
    assert sandbox.wrap(["python", "x.py"], sandbox_module.paths.PROJECT_ROOT) == ["python", "x.py"]
    assert sandbox.describe().startswith("NOT isolated (no unshare binary)")
    assert "GPUs present" in Sandbox(memory_bytes=2**30).describe(gpus=1)
