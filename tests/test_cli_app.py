"""The command line starts with only the module its command needs: the index of command modules
names exactly the commands and groups each module registers, a command line mounts the one module
defining its command (every module for help, ``--version`` or an unknown name), and
``speedrun attribute`` starts without importing the agent, the replayer or torch."""

import json
import subprocess
import sys

import pytest

from replay.cli import app as app_module
from replay.cli.app import COMMAND_MODULES, build_app, modules_for


def names(app) -> set[str]:
    return {c.name for c in app.registered_commands} | {g.typer_instance.info.name for g in app.registered_groups}


@pytest.mark.parametrize("module", list(COMMAND_MODULES))
def test_the_index_names_what_each_module_registers(module):
    assert names(build_app([module])) == set(COMMAND_MODULES[module])


def test_the_full_app_has_every_command_once():
    every = [name for listed in COMMAND_MODULES.values() for name in listed]
    assert len(every) == len(set(every))
    assert names(app_module.app) == set(every)


@pytest.mark.parametrize(
    "argv, wanted",
    [
        (["attribute", "3", "--file", "x.py"], ("analysis",)),
        (["records", "list"], ("records",)),
        (["tasks"], ("records",)),
        (["sweep", "run", "-h"], ("sweeps",)),
        (["leaderboard"], ("results",)),
        ([], tuple(COMMAND_MODULES)),
        (["--version"], tuple(COMMAND_MODULES)),
        (["-h"], tuple(COMMAND_MODULES)),
        (["atribute"], tuple(COMMAND_MODULES)),  # misspelt: the full app names the commands there are
    ],
)
def test_a_command_line_mounts_the_module_of_its_command(argv, wanted):
    assert modules_for(argv) == wanted


def test_attribute_starts_without_the_agent_the_replayer_or_torch():
    probe = (
        "import sys, json; sys.argv = ['speedrun', 'attribute', '-h']\n"
        "from replay.cli.app import main\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "print(json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in ('agent', 'torch', 'litellm')"
        " or m in ('replay.run.replayer', 'replay.run.runlog'))))"
    )
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    assert "attribute" in out.stdout  # the help was printed
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
