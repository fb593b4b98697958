"""The sandbox a run cannot undo: bubblewrap, an unprivileged uid, and nothing else to see.

The runs the replayer and the agent launch go through :meth:`Sandbox.wrap`, which returns a
``bwrap`` command line (Debian's ``bubblewrap``; ``.ci/run`` installs it). Inside:

* **Identity.** The code runs as uid/gid 65534 with every capability dropped (and an empty
  bounding set), in user, PID, network, IPC and UTS namespaces of its own, with no way to make
  another user namespace. Every mount is bubblewrap's and read-only except the scratch folder,
  so ``mount -o remount,rw``, ``umount`` and a raw ``mount(2)`` all fail: nothing is left to
  regain. Where the harness runs as a normal user, ``bwrap --unshare-user --uid 65534
  --disable-userns`` does this. Where it runs as root, bubblewrap's own user namespace would map
  the sandbox's uid to host root (which keeps root's reach over root's files and is exempt from
  process limits), so the child first enters a user namespace the harness maps itself (host root
  kept for bubblewrap's setup, uid 65534 mapped to host uid 65534, no further user namespaces
  allowed) and ``setpriv`` drops to 65534 (clearing every capability, the bounding set included,
  and setting no_new_privs) just before the run starts. Either way the run's code never runs as
  host root (only PID 1, which just waits, keeps bubblewrap's identity: see Processes).
* **Files.** A fresh root holding only: the run's scratch folder (read-write; its own code),
  the data files it may read (``readable``, read-only), a read-only interpreter (the
  interpreter's virtual environment and base prefix, found from the command's first word), the
  system's ``/usr`` and the few ``/etc`` files Python and torch need, ``/sys`` read-only, a new
  ``/proc``, a minimal ``/dev`` (plus ``/dev/nvidia*`` where GPUs exist) and a private ``/tmp`` and
  ``/dev/shm`` (tmpfs, size-capped, gone with the run). The records repository, the project
  checkout, ``runs/`` (other runs, the cache, the work repository) and the home folder are not
  there; :meth:`Sandbox.wrap` refuses a layout in which one of them would be (a readable path or
  interpreter prefix holding it).
* **Processes.** Nothing the run starts outlives it: PID 1 of the run's PID namespace is a
  ``timeout 0`` (no time limit: a parent that waits for the command, so the run's CPU time
  reaches the harness's ``wait4`` through bubblewrap), and when the command ends, or the harness
  kills bubblewrap, or the harness dies (``--die-with-parent``), PID 1 ends and the kernel kills
  every process left in the namespace. For a root harness PID 1 keeps bubblewrap's identity
  (host root inside the harness's user namespace, the setup capabilities only, which confer
  nothing outside it): a parent-death signal from a process of another uid would be dropped. The
  harness's processes are not in that namespace, so they cannot be signalled, reniced or pinned.
* **Process cap.** ``RLIMIT_NPROC`` (``max_processes``), set by ``prlimit`` inside the
  sandbox's user namespace. Since Linux 5.14 the kernel counts that limit per (user namespace,
  uid), so it counts exactly the run's processes and threads, not every process of the host
  uid; and because the run's uid is never host root (see Identity) the kernel enforces it (it
  exempts host root). A cgroup ``pids.max`` was not chosen: it needs a writable, delegated cgroup,
  which containers and normal users often lack. On kernels before 5.14 the limit counts all
  processes of the host uid (65534 for a root harness, the harness's own uid otherwise).
* **Environment.** An allow-list (:meth:`Sandbox.environment`): ``PATH``, ``HOME`` and
  ``TMPDIR`` (the private ``/tmp``), locale, thread settings, ``CUDA_VISIBLE_DEVICES``, NCCL
  settings, and the variables the harness sets for the run (``NANOGPT_*``, ``SPEEDRUN_*``,
  torchrun's ``RANK``/``WORLD_SIZE``/...), never a name that looks like a credential. The
  command starts with ``env -i``, so no process of the sandbox, bubblewrap included, ever holds
  the harness's environment (a ``/proc/PID/environ`` the run can read shows nothing more).
  ``/etc/hosts`` is the sandbox's own: its host name is loopback, where torchrun meets its workers.
* **Memory.** ``RLIMIT_AS`` on machines without GPUs (CUDA reserves far more virtual memory than
  it uses, so there the cap is left off). Time limits and the log-size cap stay with the executor.

Where bubblewrap is missing or cannot start a sandbox (probed once per process), :meth:`wrap`
raises :class:`SandboxUnavailable`, unless the sandbox was built with ``allow_unsandboxed``
(``--unsandboxed`` on the command line, or ``SPEEDRUN_UNSANDBOXED=1``): then commands run as they
are and :meth:`describe`, which callers store in run.json (and replay reports repeat), says
``NOT sandboxed``.
"""

