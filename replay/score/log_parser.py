"""The deterministic parser of speedrun logs: step lines in, metrics out. No LLM, ever.

It reads every variant of the speedrun's step lines (see NANOGPT.md)::

    step:S/N val_loss:X train_time:Tms [step_avg:Ams]      validation
    step:S/N [train_loss:X] train_time:Tms step_avg:Ams     training (no loss from record 15 on)

whatever precedes them (the script's own source, version banners, nvidia-smi output) and
whatever follows (``peak memory ...``). The final metrics are those of the last validation line
whose S equals N.

The code under test prints these lines, so the parser is strict about what it takes: S and N
are ASCII digits (at most 9), N >= 1 and S <= N; a value is ASCII digits with an optional
fraction (at most 15 digits each side: no sign, exponent, underscore or other script's digits)
or ``nan`` (a loss that diverged, a ``step_avg`` at step 0), never for ``train_time``; a field
appears once. Any other line is not a step line, and a truncated last line is ignored.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

_STEP = re.compile(r"^step:([0-9]{1,9})/([0-9]{1,9})((?:[ \t]+[a-z_]+:[^ \t]+)+)[ \t]*$", re.ASCII)
_FIELD = re.compile(r"([a-z_]+):([^ \t]+)", re.ASCII)
_VALUE = re.compile(r"^(?:[0-9]{1,15}(?:\.[0-9]{1,15})?|nan)$", re.ASCII)
_PEAK = re.compile(r"^peak memory (?:consumption|allocated): (\d+) MiB(?: reserved: (\d+) MiB)?")


@dataclass(frozen=True)
class StepLine:
    """One parsed step line."""

    step: int
    total: int
    train_time_ms: float
    val_loss: float | None = None
    train_loss: float | None = None
    step_avg_ms: float | None = None

    @property
    def is_validation(self) -> bool:
        return self.val_loss is not None


@dataclass
class ParsedLog:
    """Everything the parser found in a log."""

    validation: list[StepLine] = field(default_factory=list)
    training: list[StepLine] = field(default_factory=list)
    peak_memory_mib: int | None = None

    @property
    def final(self) -> StepLine | None:
        """The last validation line at the final step (S == N), if the run got there."""
        for line in reversed(self.validation):
            if line.step == line.total:
                return line
        return None

    @property
    def last(self) -> StepLine | None:
        """The furthest step line of any kind."""
        lines = self.validation + self.training
        return max(lines, key=lambda line: (line.step, line.is_validation)) if lines else None

    @property
    def total_steps(self) -> int | None:
        last = self.last
        return last.total if last else None

    @property
    def complete(self) -> bool:
        return self.final is not None


def _number(text: str) -> float | None:
    """A value as the speedrun prints it (see the module docstring), else None."""
    return float(text) if _VALUE.match(text) else None


def parse_step_line(line: str) -> StepLine | None:
    """Parse one line; ``None`` if it is not a (complete) step line."""
    match = _STEP.match(line.rstrip("\r\n"))
    if not match:
        return None
    fields = _FIELD.findall(match.group(3))
    values = dict(fields)
    if len(values) != len(fields):  # a field given twice: which one would count?
        return None
    step, total = int(match.group(1)), int(match.group(2))
    if total < 1 or step > total:
        return None
    raw_time = values.get("train_time", "")
    train_time = _number(raw_time.removesuffix("ms")) if raw_time.endswith("ms") else None
    if train_time is None or train_time != train_time:  # missing, malformed or nan
        return None
    val_loss = _number(values["val_loss"]) if "val_loss" in values else None
    if "val_loss" in values and val_loss is None:
        return None
    return StepLine(
        step=step,
        total=total,
        train_time_ms=train_time,
        val_loss=val_loss,
        train_loss=_number(values["train_loss"]) if "train_loss" in values else None,
        step_avg_ms=_number(values["step_avg"].removesuffix("ms")) if "step_avg" in values else None,
    )


class LogParser:
    """Incremental parser: feed lines as a run prints them, read metrics at any time."""

    def __init__(self):
        self.parsed = ParsedLog()

    def feed(self, line: str) -> StepLine | None:
        step = parse_step_line(line)
        if step is not None:
            (self.parsed.validation if step.is_validation else self.parsed.training).append(step)
            return step
        peak = _PEAK.match(line.strip())
        if peak:
            self.parsed.peak_memory_mib = int(peak.group(1))
        return None


def parse_log(text: str) -> ParsedLog:
    """Parse a whole log. A line cut mid-write (a killed run) is ignored unless it reaches
    its ``train_time:...ms`` field, which every step line has after its loss."""
    parser = LogParser()
    for line in text.splitlines():
        parser.feed(line)
    return parser.parsed
