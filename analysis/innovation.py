"""One innovation of record i+1 as attribution scores it: its name, the anchors its record.toml
gives (the units and statements that carry it), its description and the probes its label names.

Kept apart from :mod:`analysis.attribute` so that a caller can name a task's innovations (and send
the probe worker its measurement) before the scoring modules are loaded."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class Innovation:
    name: str
    anchors: tuple[str, ...]
    description: str = ""
    probes: tuple[str, ...] = ()  # probes its label names, beyond those its name selects
