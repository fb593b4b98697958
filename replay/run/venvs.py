"""Per-record Python environments, built from a record's pins and reused across records.

A record pins its interpreter and PyTorch (``[environment]`` in record.toml; the real records'
pins come from their logs, e.g. ``2.4.1+cu121`` or a nightly ``2.6.0.dev20241203+cu124``).
``speedrun env build TRACK/N`` makes a virtual environment for those pins under
``<home>/envs/<hash of the pins>`` (uv when it is installed, else ``venv`` + pip), so records
that share pins share one environment. Replay picks, per record: ``--python`` if given, else
the record's built environment, else the interpreter running the toolkit when its torch
matches the pin, else it stops and says how to build one.
"""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

from replay import paths
from replay.errors import SpeedrunError
from replay.records.schema import Environment
from replay.run.provenance import python_environment

MARKER = "speedrun-env.json"  # written last: an environment without it is unfinished
TORCH_INDEX = "https://download.pytorch.org/whl"
_LOCAL = re.compile(r"^(?P<public>[^+]+)(?:\+(?P<local>\S+))?$")


def pins(env: Environment) -> dict:
    """The pins that define an environment, in a stable form."""
    return {"python": env.python, "torch": env.torch, "packages": dict(sorted(env.packages.items()))}


def env_key(env: Environment) -> str:
    return hashlib.sha256(json.dumps(pins(env), sort_keys=True).encode()).hexdigest()[:16]


def env_dir(env: Environment) -> Path:
    return paths.home() / "envs" / env_key(env)


def env_python(folder: Path) -> Path:
    return folder / "bin" / "python"


def built_python(env: Environment) -> Path | None:
    """The interpreter of the record's finished environment, if one was built."""
    folder = env_dir(env)
    return env_python(folder) if (folder / MARKER).is_file() else None


def install_commands(env: Environment, python: Path, use_uv: bool) -> list[list[str]]:
    """The install commands for an environment's pins (exposed so they can be shown and tested)."""
    match = _LOCAL.match(env.torch)
    public, local = match.group("public"), match.group("local")
    torch_args = [f"torch=={public}"]
    if local and local.startswith("cu"):
        nightly = ".dev" in public
        torch_args += ["--index-url", f"{TORCH_INDEX}/{'nightly/' if nightly else ''}{local}"]
        if nightly:
            torch_args.insert(0, "--pre")
    installer = ["uv", "pip", "install", "--python", str(python)] if use_uv else [str(python), "-m", "pip", "install"]
    commands = [installer + torch_args]
    others = [f"{name}=={version}" for name, version in sorted(env.packages.items())] + ["numpy"]
    commands.append(installer + others)
    return commands


def build(env: Environment, echo=print) -> Path:
    """Build (or reuse) the environment for ``env``; return its interpreter."""
    done = built_python(env)
    if done:
        return done
    folder = env_dir(env)
    shutil.rmtree(folder, ignore_errors=True)  # an unfinished earlier attempt
    folder.parent.mkdir(parents=True, exist_ok=True)
    use_uv = shutil.which("uv") is not None
    if use_uv:
        create = ["uv", "venv", "--python", env.python, str(folder)]
    else:
        interpreter = shutil.which(f"python{env.python}")
        if interpreter is None:
            raise SpeedrunError(f"Python {env.python} is not installed (install it, or install uv, which fetches it)")
        create = [interpreter, "-m", "venv", str(folder)]
    for command in [create, *install_commands(env, env_python(folder), use_uv)]:
        echo("$ " + " ".join(command))
        if subprocess.run(command).returncode != 0:
            raise SpeedrunError(
                f"building the environment failed at: {' '.join(command)} (partial environment left in {folder})"
            )
    (folder / MARKER).write_text(json.dumps(pins(env), indent=2) + "\n")
    return env_python(folder)


def interpreter(name: str) -> str:
    """The executable ``--python`` names (a path, or a command on PATH); one clear error if none."""
    found = shutil.which(name)
    if found is None:
        raise SpeedrunError(f"--python {name}: no such interpreter (give a path or a command on PATH)")
    return found


def resolve_python(env: Environment, override: str | None, where: str) -> str:
    """The interpreter that runs a record: see the module docstring for the order."""
    if override:
        return interpreter(override)
    built = built_python(env)
    if built:
        return str(built)
    have = python_environment(sys.executable).get("torch") or "none"
    if _public(have) == _public(env.torch):
        return sys.executable
    raise SpeedrunError(
        f"{where} pins torch {env.torch} but this interpreter has torch {have}: "
        f"run `speedrun env build {where}` or pass --python PATH"
    )


def _public(version: str) -> str:
    """``2.4.1+cu121`` -> ``2.4.1``: the build tag does not change the library's behaviour."""
    return version.split("+", 1)[0]