from __future__ import annotations

import atexit
import ctypes
import functools
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path

from replay import paths
from replay.errors import SpeedrunError

UNSANDBOXED_VARIABLE = "SPEEDRUN_UNSANDBOXED"  # "1": as --unsandboxed (machines without bubblewrap)
SANDBOX_UID = 65534  # "nobody": the uid (and gid) a sandboxed run has, inside and, for a root harness, outside
HOSTNAME = "sandbox"
DEFAULT_MAX_PROCESSES = 4096  # processes and threads of one run (torchrun x 8 GPUs stays far below)
_CLONE_NEWUSER = 0x10000000
_PR_SET_PDEATHSIG = 1

# What a run sees of the system besides its own folders: read-only, never the project or its state.
_SYSTEM_DIRS = ("/usr",)
_MERGED_DIRS = ("/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")  # symlinks into /usr on merged systems
_ETC_FILES = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "passwd",
    "group",
    "nsswitch.conf",
    "localtime",
    "alternatives",
    "mime.types",
)

# The environment a run gets: fixed values, then allowed names from the host and from the run.
_HOST_NAMES = frozenset(
    {
        "CUDA_VISIBLE_DEVICES",
        "CUDA_DEVICE_ORDER",
        "OMP_NUM_THREADS",
        "MKL_NUM_THREADS",
        "OPENBLAS_NUM_THREADS",
        "NUMEXPR_NUM_THREADS",
        "VECLIB_MAXIMUM_THREADS",
        "TZ",
        "LD_LIBRARY_PATH",  # where GPU images keep the driver's libraries (its folders are shown read-only)
    }
)
_HOST_PREFIXES = ("NCCL_",)
_RUN_NAMES = _HOST_NAMES | {
    "RANK",
    "WORLD_SIZE",
    "LOCAL_RANK",
    "LOCAL_WORLD_SIZE",
    "GROUP_RANK",
    "MASTER_ADDR",
    "MASTER_PORT",
    "PYTHONHASHSEED",
}
_RUN_PREFIXES = ("NANOGPT_", "SPEEDRUN_", "NCCL_")
_CREDENTIAL = re.compile(r"KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH|COOKIE", re.IGNORECASE)


class SandboxUnavailable(SpeedrunError):
    """This machine cannot confine a run (bubblewrap missing or refused) and no one allowed running without."""


class SandboxLayoutError(SpeedrunError):
    """A run's visible paths would expose something the sandbox must hide."""


def _as_root() -> bool:
    return os.getuid() == 0


@functools.cache
def _tools() -> dict[str, str] | str:
    """Absolute paths of the programs a sandbox needs, or what is missing."""
    names = ["env", "bwrap", "timeout", "prlimit"] + (["setpriv"] if _as_root() else [])
    found = {name: shutil.which(name) for name in names}
    missing = [name for name, where in found.items() if where is None]
    if missing:
        hint = "bubblewrap" if "bwrap" in missing else "util-linux"
        return f"{', '.join(missing)} not found (Debian: apt-get install {hint})"
    return {name: str(Path(where).resolve()) for name, where in found.items()}


