"""Parameters several commands share: the track option, fixed choices from an enum, and the
context settings that give every command ``-h``."""

from __future__ import annotations

from enum import StrEnum

import typer

from replay.errors import SpeedrunError

CONTEXT = {"help_option_names": ["-h", "--help"]}  # inherited by every subcommand


def track_option(default: str | None = "mini", help: str = "Track (a branch of records.git).") -> typer.Option:
    return typer.Option(default, "--track", "-t", help=help)


def choice_option(enum: type[StrEnum], default: StrEnum, name: str, *short: str, help: str) -> typer.Option:
    """An option that takes one of ``enum``'s values; any other value is a one-line error
    naming the choices (exit 1, like every user mistake), not a usage screen."""

    def parse(value) -> StrEnum:
        try:
            return enum(value)
        except ValueError:
            raise SpeedrunError(f"{name} must be one of {', '.join(enum)}, not '{value}'") from None

    return typer.Option(default, name, *short, parser=parse, metavar="[" + "|".join(enum) + "]", help=help)


def number_option(
    default: int | float | None,
    name: str,
    *short: str,
    minimum: float,
    maximum: float | None = None,
    kind: type = int,
    help: str,
) -> typer.Option:
    """A number option checked against its range when it is parsed: a value out of range, or not
    a number, is a one-line error naming the option and the range (exit 1)."""
    span = f"from {minimum} to {maximum}" if maximum is not None else f"at least {minimum}"
    expected = f"{name} must be {'a whole number' if kind is int else 'a number'} {span}"

    def parse(value):
        try:
            number = kind(value)
        except (TypeError, ValueError):
            raise SpeedrunError(f"{expected}, not '{value}'") from None
        if not (number >= minimum and (maximum is None or number <= maximum)) or number != number:
            raise SpeedrunError(f"{expected}, not {value}")
        return number

    metavar = "INTEGER" if kind is int else "FLOAT"
    return typer.Option(default, name, *short, parser=parse, metavar=metavar, help=help)


def cache_option() -> typer.Option:
    """``--cache/--no-cache``: reuse cached results of identical runs (default: time every run afresh)."""
    return typer.Option(
        False,
        "--cache/--no-cache",
        help="Reuse cached results of identical runs (timed at another moment and load; the report marks them). "
        "Default: every run is timed afresh, interleaved.",
    )


def unsandboxed_option() -> typer.Option:
    """``--unsandboxed``: run without the bubblewrap sandbox, said in run.json and the report."""
    return typer.Option(
        False,
        "--unsandboxed",
        help="Run every side without the bubblewrap sandbox (where it is missing; also SPEEDRUN_UNSANDBOXED=1); "
        "run.json and the report say so.",
    )


def executor_option() -> typer.Option:
    """``--executor local|slurm``: where runs go (a resumed replay keeps its own unless given)."""
    return typer.Option(
        None,
        "--executor",
        "-e",
        metavar="[local|slurm]",
        help="Where runs go: local (this machine, default) or slurm (one job per run; settings from the [slurm] "
        "table of speedrun.toml or ~/.config/speedrun/config.toml). A resume keeps the run's own.",
    )


def jobs_option(
    default: int | None = None,
    help: str = "Local runs at once (default: as many as the GPUs allow, each its own GPUs; one on a CPU machine, "
    "whose runs would time each other).",
) -> typer.Option:
    """``--jobs N``: how many runs at once (the local executor's limit, unless ``help`` says otherwise)."""
    return number_option(default, "--jobs", "-j", minimum=1, maximum=1024, help=help)


def slurm_option() -> typer.Option:
    """``--slurm KEY=VALUE``: one Slurm setting over the config file's."""
    return typer.Option(
        [],
        "--slurm",
        metavar="KEY=VALUE",
        help="A Slurm setting over the config file's [slurm] table (repeatable): partition, account, qos, time, "
        "gpus_per_node, cpus_per_task, mem, constraint, setup.",
    )


def constraint_option() -> typer.Option:
    """``--constraint``: the Slurm node feature every job asks for (identical nodes)."""
    return typer.Option(None, "--constraint", help="Slurm node constraint for every job (identical nodes).")


def executor_from_options(
    name: str | None,
    jobs: int | None,
    slurm: list[str],
    constraint: str | None,
    unsandboxed: bool,
    recorded: dict | None = None,
):
    """The executor the options ask for; ``recorded`` (a resumed run's ``executor`` entry) fills what
    they leave out, so a resumed run goes where it went before."""
    from replay.run.cluster_config import parse_overrides
    from replay.run.executor_choice import build_executor

    recorded = recorded or {}
    overrides = {k: v for k, v in (recorded.get("slurm") or {}).items() if v not in (None, (), [])}
    overrides.update(parse_overrides(slurm))
    if constraint:
        overrides["constraint"] = constraint
    name = name or recorded.get("name") or "local"
    return build_executor(name, overrides, jobs=jobs or recorded.get("jobs"), unsandboxed=unsandboxed)
