"""The HTML attribution report is one self-contained page (no external resources) with the
per-innovation summary and three side-by-side panes; a real headless Chromium renders it with
the summary and all three panes present (slow test; skipped where chromium is absent)."""

import re
import shutil
import subprocess

import pytest

from analysis.html import to_html
from analysis.task import attribute_task, load_task

from candidates import add_unrelated, partial
from fixtures.analysis.fixture_records import build_store

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture
def page(home):
    store = build_store(home)
    base, target, innovations = load_task(store, "fx", 1)
    text = add_unrelated(partial(base, target, innovations, {"rotary embeddings"}))
    res, doc = attribute_task(store, "fx", 1, "candidate", text)
    path = home / "report.html"
    path.write_text(to_html(res, doc))
    return path


def test_page_is_self_contained(page):
    html = page.read_text()
    assert not re.search(r"""(src|href)\s*=\s*["']?(https?:|//)""", html)
    assert "<script" not in html
    for pane in ("pane-base", "pane-target", "pane-candidate"):
        assert f'id="{pane}"' in html
    assert 'id="summary"' in html and "rotary embeddings" in html
    panes = html.split('<div class="pane"')
    assert 'class="l hit"' in panes[2] and 'class="l miss"' in panes[2]  # rotary hit, schedule missed
    assert 'class="l novel"' in panes[3]  # the unrelated helper
    assert ">yes<" in html and ">no<" in html


def test_page_folds_unchanged_code_and_links_hunks(page):
    html = page.read_text()
    panes = html.split('<div class="pane"')
    for pane, name in ((panes[2], "target"), (panes[3], "candidate")):
        first = pane.index('class="hunk"')
        assert pane.index("<details") < first  # the code before the first hunk is folded: the pane opens on it
        assert f'id="{name}-h1"' in pane and f'href="#{name}-h2"' in pane  # hunks link to the next one
    assert 'id="hunks"' in html and 'href="#candidate-h1"' in html
    assert 'id="evidence"' in html and 'href="#candidate-L' in html  # idea evidence links into the panes


@pytest.mark.slow
@pytest.mark.skipif(CHROMIUM is None, reason="chromium is not installed (CI installs Debian's chromium)")
def test_renders_in_headless_chromium(page, tmp_path):
    out = subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile'}",
            "--dump-dom",
            page.as_uri(),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    dom = out.stdout
    assert 'id="summary"' in dom and "trapezoidal schedule" in dom
    for pane in ("pane-base", "pane-target", "pane-candidate"):
        assert f'id="{pane}"' in dom
    shot = tmp_path / "shot.png"
    subprocess.run(
        [
            CHROMIUM,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-dev-shm-usage",
            f"--user-data-dir={tmp_path / 'profile2'}",
            f"--screenshot={shot}",
            "--window-size=1400,900",
            page.as_uri(),
        ],
        capture_output=True,
        timeout=120,
    )
    assert shot.exists() and shot.stat().st_size > 10_000