@functools.cache
def sandbox_unavailable() -> str | None:
    """``None`` if bubblewrap can confine a run on this machine, else why not (probed once)."""
    if not sys.platform.startswith("linux"):
        return "bubblewrap sandboxes need Linux"
    tools = _tools()
    if isinstance(tools, str):
        return tools
    probe = Sandbox()
    with tempfile.TemporaryDirectory(prefix="speedrun-sandbox-probe-") as folder:
        try:
            command = probe._confine([tools["env"], "true"], Path(folder), (), {})
            result = subprocess.run(
                command,
                cwd=folder,
                capture_output=True,
                text=True,
                timeout=60,
                preexec_fn=functools.partial(probe.limit_resources, 0),
            )
        except (OSError, subprocess.SubprocessError, SpeedrunError) as exc:
            if _as_root() and "preexec_fn" in str(exc):
                exc = "a root harness cannot make the user namespace it runs sandboxes in (user.max_user_namespaces?)"
            return f"bubblewrap cannot start a sandbox here: {exc}"
    if result.returncode != 0:
        lines = (result.stderr or "").strip().splitlines()
        return f"bubblewrap cannot start a sandbox here: {lines[-1] if lines else f'exit code {result.returncode}'}"
    return None


@functools.cache
def _etc_hosts() -> Path:
    """An /etc/hosts naming the sandbox's host name too, so torchrun's rendezvous (which connects
    to the host name) reaches loopback, the only network there is; made once per process."""
    folder = Path(tempfile.mkdtemp(prefix="speedrun-sandbox-etc-"))
    folder.chmod(0o755)
    hosts = folder / "hosts"
    hosts.write_text(f"127.0.0.1\tlocalhost {HOSTNAME}\n::1\tlocalhost ip6-localhost ip6-loopback\n")
    hosts.chmod(0o644)
    atexit.register(shutil.rmtree, folder, ignore_errors=True)
    return hosts


