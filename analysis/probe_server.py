"""The probe worker kept warm across processes: a call that must measure a new candidate does not
pay torch's import again (about 1 s of the 1.5-2 s such a call took on a 2-core machine).

**What runs.** The first prober that needs a worker starts this module as a detached process
(``python -m analysis.probe_server KEY``): it holds one sandboxed worker (:class:`analysis.probe_process.Worker`,
started at once, so torch is imported while the caller's static layers run) and listens on a Unix
socket. Each connection carries one request, the worker's own protocol (``{"script", "probes"}`` in,
``{probe: {"value", "why"}}`` out, one JSON line each way), answered in order of arrival. It ends
after ``SPEEDRUN_PROBE_SERVER_IDLE_S`` seconds without a request (default 600), on a ``{"stop": true}``
request (``speedrun probes stop``, :func:`stop`), or when its worker cannot be started.
``SPEEDRUN_PROBE_SERVER=0`` keeps every process on a worker of its own (the tests do).

**One per configuration.** A server is named by a hash of what its answers depend on: the worker's
code, the interpreter, the sandbox's description and ``SPEEDRUN_HOME``. A changed worker or another
home gets another server; the old one ends when idle. A lock file held for the server's life keeps
it the only one of its name, and a server that finds the lock taken by a live server leaves.

**What a candidate can reach.** The socket lives in a folder only this user can enter
(``$TMPDIR/speedrun-UID``, mode 0700, checked before use: anything else and the prober falls back
to a worker of its own), outside the sandbox, whose network namespace also shuts out abstract
sockets. Inside, the worker measures each script in a forked child, then kills whatever that script
left running and empties its scratch folder, ``/tmp`` and ``/dev/shm``
(:func:`analysis.probe_worker.clear_leftovers`), so one candidate cannot reach the measurement of
the next: the warm worker's only state shared between scripts is the libraries already imported.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import os
import socket
import stat
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from analysis import probe_process
from analysis.probe_process import REQUEST_TIMEOUT_S, WORKER_VERSION, Worker, failed

IDLE_VARIABLE = "SPEEDRUN_PROBE_SERVER_IDLE_S"
DEFAULT_IDLE_S = 600.0
START_TIMEOUT_S = 5.0  # for a spawned server's socket to appear
MAX_SOCKET_PATH = 100  # bytes; a Unix socket's path holds at most 107
# a request waits behind the others queued at the server, then for a worker (re)started in it
ANSWER_TIMEOUT_S = 4 * REQUEST_TIMEOUT_S
# the server's own code and the worker process it holds: either changed, and a new server serves
SERVER_SOURCE = hashlib.sha256(Path(__file__).read_bytes() + Path(probe_process.__file__).read_bytes()).hexdigest()[:12]
PROJECT_ROOT = Path(__file__).resolve().parent.parent


def socket_folder() -> Path | None:
    """This user's folder of server sockets, created if missing; None where it is not this user's
    alone (another owner, other users allowed in, a link): then no server is used."""
    folder = Path(tempfile.gettempdir()) / f"speedrun-{os.getuid()}"
    with contextlib.suppress(FileExistsError):
        folder.mkdir(mode=0o700)
    info = folder.lstat()
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != os.getuid() or info.st_mode & 0o077:
        return None
    return folder


def server_key(sandbox) -> str:
    from replay.paths import home

    parts = (WORKER_VERSION, SERVER_SOURCE, sys.executable, sandbox.describe(), str(home().resolve()))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()[:16]


class NoServer(OSError):
    """A server launched for this configuration never took connections."""


class ServerClient:
    """A prober's way to the warm server: the same ``start`` / ``ask`` / ``send`` / ``receive`` / ``close`` as a
    :class:`~analysis.probe_process.Worker`."""

    def __init__(self, path: Path, key: str, sandbox=None):
        self.path = path
        self.key = key
        self.sandbox = sandbox
        self.launched = False
        self.sent: tuple[socket.socket | None, str, list[str]] | None = None  # the request sent ahead
        self.own: Worker | None = None  # where no server could start: a worker of this process's own

    @classmethod
    def for_sandbox(cls, sandbox) -> ServerClient | None:
        folder = socket_folder()
        if folder is None:
            return None
        key = server_key(sandbox)
        path = folder / f"{key}.sock"
        if len(os.fsencode(path)) > MAX_SOCKET_PATH:  # a long TMPDIR: no socket can be bound there
            return None
        return cls(path, key, sandbox)

    def start(self) -> None:
        """Start a server unless one answers or is starting, without waiting for it: its worker imports
        torch while the caller goes on."""
        if not self.launched and not _reachable(self.path):
            self._launch()

    def ask(self, text: str, probes: list[str]) -> dict[str, dict]:
        if self.own is not None:
            return self.own.ask(text, probes)
        request = {"script": text, "probes": probes}
        try:
            return self._request(request)
        except OSError:  # no server yet, or one that ended while this request waited: start one
            pass
        try:
            if not self.launched:
                self._launch()
            self.launched = False  # a later failure starts another
            self._wait()
            return self._request(request)
        except NoServer:  # none starts here: this process goes on with a worker of its own
            self.own = Worker(self.sandbox)
            return self.own.ask(text, probes)
        except (OSError, ValueError) as exc:
            return failed(probes, f"probe worker: the probe server: {exc}")

    def send(self, text: str, probes: list[str]) -> None:
        """The first half of :meth:`ask`, where a server answers now; else :meth:`receive` asks."""
        self.sent = (None, text, probes)
        if self.own is not None:
            return
        with contextlib.suppress(OSError):
            self.sent = (self._open({"script": text, "probes": probes}), text, probes)

    def receive(self, probes: list[str]) -> dict[str, dict]:
        conn, text, _ = self.sent
        self.sent = None
        if conn is not None:
            with conn, contextlib.suppress(OSError, ValueError):
                return _read_line(conn)
        return self.ask(text, probes)

    def close(self) -> None:
        """The server outlives this process and ends when idle; a worker of its own ends now."""
        if self.own is not None:
            self.own.close()

    def _open(self, request: dict) -> socket.socket:
        """A connection that carries ``request``, its answer still to read."""
        conn = _connect(self.path, ANSWER_TIMEOUT_S)
        try:
            _send_line(conn, request)
        except OSError:
            conn.close()
            raise
        return conn

    def _request(self, request: dict) -> dict:
        with self._open(request) as conn:
            return _read_line(conn)

    def _launch(self) -> None:
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(PROJECT_ROOT), os.environ.get("PYTHONPATH")]))
        subprocess.Popen(
            [sys.executable, "-m", "analysis.probe_server", self.key],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,  # not in the caller's process group: it outlives the caller
            cwd=PROJECT_ROOT,
            env=env,
        )
        self.launched = True

    def _wait(self) -> None:
        """Until a server of this name takes connections."""
        deadline = time.monotonic() + START_TIMEOUT_S
        while not _reachable(self.path):
            if time.monotonic() > deadline:
                raise NoServer(f"no probe server at {self.path} within {START_TIMEOUT_S:.0f} s")
            time.sleep(0.02)


def stop(client: ServerClient) -> bool:
    """Ask a running server to end; False where none answered."""
    try:
        client._request({"stop": True})
        return True
    except (OSError, ValueError):
        return False


def running_pid(client: ServerClient) -> int | None:
    """The pid of the server that answers at the client's socket, None where none does."""
    if not _reachable(client.path):
        return None
    try:
        return int(client.path.with_suffix(".lock").read_text())
    except (OSError, ValueError):
        return None


