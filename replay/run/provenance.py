"""Provenance: the interpreter, packages and hardware a run used, and the toolkit's own git state.

These fingerprints go into every run.json and into the result cache key, so a cached result
is reused only on the same software and hardware.
"""

from __future__ import annotations

import functools
import json
import os
import platform
import shutil
import subprocess
import sys
from dataclasses import asdict, dataclass
from importlib import metadata

from replay import paths


@dataclass(frozen=True)
class Hardware:
    """What the machine is: CPU model and count, GPUs."""

    cpu: str
    cpu_count: int
    gpus: tuple[str, ...]

    def describe(self) -> str:
        gpus = f", {len(self.gpus)}x {self.gpus[0]}" if self.gpus else ", no GPU"
        return f"{self.cpu} ({self.cpu_count} CPUs){gpus}"


@functools.cache
def hardware() -> Hardware:
    """Fingerprint of this machine (cached for the process)."""
    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    count = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    return Hardware(cpu=cpu, cpu_count=count, gpus=tuple(gpu_names()))


def gpu_names() -> list[str]:
    """Names of the NVIDIA GPUs ``nvidia-smi`` sees (empty without a driver)."""
    if not shutil.which("nvidia-smi"):
        return []
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=name", "--format=csv,noheader"], capture_output=True, text=True, timeout=20
        )
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [line.strip() for line in out.stdout.splitlines() if line.strip()] if out.returncode == 0 else []


def nvidia_driver() -> str | None:
    """The NVIDIA driver's version (``None`` without one)."""
    if not shutil.which("nvidia-smi"):
        return None
    try:
        out = subprocess.run(
            ["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
            capture_output=True,
            text=True,
            timeout=20,
        )
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = out.stdout.split()
    return lines[0] if out.returncode == 0 and lines else None


def _version(package: str) -> str | None:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return None


@functools.cache
def python_environment(python: str = sys.executable) -> dict[str, str | None]:
    """Interpreter and key package versions of the environment that runs records."""
    if python == sys.executable:
        return {
            "python": platform.python_version(),
            "torch": _version("torch"),
            "numpy": _version("numpy"),
            "executable": python,
        }
    probe = (
        "import json, platform; from importlib import metadata as m\n"
        "def v(p):\n try: return m.version(p)\n except Exception: return None\n"
        "print(json.dumps({'python': platform.python_version(), 'torch': v('torch'), 'numpy': v('numpy')}))"
    )
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, timeout=60, check=True)
    return {**json.loads(out.stdout), "executable": python}


def toolkit_git_state() -> dict[str, str | bool | None]:
    """The commit of this toolkit's checkout and whether it has uncommitted changes."""

    def git(*args: str) -> str | None:
        try:
            out = subprocess.run(
                ["git", "-C", str(paths.PROJECT_ROOT), *args], capture_output=True, text=True, timeout=20
            )
        except OSError:
            return None
        return out.stdout.strip() if out.returncode == 0 else None

    status = git("status", "--porcelain", "--untracked-files=no")
    return {"commit": git("rev-parse", "HEAD"), "dirty": bool(status) if status is not None else None}


def provenance() -> dict:
    """Everything a run.json records about where it ran."""
    return {
        "toolkit": toolkit_git_state(),
        "environment": python_environment(),
        "hardware": asdict(hardware()),
        "platform": platform.platform(),
    }