def default_memory_bytes() -> int | None:
    """Three quarters of physical memory (None where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.75)
    except (ValueError, OSError):
        return None


def default_tmp_bytes() -> int:
    """Size of each of a run's private /tmp and /dev/shm: a quarter of memory, at most 4 GiB."""
    try:
        memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES")
    except (ValueError, OSError):
        return 2**30
    return min(4 * 2**30, memory // 4)


def hidden_paths() -> tuple[Path, ...]:
    """What no sandboxed run may see: records, the toolkit's checkout, runtime state, the home folder."""
    candidates = (paths.records_repo(), paths.PROJECT_ROOT, paths.home(), paths.cache_dir(), Path.home())
    return tuple(dict.fromkeys(p.resolve() for p in candidates))


def interpreter_paths(executable: str) -> tuple[Path, ...]:
    """The folders an interpreter needs: its virtual environment and the base prefix behind it."""
    found = shutil.which(executable) if os.sep not in executable else executable
    exe = Path(os.path.abspath(found or executable))
    folders = []
    venv = exe.parent.parent
    config = venv / "pyvenv.cfg"
    if config.is_file():
        folders.append(venv)
        for line in config.read_text(errors="replace").splitlines():
            key, _, value = line.partition("=")
            if key.strip() == "home" and value.strip():
                folders.append(Path(value.strip()).resolve().parent)
    folders.append(exe.resolve().parent.parent)
    return tuple(dict.fromkeys(f for f in folders if f != Path("/")))


class _Layout:
    """bwrap's mount arguments, in order: the missing parents of each mount point made first
    (traversable: bubblewrap would make them 0700), never a folder twice."""

    def __init__(self):
        self.args: list[str] = []
        self.binds: list[tuple[Path, Path, bool]] = []  # (mount point, host source, read-only)
        self.made: set[Path] = set()  # folders, tmpfs and links made inside (empty but for what is mounted on them)

    def _exists_inside(self, path: Path) -> bool:
        if path in self.made:
            return True
        return any(
            path == dest or (dest in path.parents and (source / path.relative_to(dest)).exists())
            for dest, source, _ in self.binds
        )

    def _shown_readonly(self, path: Path) -> bool:
        """Already visible read-only, with the same content (a bind of a folder above it, by identity)."""
        for dest, source, readonly in reversed(self.binds):
            if path == dest or dest in path.parents:
                return readonly and source == dest
        return False

    def bind(self, source: Path, dest: Path | None = None, *, writable: bool = False, device: bool = False) -> None:
        dest = dest or source
        if not writable and not device and source == dest and self._shown_readonly(dest):
            return
        for parent in reversed(dest.parents):
            if parent != Path("/") and not self._exists_inside(parent):
                self.args += ["--perms", "0755", "--dir", str(parent)]
                self.made.add(parent)
        flag = "--dev-bind" if device else "--bind" if writable else "--ro-bind"
        self.args += [flag, str(source), str(dest)]
        self.binds.append((dest, source, not writable and not device))

    def special(self, *args: str, at: str) -> None:
        self.args += list(args)
        self.made.add(Path(at))


@dataclass(frozen=True)
class Sandbox:
    """How to confine one run (see the module docstring). Sizes in bytes; ``None`` switches a cap off."""

    memory_bytes: int | None = None  # RLIMIT_AS on machines without GPUs
    max_processes: int | None = DEFAULT_MAX_PROCESSES  # RLIMIT_NPROC inside the run's user namespace
    tmp_bytes: int | None = None  # size of each private tmpfs (/tmp, /dev/shm); None: default_tmp_bytes()
    allow_unsandboxed: bool = False  # run commands as they are (--unsandboxed), and say so

    def unavailable(self) -> str | None:
        """Why this sandbox cannot confine a run here (``None``: it can, or it was told not to)."""
        return None if self.allow_unsandboxed else sandbox_unavailable()

    def check(self) -> None:
        """Raise :class:`SandboxUnavailable` (one line) if runs would be refused here."""
        missing = self.unavailable()
        if missing:
            raise SandboxUnavailable(
                f"cannot sandbox the runs here: {missing}; or pass --unsandboxed to run them without confinement"
            )

    def describe(self, gpus: int = 0) -> str:
        """One line for run.json: what confinement a run actually gets on this machine."""
        if self.allow_unsandboxed:
            parts = ["NOT sandboxed (--unsandboxed): the run sees this machine's files, network, environment"]
        elif missing := sandbox_unavailable():
            parts = [f"refused: no sandbox here ({missing})"]
        else:
            host_uid = SANDBOX_UID if _as_root() else os.getuid()
            parts = [
                f"bubblewrap: uid {SANDBOX_UID} (host uid {host_uid}) without capabilities",
                "own PID, network, IPC namespaces",
                "sees only scratch, its data and a read-only interpreter",
                "environment allow-list",
                f"at most {self.max_processes} processes" if self.max_processes else "no process cap",
                f"private /tmp and /dev/shm of {self._tmp_bytes() / 2**30:.1f} GiB",
            ]
        if self.memory_bytes and not gpus:
            parts.append(f"RLIMIT_AS {self.memory_bytes / 2**30:.1f} GiB")
        else:
            parts.append("no memory cap" + (" (GPUs present)" if gpus else ""))
        return "; ".join(parts)

    def environment(self, run_env: Mapping[str, str] | None = None, interpreter: str | None = None) -> dict[str, str]:
        """The whole environment of a sandboxed run: fixed values, allowed host settings, the run's own
        variables (``run_env``: what the harness sets for this run), nothing that looks like a credential."""
        bin_dirs = [str(Path(interpreter).parent)] if interpreter and os.sep in interpreter else []
        env = {
            "PATH": ":".join(dict.fromkeys([*bin_dirs, "/usr/local/bin", "/usr/bin", "/bin"])),
            "HOME": "/tmp",
            "TMPDIR": "/tmp",
            "LANG": "C.UTF-8",
            "LC_ALL": "C.UTF-8",
            "USER": "nobody",
            "LOGNAME": "nobody",
            "PYTHONUNBUFFERED": "1",
        }
        for name, value in os.environ.items():
            if name in _HOST_NAMES or name.startswith(_HOST_PREFIXES):
                env[name] = value
        for name, value in (run_env or {}).items():
            if name in _RUN_NAMES or name.startswith(_RUN_PREFIXES):
                env[name] = value
        return {k: v for k, v in env.items() if not _CREDENTIAL.search(k) and "=" not in k}

    def wrap(
        self,
        command: list[str],
        workdir: Path,
        readable: Iterable[Path | str] = (),
        env: Mapping[str, str] | None = None,
    ) -> list[str]:
        """``command`` confined: ``workdir`` its only writable folder, ``readable`` (files or folders)
        the only data it may read, ``env`` the variables the harness sets for the run (filtered by
        :meth:`environment`). The child must call :meth:`limit_resources` before exec (preexec_fn)."""
        if self.allow_unsandboxed:
            return list(command)
        self.check()
        return self._confine(list(command), Path(workdir), tuple(readable), env or {})

    def _confine(self, command: list[str], workdir: Path, readable: tuple, env: Mapping[str, str]) -> list[str]:
        tools = _tools()
        if isinstance(tools, str):
            raise SandboxUnavailable(f"cannot sandbox the runs here: {tools}")
        root = _as_root()
        workdir = workdir.resolve()
        if command and os.sep not in command[0] and shutil.which(command[0]):
            command = [shutil.which(command[0]), *command[1:]]  # the PATH inside is not the harness's
        variables = self.environment(env, command[0] if command else None)
        args = [tools["env"], "-i", *(f"{k}={v}" for k, v in variables.items()), tools["bwrap"]]
        args += ["--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--hostname", HOSTNAME]
        # --as-pid-1: no init of bubblewrap's own, which would exit without being waited for and
        # take the run's CPU time with it (PID 1 is the timeout below)
        args += ["--as-pid-1", "--die-with-parent", "--new-session", "--cap-drop", "ALL"]
        if root:  # the user namespace is the harness's (limit_resources); setpriv drops to 65534 below,
            # and with it these capabilities (kept until then to enter the scratch folder and switch uid)
            for cap in ("CAP_SETUID", "CAP_SETGID", "CAP_SETPCAP", "CAP_DAC_OVERRIDE"):
                args += ["--cap-add", cap]
        else:
            uid = str(SANDBOX_UID)
            args += ["--unshare-user", "--uid", uid, "--gid", uid, "--disable-userns"]

        layout = _Layout()
        for folder in _SYSTEM_DIRS:
            layout.bind(Path(folder))
        for folder in _MERGED_DIRS:
            if os.path.islink(folder):
                layout.special("--symlink", os.readlink(folder), folder, at=folder)
            elif os.path.isdir(folder):
                layout.bind(Path(folder))
        for name in _ETC_FILES:
            if os.path.exists(f"/etc/{name}"):
                layout.bind(Path(f"/etc/{name}").resolve(), Path(f"/etc/{name}"))
        layout.bind(_etc_hosts(), Path("/etc/hosts"))
        layout.bind(Path("/sys"))
        layout.special("--proc", "/proc", at="/proc")
        layout.special("--dev", "/dev", at="/dev")
        for device in sorted(Path("/dev").glob("nvidia*")):
            layout.bind(device, device, device=True)
        size = str(self._tmp_bytes())
        layout.special("--perms", "1777", "--size", size, "--tmpfs", "/dev/shm", at="/dev/shm")
        layout.special("--perms", "1777", "--size", size, "--tmpfs", "/tmp", at="/tmp")

        shown: list[tuple[Path, Path]] = []  # (source, mount point), read-only
        for prefix in interpreter_paths(command[0]) if command else ():
            shown.append((prefix.resolve(), prefix.resolve()))
            shown.append((prefix.resolve(), Path(os.path.abspath(prefix))))
        for item in readable:
            given = Path(os.path.abspath(item))
            if given.exists():
                shown.append((given.resolve(), given.resolve()))
                shown.append((given.resolve(), given))
        for folder in os.environ.get("LD_LIBRARY_PATH", "").split(":"):
            if os.path.isabs(folder) and os.path.isdir(folder) and not _exposes_hidden(Path(folder).resolve()):
                shown.append((Path(folder).resolve(), Path(folder).resolve()))
        _refuse_hidden([s for s, _ in shown] + [Path(f) for f in _SYSTEM_DIRS] + [workdir])
        for source, dest in sorted(dict.fromkeys(shown), key=lambda pair: (len(pair[1].parts), str(pair[1]))):
            layout.bind(source, dest)
        layout.bind(workdir, workdir, writable=True)
        args += layout.args
        args += ["--chdir", str(workdir), "--"]

        # PID 1: ``timeout 0`` (no limit) waits for the run, so bubblewrap, which waits for it, gets
        # the CPU time of everything below; it keeps bubblewrap's identity, so the death signal
        # --die-with-parent arms is allowed to reach it (the kernel drops a signal from a sender of
        # another uid), and when it dies the kernel kills every process left in the namespace.
        args += [tools["timeout"], "0"]
        if root:
            uid = str(SANDBOX_UID)
            args += [tools["setpriv"], "--reuid", uid, "--regid", uid, "--clear-groups"]
            args += ["--inh-caps", "-all", "--bounding-set", "-all", "--no-new-privs", "--"]
            _hand_over(workdir)
        if self.max_processes:
            args += [tools["prlimit"], f"--nproc={self.max_processes}:{self.max_processes}", "--"]
        return args + command

    def returncode(self, code: int | None) -> int | None:
        """A wrapped command's exit status as ``subprocess`` reports an unwrapped one: bubblewrap exits
        with 128 + N when the command was killed by signal N; that becomes -N (a command that itself
        exits with 128 + N looks the same)."""
        if self.allow_unsandboxed or code is None or not 128 < code < 128 + signal.NSIG:
            return code
        return -(code - 128)

    def _tmp_bytes(self) -> int:
        return self.tmp_bytes or default_tmp_bytes()

    def limit_resources(self, gpus: int) -> None:
        """In the child, before exec (``preexec_fn``) of a command :meth:`wrap` returned: for a root
        harness, enter the user namespace the sandbox runs in; cap the address space (CPU-only machines)."""
        if not self.allow_unsandboxed and _as_root():
            _enter_user_namespace()
        if self.memory_bytes and not gpus:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))
        if sys.platform.startswith("linux"):  # a change of credentials clears the parent-death signal
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _exposes_hidden(shown: Path) -> Path | None:
    """What a run must not see that showing ``shown`` would show (None: nothing)."""
    return next((h for h in hidden_paths() if shown == h or shown in h.parents), None)


