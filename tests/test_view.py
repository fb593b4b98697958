"""``speedrun view`` writes a static site from real runs: an agent run's page has its tree of
nodes with outcomes and times, each node's diff against its parent and against record i, its log
tail and its attribution; a replay's page has its table and logs; the leaderboard page embeds
its plots; and headless Chromium renders the tree, a node's diff and the table (slow test)."""

import re
import shutil
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest
from typer.testing import CliRunner

from agent.runner import AgentRunner
from agent.state import AgentRequest
from replay.cli.app import app
from replay.run.replayer import Replayer, ReplayRequest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def site(toy_store, tmp_path):
    """An agent run on the toy track (3 scripted drafts), a replay of its best branch, and the site."""
    runner = AgentRunner(toy_store)
    request = AgentRequest("toy", 1, "scripted/agent_policies:tweaker", "tree", (1,), nodes=3)
    state = runner.run(runner.start(request))
    replayer = Replayer(toy_store)
    replay = replayer.run(replayer.start(ReplayRequest("toy", 1, (state.summary["branch"],), runs=2)))
    out = CliRunner().invoke(app, ["view", "-o", str(tmp_path / "site")])
    assert out.exit_code == 0, out.output
    return tmp_path / "site", state, replay


def test_the_site_holds_every_run(site):
    folder, state, replay = site
    index = (folder / "index.html").read_text()
    assert f"href='{state.run_id}.html'" in index and f"href='{replay.run_id}.html'" in index
    agent = (folder / f"{state.run_id}.html").read_text()
    assert agent.count("<li>") == len(state.nodes) and "id='tree'" in agent
    child = state.nodes[1]
    assert (
        f"<a href='#{child.id}'>{child.id}</a> {child.action}" in agent
        and f"<section class='node' id='{child.id}'>" in agent
    )
    assert "Diff against its parent" in agent and "<span class='add'>+" in agent and "<span class='del'>-" in agent
    assert "step:20/20 val_loss" in agent  # the log tail
    assert "<table class='attribution'>" in agent and "faster steps 2" in agent
    page = (folder / f"{replay.run_id}.html").read_text()
    assert "<table class='replay'>" in page and "ground_truth" in page and page.count("class='log'") == 6
    board = (folder / "leaderboard.html").read_text()
    assert board.count("data:image/png;base64,") == 4 and "tweaker" in board
    assert "runs 1/1 replayed" in board or "runs 0/1 replayed" in board  # the replay of the best branch was found


def _chromium(tmp_path, *args):
    return subprocess.run(
        [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage",
         f"--user-data-dir={tmp_path / 'profile'}", *args],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's chromium)")
def test_chromium_renders_the_tree_a_diff_and_the_table(site, tmp_path):
    import matplotlib.image

    folder, state, replay = site
    agent = (folder / f"{state.run_id}.html").as_uri()
    dom = _chromium(tmp_path, "--dump-dom", agent)
    assert dom.returncode == 0, dom.stderr[-2000:]
    assert 'id="tree"' in dom.stdout and 'class="diff"' in dom.stdout and 'class="add"' in dom.stdout
    table = _chromium(tmp_path, "--dump-dom", (folder / f"{replay.run_id}.html").as_uri())
    assert '<table class="replay">' in table.stdout and "ground_truth" in table.stdout
    for name, page in (("agent", agent), ("board", (folder / "leaderboard.html").as_uri())):
        shot = tmp_path / f"{name}.png"
        _chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,1400", page)
        pixels = matplotlib.image.imread(shot)[..., :3]
        inked = (pixels.sum(axis=-1) < 2.7).mean()  # share of pixels that are not (near) white
        assert 0.01 < inked < 0.6, (name, inked)


def test_serve_answers_on_localhost(site):
    folder, state, _ = site
    speedrun = Path(sys.executable).parent / "speedrun"
    server = subprocess.Popen(
        [str(speedrun), "view", "-o", str(folder), "--serve", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        lines = [server.stdout.readline(), server.stdout.readline()]
        url = re.search(r"http://127\.0\.0\.1:\d+/", lines[1]).group(0)
        with urllib.request.urlopen(url + f"{state.run_id}.html", timeout=30) as response:
            assert response.status == 200 and b"id='tree'" in response.read()
    finally:
        server.terminate()
        server.wait(timeout=30)
