"""Attribution of one task's candidate: load record i, record i+1 and the candidate, and score.

This is what ``speedrun attribute`` and the benchmark call; it reads records through the
records store and never writes anything.
"""

from __future__ import annotations

from analysis.attribute import Attribution, Innovation, attribute
from analysis.diff import load
from analysis.probes import shared_prober
from analysis.report import to_json
from analysis.syntax import Cache
from analysis.versions import Version


def innovations_of(record) -> list[Innovation]:
    """The innovations record i+1 declares in its record.toml."""
    return [Innovation(i.name, tuple(i.anchors), i.description) for i in record.meta.innovations]


def load_task(store, track: str, number: int, cache: Cache | None = None) -> tuple[Version, Version, list[Innovation]]:
    from analysis.sources import record_script

    task = store.task(track, number)
    cache = cache or Cache()
    base = load(*reversed(record_script(store, task.start)), cache=cache)
    target = load(*reversed(record_script(store, task.target)), cache=cache)
    return base, target, innovations_of(task.target)


def attribute_task(
    store, track: str, number: int, candidate_label: str, candidate_text: str, candidate_info: dict | None = None
) -> tuple[Attribution, dict]:
    """(attribution, JSON document) of a candidate script for task ``number`` of ``track``."""
    cache = Cache()
    base, target, innovations = load_task(store, track, number, cache)
    candidate = load(candidate_text, candidate_label, cache)
    res = attribute(base, target, candidate, innovations, shared_prober())
    info = dict(candidate_info or {}, label=candidate_label)
    return res, to_json(res, track, number, info)
