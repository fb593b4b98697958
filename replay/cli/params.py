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
