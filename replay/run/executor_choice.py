"""Choosing an executor by name (``--executor local|slurm``): the one place that knows them all.

The CLI's options (``--executor``, ``--jobs``, ``--slurm KEY=VALUE``, ``--constraint``) and any
other caller that schedules runs (sweeps) build their executor here.
"""

from __future__ import annotations

from replay.errors import SpeedrunError
from replay.run.cluster_config import slurm_config
from replay.run.executor import Executor, LocalExecutor
from replay.run.sandbox import untrusted_sandbox
from replay.run.slurm import SlurmExecutor

EXECUTORS = ("local", "slurm")


def build_executor(
    name: str = "local",
    overrides: dict | None = None,
    *,
    jobs: int | None = None,
    unsandboxed: bool = False,
) -> Executor:
    """The executor called ``name`` (``--executor``), every run confined alike (replay/run/sandbox.py).
    ``overrides``: Slurm settings over the config file's ``[slurm]`` table (``--slurm KEY=VALUE``);
    ``jobs``: the local executor's limit on runs at once (``--jobs``)."""
    sandbox = untrusted_sandbox(allow_unsandboxed=unsandboxed)
    if name == "local":
        return LocalExecutor(sandbox=sandbox, jobs=jobs)
    if name == "slurm":
        return SlurmExecutor(slurm_config(overrides), sandbox)
    raise SpeedrunError(f"--executor must be one of {', '.join(EXECUTORS)}, not '{name}'")
