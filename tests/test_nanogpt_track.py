"""Against a real modded-nanogpt clone: the importer makes the paper's 21 records and 19 tasks,
the code matches the README-linked logs, and for every task the ground-truth record reproduces
every labelled innovation while the parent reproduces none.

Needs a clone (``SPEEDRUN_NANOGPT_CHECKOUT``; a bare mirror works); skipped without one, so CI
without network skips it. The fixture-checkout tests (test_importer.py) cover the importer
offline.
"""

from __future__ import annotations

import ast
import os

import pytest

CHECKOUT = os.environ.get("SPEEDRUN_NANOGPT_CHECKOUT")
pytestmark = pytest.mark.skipif(not CHECKOUT, reason="needs SPEEDRUN_NANOGPT_CHECKOUT (a modded-nanogpt clone)")


@pytest.fixture(scope="module")
def nanogpt(tmp_path_factory):
    from analysis.diff import changed_definitions
    from replay.importer.modded_nanogpt import import_records
    from replay.records.add import init_records_repo

    store = init_records_repo(tmp_path_factory.mktemp("records") / "records.git")
    import_records(CHECKOUT, store, changed_definitions=changed_definitions)
    return store


def test_the_papers_records_and_tasks(nanogpt):
    import pygit2

    from replay.importer.log_reader import split_log

    records = nanogpt.records("nanogpt")
    assert len(records) == 21
    assert [t.number for t in nanogpt.tasks("nanogpt")] == [1, 2, 3, 4, 5, *range(7, 21)]
    repo = pygit2.Repository(pygit2.discover_repository(CHECKOUT))
    head = repo.revparse_single("HEAD").peel(pygit2.Commit).tree
    for record in records[3:]:
        origin = record.meta.notes.split("code from ", 1)[1].split(". ", 1)[0].rstrip(".")
        logged = split_log((head / origin).data.decode())
        assert nanogpt.read_file(record, "train_gpt.py").decode() == logged.main_source, record.label
        for name, source in logged.extra_sources.items():
            assert nanogpt.read_file(record, name).decode() == source


@pytest.mark.parametrize("task", [1, 2, 3, 4, 5, *range(7, 21)])
def test_gold_reproduces_every_innovation_and_null_none(nanogpt, task):
    from analysis.task import attribute_task, load_task

    base, target, innovations = load_task(nanogpt, "nanogpt", task)
    assert innovations, f"record {task + 1} has no labelled innovations"
    for label, text, expected in (("gold", target.text, {i.name for i in innovations}), ("null", base.text, set())):
        _, doc = attribute_task(nanogpt, "nanogpt", task, label, text)
        got = {i["name"] for i in doc["innovations"] if i["reproduced"]}
        assert got == expected, (task, label, [(i["name"], i["score"]) for i in doc["innovations"]])


def test_partial_candidates_get_exactly_their_innovation(nanogpt):
    """Record i plus only one innovation's ground-truth edits reproduces that innovation alone —
    for nearly every labelled innovation whose cut is a valid script (the cut is mechanical, so a
    few overlapping edits may not apply cleanly; measured 58 of 59 on the 2026-08 snapshot, the
    miss a refactor that shares statements with another innovation)."""
    from analysis.task import attribute_task, load_task

    from candidates import partial

    exact = total = 0
    for task in [t.number for t in nanogpt.tasks("nanogpt")]:
        base, target, innovations = load_task(nanogpt, "nanogpt", task)
        for innovation in innovations:
            text = partial(base, target, innovations, {innovation.name})
            try:
                ast.parse(text)
            except SyntaxError:  # its edits alone are not a script (the benchmark leaves these out too)
                continue
            _, doc = attribute_task(nanogpt, "nanogpt", task, f"only {innovation.name}", text)
            exact += {i["name"] for i in doc["innovations"] if i["reproduced"]} == {innovation.name}
            total += 1
    assert total >= 50 and exact / total >= 0.95, (exact, total)
