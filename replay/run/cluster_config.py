"""Cluster settings: the ``[slurm]`` table of a config file, overridable on the command line.

The file is the project's ``speedrun.toml`` (beside records.git), else the user's
``$XDG_CONFIG_HOME/speedrun/config.toml`` (``~/.config/...``); ``SPEEDRUN_CONFIG`` names another.
The first that exists is read, whole (files are not merged). Each key can be overridden with
``--slurm KEY=VALUE`` (and ``--constraint``). Nothing cluster-specific lives in code: a key not set
is not passed to sbatch, so the cluster's own defaults apply.

```toml
[slurm]
partition = "gpu"
account = "my-project"
qos = "normal"
time = "01:00:00"        # per job; default: the run's time limit + evaluation, rounded up
gpus_per_node = 8        # GPUs a job may ask for (a run asks for its record's nproc, at most this); 0: CPU jobs
cpus_per_task = 32
mem = "200G"
constraint = "h100"      # identical nodes for every run of a replay
setup = ["module load cuda/12.4", "source /shared/venv/bin/activate"]
```
"""

from __future__ import annotations

import os
import tomllib
from dataclasses import asdict, dataclass, fields
from pathlib import Path

from replay import paths
from replay.errors import SpeedrunError

CONFIG_VARIABLE = "SPEEDRUN_CONFIG"
PROJECT_CONFIG = "speedrun.toml"


@dataclass(frozen=True)
class SlurmConfig:
    """The ``[slurm]`` table: what every job asks sbatch for (``None``: the cluster's default)."""

    partition: str | None = None
    account: str | None = None
    qos: str | None = None
    time: int | None = None  # minutes
    gpus_per_node: int = 0
    cpus_per_task: int | None = None
    mem: str | None = None
    constraint: str | None = None
    setup: tuple[str, ...] = ()

    def to_json(self) -> dict:
        return asdict(self)


KEYS = tuple(f.name for f in fields(SlurmConfig))


def config_files() -> list[Path]:
    """Where the config file is looked for, in order."""
    if os.environ.get(CONFIG_VARIABLE):
        return [Path(os.environ[CONFIG_VARIABLE])]
    xdg = Path(os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config")
    return [paths.PROJECT_ROOT / PROJECT_CONFIG, xdg / "speedrun" / "config.toml"]


def minutes(value, where: str) -> int:
    """Minutes from ``90``, ``"90"``, ``"MM:SS"``, ``"HH:MM:SS"`` or ``"D-HH:MM:SS"`` (Slurm's forms), rounded up."""
    text = str(value).strip()
    try:
        days, _, clock = text.rpartition("-")
        parts = [int(p) for p in clock.split(":")]
        if len(parts) > 3 or any(p < 0 for p in parts) or (days and len(parts) != 3):
            raise ValueError
        if len(parts) == 1:
            total = parts[0]
        elif len(parts) == 2:
            total = parts[0] + (parts[1] > 0)
        else:
            total = parts[0] * 60 + parts[1] + (parts[2] > 0)
        total += int(days or 0) * 24 * 60
    except ValueError:
        raise SpeedrunError(f"{where}: time must be minutes or [D-]HH:MM:SS, not '{value}'") from None
    if total < 1:
        raise SpeedrunError(f"{where}: time must be at least one minute, not '{value}'")
    return total


def _value(key: str, value, where: str):
    """One setting, checked and converted; a bad one is a one-line error naming it."""
    if key == "time":
        return minutes(value, where)
    if key in ("gpus_per_node", "cpus_per_task"):
        try:
            number = int(value)
            if isinstance(value, bool) or number < 0 or str(number) != str(value).strip():
                raise ValueError
        except (TypeError, ValueError):
            raise SpeedrunError(f"{where}: {key} must be a whole number of at least 0, not '{value}'") from None
        return number
    if key == "setup":
        lines = [value] if isinstance(value, str) else value
        if not isinstance(lines, list) or not all(isinstance(line, str) for line in lines):
            raise SpeedrunError(f"{where}: setup must be a list of shell lines, not {value!r}")
        return tuple(lines)
    if not isinstance(value, str | int) or isinstance(value, bool) or not str(value).strip():
        raise SpeedrunError(f"{where}: {key} must be a non-empty string, not {value!r}")
    return str(value)


def _checked(table: dict, where: str) -> dict:
    unknown = sorted(set(table) - set(KEYS))
    if unknown:
        raise SpeedrunError(f"{where}: unknown key '{unknown[0]}' (known: {', '.join(KEYS)})")
    return {key: _value(key, value, where) for key, value in table.items()}


def read_config_file() -> tuple[dict, Path | None]:
    """The ``[slurm]`` table of the first config file found (checked), and that file."""
    for path in config_files():
        if not path.is_file():
            if os.environ.get(CONFIG_VARIABLE):
                raise SpeedrunError(f"{CONFIG_VARIABLE}={path}: no such file")
            continue
        try:
            data = tomllib.loads(path.read_text())
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            raise SpeedrunError(f"{path} is not a readable TOML file: {exc}") from None
        table = data.get("slurm", {})
        if not isinstance(table, dict):
            raise SpeedrunError(f"{path}: 'slurm' must be a table ([slurm])")
        return _checked(table, f"{path} [slurm]"), path
    return {}, None


def parse_overrides(items: list[str]) -> dict[str, str]:
    """``--slurm KEY=VALUE`` options as a dict (checked when the config is built)."""
    overrides: dict[str, str] = {}
    for item in items:
        key, sep, value = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep or not key:
            raise SpeedrunError(f"--slurm expects KEY=VALUE (keys: {', '.join(KEYS)}), not '{item}'")
        overrides[key] = value
    return overrides


def slurm_config(overrides: dict | None = None) -> SlurmConfig:
    """The config file's ``[slurm]`` table with ``overrides`` (from the command line) on top."""
    table, _ = read_config_file()
    table.update(_checked(overrides or {}, "--slurm"))
    return SlurmConfig(**table)
