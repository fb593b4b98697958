"""Golden files of the reports a user reads: the Markdown attribution report, the HTML page and the
structural diff of the fixture track's task 1, for a candidate with one innovation (rotary
embeddings) and unrelated edits. A change of wording, order, line spans or layout shows up as a
diff against tests/fixtures/analysis/golden/; regenerate deliberately with
``UPDATE_GOLDEN=1 pytest tests/test_analysis_golden.py`` and review the diff."""

import os
from pathlib import Path

import pytest

from analysis.diff import diff_versions
from analysis.html import to_html
from analysis.report import diff_text, to_markdown
from analysis.task import attribute_task, load_task

from candidates import add_unrelated, partial
from fixtures.analysis.fixture_records import build_store

GOLDEN = Path(__file__).parent / "fixtures" / "analysis" / "golden"


@pytest.fixture
def reports(home):
    store = build_store(home)
    base, target, innovations = load_task(store, "fx", 1)
    text = add_unrelated(partial(base, target, innovations, {"rotary embeddings"}))
    res, doc = attribute_task(store, "fx", 1, "candidate", text, {"kind": "file", "spec": "candidate.py"})
    return {
        "attribution.md": to_markdown(doc),
        "attribution.html": to_html(res, doc),
        "diff.txt": diff_text(diff_versions(base, target)),
    }


@pytest.mark.parametrize("name", ["attribution.md", "attribution.html", "diff.txt"])
def test_report_matches_golden_file(reports, name):
    path = GOLDEN / name
    if os.environ.get("UPDATE_GOLDEN"):
        path.write_text(reports[name])
    assert path.exists(), f"no golden file {path}: run with UPDATE_GOLDEN=1 once and review it"
    assert reports[name] == path.read_text(), f"{name} differs from {path} (UPDATE_GOLDEN=1 regenerates it)"
