"""The composition root of the ``speedrun`` command line.

One Typer app: the command modules (``records``, ``replays``, ``analysis``, ``agent``, ``results``, ``data``)
each bring their groups and top-level commands, shown in one help panel per module; every
command takes ``-h``; the app takes ``--version``. :func:`main` is the one place where user
mistakes (:class:`~replay.errors.SpeedrunError`) become one ``error: ...`` line and exit 1,
never a traceback. Heavy imports (torch, litellm) happen inside commands.
"""

from __future__ import annotations

import sys

import typer

from replay.cli import agent, analysis, data, records, replays, results
from replay.cli.params import CONTEXT
from replay.errors import SpeedrunError

COMMAND_MODULES = (records, replays, analysis, agent, results, data)  # in the order of their help panels

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    context_settings=CONTEXT,
)


def version() -> str:
    """The installed toolkit's version and, for a git checkout, its commit."""
    from importlib import metadata

    from replay.run.provenance import toolkit_git_state

    commit = toolkit_git_state()["commit"]
    return f"speedrun {metadata.version('speedrun')}" + (f" ({commit[:12]})" if commit else "")


def _print_version(wanted: bool) -> None:
    if wanted:
        print(version())
        raise typer.Exit()


@app.callback()
def _options(
    show_version: bool = typer.Option(
        False, "--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
):
    """Replay NanoGPT speedrun records, score agents' branches, and manage the record history.

    Example: speedrun replay 1 --track mini --runs 3
    """


def _mount(module) -> None:
    """Add a command module's groups and top-level commands to the app, in the module's panel."""
    for group in getattr(module, "groups", ()):
        app.add_typer(group, rich_help_panel=module.PANEL)
    commands = getattr(module, "commands", None)
    for command in commands.registered_commands if commands else ():
        command.rich_help_panel = module.PANEL
        app.registered_commands.append(command)


for _module in COMMAND_MODULES:
    _mount(_module)


def main() -> None:
    """Console entry point: one-line errors for user mistakes."""
    try:
        app()
    except SpeedrunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