def idle_seconds() -> float:
    return float(os.environ.get(IDLE_VARIABLE, DEFAULT_IDLE_S))


def _hold_lock(lock_path: Path, sock_path: Path) -> int | None:
    """The lock of this server's name (a descriptor of its file, which then holds this server's pid),
    or None where a live server holds it. A server that is ending still holds it for a moment after
    its socket is gone, and removes its file: wait for it, and lock a file that is still in place."""
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            if os.fstat(fd).st_ino == os.stat(lock_path).st_ino:
                os.ftruncate(fd, 0)
                os.write(fd, str(os.getpid()).encode())
                return fd
        except (BlockingIOError, FileNotFoundError):
            if _reachable(sock_path):
                os.close(fd)
                return None
        os.close(fd)
        if time.monotonic() > deadline:
            return None
        time.sleep(0.05)


def serve(key: str, idle_s: float) -> None:
    from replay.run.sandbox import untrusted_sandbox

    folder = socket_folder()
    if folder is None:
        return
    sock_path, lock_path = folder / f"{key}.sock", folder / f"{key}.lock"
    lock = _hold_lock(lock_path, sock_path)
    if lock is None:
        return
    worker = Worker(untrusted_sandbox())
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock_path.unlink(missing_ok=True)  # a server that died without cleaning up
        listener.bind(str(sock_path))
        listener.listen(64)
        listener.settimeout(idle_s)
        worker.start()
        while True:
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                return
            with conn:
                if not _answer(conn, worker):
                    return
    finally:
        sock_path.unlink(missing_ok=True)
        listener.close()
        worker.close()
        lock_path.unlink(missing_ok=True)  # while still held: see _hold_lock
        os.close(lock)


def _answer(conn: socket.socket, worker: Worker) -> bool:
    """Answer one connection's request; False where it asks the server to end."""
    conn.settimeout(REQUEST_TIMEOUT_S)
    try:
        request = _read_line(conn)
    except (OSError, ValueError):  # a probe of whether the server answers, or a broken request
        return True
    if request.get("stop"):
        with contextlib.suppress(OSError):
            _send_line(conn, {})
        return False
    if not isinstance(request.get("script"), str) or not isinstance(request.get("probes"), list):
        return True
    answer = worker.ask(request["script"], request["probes"])
    with contextlib.suppress(OSError):  # a caller that gave up waiting
        _send_line(conn, answer)
    return True


def _connect(path: Path, timeout: float) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    conn.settimeout(timeout)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        raise
    return conn


def _reachable(path: Path) -> bool:
    """Whether a server takes connections at ``path``."""
    try:
        with _connect(path, timeout=1.0):
            return True
    except OSError:
        return False


def _send_line(conn: socket.socket, message: dict) -> None:
    conn.sendall(json.dumps(message).encode() + b"\n")


def _read_line(conn: socket.socket) -> dict:
    """One JSON line; a connection closed before it raises ConnectionResetError."""
    line = conn.makefile("rb").readline()
    if not line:
        raise ConnectionResetError("the connection closed without a message")
    return json.loads(line)


def main() -> None:
    serve(sys.argv[1], idle_seconds())


if __name__ == "__main__":
    main()
