"""Attribution of one task's candidate: load record i, record i+1 and the candidate, and score.

This is what ``speedrun attribute`` and the benchmark call; it reads records through the
records store and never writes anything.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from analysis.innovation import Innovation
from analysis.probes import prepare, shared_prober

if TYPE_CHECKING:
    from analysis.attribute import Attribution
    from analysis.syntax import Cache
    from analysis.versions import Version


def innovations_of(record) -> list[Innovation]:
    """The innovations record i+1 declares in its record.toml."""
    return [Innovation(i.name, tuple(i.anchors), i.description, tuple(i.probes)) for i in record.meta.innovations]


def task_scripts(store, track: str, number: int) -> tuple[tuple[str, str], tuple[str, str], list[Innovation]]:
    """((label, text) of record i, the same of record i+1, record i+1's innovations), unparsed."""
    from analysis.sources import record_script

    task = store.task(track, number)
    return record_script(store, task.start), record_script(store, task.target), innovations_of(task.target)


def load_task(store, track: str, number: int, cache: Cache | None = None) -> tuple[Version, Version, list[Innovation]]:
    from analysis.diff import load
    from analysis.syntax import Cache

    (base_label, base_text), (target_label, target_text), innovations = task_scripts(store, track, number)
    cache = cache or Cache()
    return load(base_text, base_label, cache), load(target_text, target_label, cache), innovations


def attribute_task(
    store, track: str, number: int, candidate_label: str, candidate_text: str, candidate_info: dict | None = None
) -> tuple[Attribution, dict]:
    """(attribution, JSON document) of a candidate script for task ``number`` of ``track``."""
    (base_label, base_text), (target_label, target_text), innovations = task_scripts(store, track, number)
    prober = shared_prober()
    if prober is not None:  # the probe worker starts, or measures the candidate, while the scripts are parsed
        prepare(prober, base_text, target_text, candidate_text, innovations)
    # imported only now, so that loading the scoring modules overlaps the probe worker's measurement
    from analysis.attribute import attribute
    from analysis.diff import load
    from analysis.report import to_json
    from analysis.syntax import Cache

    cache = Cache()
    base, target = load(base_text, base_label, cache), load(target_text, target_label, cache)
    candidate = load(candidate_text, candidate_label, cache)
    res = attribute(base, target, candidate, innovations, prober)
    info = dict(candidate_info or {}, label=candidate_label)
    return res, to_json(res, track, number, info)