def _refuse_hidden(visible: list[Path]) -> None:
    """Raise if a path shown to a run is, or holds, something it must not see."""
    for shown in visible:
        hidden = _exposes_hidden(shown)
        if hidden:
            raise SandboxLayoutError(
                f"a sandboxed run would see {hidden} through {shown}; move the interpreter, data or "
                "scratch folder out of it"
            )


def _hand_over(workdir: Path) -> None:
    """Give the scratch folder to the sandbox's uid (a root harness's runs are not root)."""
    for folder, dirs, files in os.walk(workdir):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.chown(name, SANDBOX_UID, SANDBOX_UID, follow_symlinks=False)


def _enter_user_namespace() -> None:
    """In the child of a root harness: move into a new user namespace in which host root keeps its
    identity (bubblewrap sets the sandbox up as root there) and uid/gid 65534 are host 65534 (the
    sandbox's), and in which no further user namespace can be made. A helper forked first writes
    the maps, which needs a process outside the namespace."""
    libc = ctypes.CDLL(None, use_errno=True)
    me = os.getpid()
    go_r, go_w = os.pipe()
    done_r, done_w = os.pipe()
    helper = os.fork()
    if helper == 0:  # pragma: no cover - runs in a forked child
        try:
            os.close(go_w)
            os.close(done_r)
            if os.read(go_r, 1) == b"1":
                mapping = f"0 0 1\n{SANDBOX_UID} {SANDBOX_UID} 1\n"
                for name in ("uid_map", "gid_map"):
                    with open(f"/proc/{me}/{name}", "w") as f:
                        f.write(mapping)
                os.write(done_w, b"1")
        finally:
            os._exit(0)
    os.close(go_r)
    os.close(done_w)
    unshared = libc.unshare(_CLONE_NEWUSER) == 0
    error = ctypes.get_errno()
    os.write(go_w, b"1" if unshared else b"0")
    os.close(go_w)
    mapped = os.read(done_r, 1) == b"1"
    os.close(done_r)
    os.waitpid(helper, 0)
    if not unshared:
        raise OSError(error, f"unshare(CLONE_NEWUSER): {os.strerror(error)}")
    if not mapped:
        raise OSError("could not map the sandbox's user namespace")
    with open("/proc/sys/user/max_user_namespaces", "w") as f:
        f.write("0")


def untrusted_sandbox(allow_unsandboxed: bool = False) -> Sandbox:
    """The confinement of the runs the replayer and the agent launch; none with ``allow_unsandboxed``
    (``--unsandboxed``) or ``SPEEDRUN_UNSANDBOXED=1`` in the harness's environment."""
    allow = allow_unsandboxed or os.environ.get(UNSANDBOXED_VARIABLE) == "1"
    return Sandbox(memory_bytes=default_memory_bytes(), allow_unsandboxed=allow)
