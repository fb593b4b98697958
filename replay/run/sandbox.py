"""A sandbox for untrusted code (agent branches): no network, read-only project, limits.

Where the machine allows unprivileged user namespaces, a run is wrapped in
``unshare --user --map-root-user --net --mount``: the child sees no network interface but
loopback, and the records repository, the toolkit's checkout and the runtime home are
bind-mounted read-only, except the run's scratch folder (its working directory). The
address space is capped with ``RLIMIT_AS`` on machines without GPUs (CUDA reserves far more
virtual memory than it uses, so there the cap is left off). Time limits stay with the executor.

Where ``unshare`` is missing or refused (some containers), the run goes ahead without
isolation and :meth:`Sandbox.describe` says so; callers write that note into their run.json.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

from replay import paths


@functools.cache
def namespaces_available() -> str | None:
    """``None`` if ``unshare`` can isolate network and mounts here, else why not."""
    binary = shutil.which("unshare")
    if binary is None:
        return "no unshare binary"
    try:
        probe = subprocess.run([binary, "-rmn", "true"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"unshare failed: {exc}"
    return None if probe.returncode == 0 else f"unshare refused: {probe.stderr.strip() or probe.returncode}"


def default_readonly() -> tuple[Path, ...]:
    """What a sandboxed run may read but not write: records, the toolkit, runtime state, data."""
    return tuple(
        dict.fromkeys(p.resolve() for p in (paths.records_repo(), paths.PROJECT_ROOT, paths.home(), paths.data_dir()))
    )


def default_memory_bytes() -> int | None:
    """Three quarters of physical memory (None where it cannot be read)."""
    try:
        return int(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") * 0.75)
    except (ValueError, OSError):
        return None


@dataclass(frozen=True)
class Sandbox:
    """How to confine one run. ``readonly`` paths that do not exist are skipped."""

    readonly: tuple[Path, ...] = ()
    memory_bytes: int | None = None
    no_network: bool = True

    def isolation(self) -> str | None:
        """Why namespaces cannot be used (None: they can)."""
        return namespaces_available() if self.no_network or self.readonly else None

    def describe(self, gpus: int = 0) -> str:
        """One line for run.json: what confinement a run actually gets on this machine."""
        parts = []
        missing = self.isolation()
        if missing:
            parts.append(f"NOT isolated ({missing}): network and files are reachable")
        else:
            parts.append("unshare: no network" if self.no_network else "unshare")
            if self.readonly:
                parts.append("read-only " + ", ".join(str(p) for p in self.readonly if p.exists()))
        if self.memory_bytes and not gpus:
            parts.append(f"RLIMIT_AS {self.memory_bytes / 2**30:.1f} GiB")
        else:
            parts.append("no memory cap" + (" (GPUs present)" if gpus else ""))
        return "; ".join(parts)

    def wrap(self, command: list[str], workdir: Path) -> list[str]:
        """``command`` wrapped to run confined, with ``workdir`` the only writable project path."""
        if self.isolation():
            return command
        existing = [p.resolve() for p in self.readonly if p.exists()]
        # Only the outermost paths: a bind of a parent would hide binds made inside it.
        readonly = [p for p in existing if not any(q != p and q in p.parents for q in existing)]
        workdir = Path(workdir).resolve()
        # Bind every read-only path onto itself, then the scratch folder (a submount that
        # stays writable), then flip the outer binds to read-only.
        script = [f"mount --bind {shlex.quote(str(p))} {shlex.quote(str(p))}" for p in readonly]
        script.append(f"mount --bind {shlex.quote(str(workdir))} {shlex.quote(str(workdir))}")
        script += [f"mount -o remount,bind,ro {shlex.quote(str(p))}" for p in readonly]
        script.append('cd "$PWD" && exec "$@"')
        flags = "-rm" + ("n" if self.no_network else "")
        return ["unshare", flags, "sh", "-c", " && ".join(script), "sandbox", *command]

    def limit_resources(self, gpus: int) -> None:
        """In the child, before exec: cap the address space (CPU-only machines)."""
        if self.memory_bytes and not gpus:
            import resource

            resource.setrlimit(resource.RLIMIT_AS, (self.memory_bytes, self.memory_bytes))


def untrusted_sandbox() -> Sandbox:
    """The default confinement of agent branches."""
    return Sandbox(readonly=default_readonly(), memory_bytes=default_memory_bytes())
