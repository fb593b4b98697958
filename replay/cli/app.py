"""The composition root of the ``speedrun`` command line.

One Typer app: the command modules (``records``, ``replays``, ``analysis``, ``agent``, ``sweeps``,
``results``, ``data``) each bring their groups and top-level commands, shown in one help panel per
module; every command takes ``-h``; the app takes ``--version``. :func:`main` is the one place where
user mistakes (:class:`~replay.errors.SpeedrunError`) become one ``error: ...`` line and exit 1,
never a traceback.

Start-up time is part of every command's cost (``speedrun attribute`` is called once per branch and
innovation table), so :func:`main` imports only the module of the command it was given, found in
:data:`COMMAND_MODULES`; the other modules (the agent's and the replayer's imports take most of a
second) load only to show the full help or to name an unknown command. Heavy imports (torch,
litellm) happen inside commands. ``replay.cli.app.app`` is the app with every module mounted.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Iterable

import typer

from replay.cli.params import CONTEXT
from replay.errors import SpeedrunError

# Command module -> the top-level commands and groups it defines, in the order of the help panels.
# tests/test_cli_app.py checks this index against what each module registers.
COMMAND_MODULES: dict[str, tuple[str, ...]] = {
    "records": ("records", "tasks"),
    "replays": ("work", "env", "replay", "report"),
    "analysis": ("diff", "attribute", "blame", "probes"),
    "agent": ("agent",),
    "sweeps": ("sweep",),
    "results": ("runs", "leaderboard", "view"),
    "data": ("data",),
}


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


def _options(
    show_version: bool = typer.Option(
        False, "--version", "-V", callback=_print_version, is_eager=True, help="Print the version and exit."
    ),
):
    """Replay NanoGPT speedrun records, score agents' branches, and manage the record history.

    Example: speedrun replay 1 --track mini --runs 3
    """


def build_app(modules: Iterable[str] = COMMAND_MODULES) -> typer.Typer:
    """The app with the named command modules' groups and top-level commands, each in its module's panel."""
    app = typer.Typer(no_args_is_help=True, add_completion=False, context_settings=CONTEXT)
    app.callback()(_options)
    for name in modules:
        module = importlib.import_module(f"replay.cli.{name}")
        for group in getattr(module, "groups", ()):
            app.add_typer(group, rich_help_panel=module.PANEL)
        commands = getattr(module, "commands", None)
        for command in commands.registered_commands if commands else ():
            command.rich_help_panel = module.PANEL
            app.registered_commands.append(command)
    return app


def modules_for(argv: list[str]) -> tuple[str, ...]:
    """The command modules a command line needs: the one defining its command, else all of them
    (no command, an option before it such as ``--version``, or a name no module defines)."""
    if argv and not argv[0].startswith("-"):
        for module, names in COMMAND_MODULES.items():
            if argv[0] in names:
                return (module,)
    return tuple(COMMAND_MODULES)


def __getattr__(name: str):
    if name == "app":  # the full app, built on first use (tests drive it with typer's CliRunner)
        globals()["app"] = built = build_app()
        return built
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


def main() -> None:
    """Console entry point: one-line errors for user mistakes."""
    try:
        build_app(modules_for(sys.argv[1:]))()
    except SpeedrunError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(1)
