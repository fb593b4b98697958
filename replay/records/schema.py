"""The typed ``record.toml`` (schema 1): parsing and validation with one-line errors.

Every error names the field (``result.time_s``) and what was expected, so a user fixing a
record folder never has to read a traceback. Unknown fields are rejected: a typo must not
silently drop metadata.
"""

from __future__ import annotations

import datetime as dt
import math
import tomllib
from dataclasses import dataclass, field
from typing import Any

from replay.errors import SpeedrunError
from replay.statuses import Measure

SCHEMA = 1
LAUNCHERS = ("python", "torchrun")
MAX_INT = 10**9  # no record has more steps, processes or an index anywhere near this
MAX_NUMBER = 1e9  # seconds or losses beyond this are typos, not records
MAX_PROCESSES = 1024


class RecordError(SpeedrunError):
    """An invalid record.toml or record folder."""


@dataclass(frozen=True)
class Innovation:
    """A named technique a record introduced, anchored to qualified names in its code."""

    name: str
    anchors: tuple[str, ...]
    description: str = ""
    probes: tuple[str, ...] = ()  # behavioural probes attribution runs beyond those the name selects


@dataclass(frozen=True)
class OfficialResult:
    """The record's result as measured when it was set."""

    time_s: float
    val_loss: float
    steps: int
    hardware: str
    runs: int | None = None
    time_sd_s: float | None = None


@dataclass(frozen=True)
class Environment:
    """Interpreter and package pins the record runs under."""

    python: str
    torch: str
    packages: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RecordMeta:
    """Everything ``record.toml`` says about one record."""

    track: str
    index: int
    name: str
    date: dt.date
    authors: tuple[str, ...]
    description: str
    entry: str
    launcher: str
    nproc: int
    target_val_loss: float
    result: OfficialResult
    environment: Environment
    task: bool = True
    data: str | None = None
    notes: str = ""
    # Why the track's measurement cannot resolve this record's speedup over its parent (a change
    # with no gain at the track's scale, a step count already at the track's rule): said where a
    # task is not significantly >= 5% faster, so the reason travels with the record.
    within_noise: str = ""
    innovations: tuple[Innovation, ...] = ()
    protected: tuple[str, ...] = ()
    args: tuple[str, ...] = ()  # command-line arguments after the entry script (early records took flags)
    measure: Measure = Measure.SCRIPT  # who measures time and loss (see replay/statuses.py and the README)
    schema: int = SCHEMA


class _Table:
    """Typed, checked access to one TOML table; every error names ``prefix.key``."""

    def __init__(self, raw: Any, where: str, prefix: str = ""):
        if not isinstance(raw, dict):
            raise RecordError(f"{where}: '{prefix.rstrip('.') or 'top level'}' must be a table")
        self.raw, self.where, self.prefix, self.seen = raw, where, prefix, set()

    def _get(self, key: str, required: bool) -> Any:
        self.seen.add(key)
        if key not in self.raw:
            if required:
                raise RecordError(f"{self.where}: missing field '{self.prefix}{key}'")
            return None
        return self.raw[key]

    def _fail(self, key: str, expected: str, value: Any) -> RecordError:
        return RecordError(f"{self.where}: field '{self.prefix}{key}' must be {expected}, got {value!r}")

    def str(self, key: str, required: bool = True, default: str | None = None) -> str | None:
        value = self._get(key, required)
        if value is None:
            return default
        if not isinstance(value, str) or (required and not value.strip()):
            raise self._fail(key, "a non-empty string", value)
        return value

    def int(self, key: str, required: bool = True, minimum: int = 0, maximum: int = MAX_INT) -> int | None:
        value = self._get(key, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, int) or not minimum <= value <= maximum:
            raise self._fail(key, f"an integer from {minimum} to {maximum}", value)
        return value

    def float(self, key: str, required: bool = True, positive: bool = False) -> float | None:
        value = self._get(key, required)
        if value is None:
            return None
        expected = f"a finite {'positive' if positive else 'non-negative'} number up to {MAX_NUMBER:g}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise self._fail(key, expected, value)
        above_zero = value > 0 if positive else value >= 0
        if not (math.isfinite(value) and above_zero and value <= MAX_NUMBER):
            raise self._fail(key, expected, value)
        return float(value)

    def bool(self, key: str, default: bool) -> bool:
        value = self._get(key, False)
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self._fail(key, "true or false", value)
        return value

    def date(self, key: str) -> dt.date:
        value = self._get(key, True)
        if isinstance(value, dt.datetime):
            return value.date()
        if not isinstance(value, dt.date):
            raise self._fail(key, "a TOML date such as 2024-10-04", value)
        return value

    def strings(self, key: str, required: bool = True) -> tuple[str, ...]:
        """A list of non-empty strings; a required one must have at least one."""
        value = self._get(key, required)
        if value is None:
            return ()
        if (
            not isinstance(value, list)
            or not all(isinstance(v, str) and v.strip() for v in value)
            or (required and not value)
        ):
            raise self._fail(key, "a list of non-empty strings" + (", at least one" if required else ""), value)
        return tuple(value)

    def table(self, key: str, required: bool = True) -> _Table | None:
        value = self._get(key, required)
        if value is None:
            return None
        return _Table(value, self.where, f"{self.prefix}{key}.")

    def tables(self, key: str) -> list[_Table]:
        value = self._get(key, False)
        if value is None:
            return []
        if not isinstance(value, list):
            raise self._fail(key, "an array of tables ([[...]])", value)
        return [_Table(v, self.where, f"{self.prefix}{key}[{i}].") for i, v in enumerate(value)]

    def done(self) -> None:
        """Reject fields nobody asked for (typos)."""
        unknown = sorted(set(self.raw) - self.seen)
        if unknown:
            raise RecordError(f"{self.where}: unknown field '{self.prefix}{unknown[0]}'")


def parse_record_toml(text: str, where: str = "record.toml") -> RecordMeta:
    """Parse and validate the text of a record.toml."""
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise RecordError(f"{where}: not valid TOML ({exc})") from None
    except RecursionError:
        raise RecordError(f"{where}: nested too deeply to be a record.toml") from None
    top = _Table(raw, where)
    schema = top.int("schema")
    if schema != SCHEMA:
        raise RecordError(f"{where}: field 'schema' is {schema}; this toolkit reads schema {SCHEMA}")
    launcher = top.str("launcher")
    if launcher not in LAUNCHERS:
        raise RecordError(f"{where}: field 'launcher' must be one of {', '.join(LAUNCHERS)}, got {launcher!r}")
    measure = top.str("measure", required=False, default=Measure.SCRIPT.value)
    if measure not in Measure.__members__.values():
        raise RecordError(f"{where}: field 'measure' must be one of {', '.join(Measure)}, got {measure!r}")
    meta = RecordMeta(
        schema=schema,
        track=top.str("track"),
        index=top.int("index", minimum=1),
        name=top.str("name"),
        date=top.date("date"),
        authors=top.strings("authors"),
        description=top.str("description"),
        entry=top.str("entry"),
        launcher=launcher,
        nproc=top.int("nproc", minimum=1, maximum=MAX_PROCESSES),
        target_val_loss=top.float("target_val_loss", positive=True),
        task=top.bool("task", default=True),
        data=top.str("data", required=False),
        notes=top.str("notes", required=False, default=""),
        within_noise=top.str("within_noise", required=False, default=""),
        result=_parse_result(top.table("result")),
        environment=_parse_environment(top.table("environment")),
        innovations=tuple(_parse_innovation(t) for t in top.tables("innovations")),
        protected=_parse_protected(top.table("protected", required=False)),
        args=top.strings("args", required=False),
        measure=Measure(measure),
    )
    top.done()
    if not meta.entry.endswith(".py") or "/" in meta.entry:
        raise RecordError(f"{where}: field 'entry' must name a .py file at the record's top level, got {meta.entry!r}")
    return meta


def _parse_result(t: _Table) -> OfficialResult:
    result = OfficialResult(
        time_s=t.float("time_s", positive=True),
        val_loss=t.float("val_loss"),
        steps=t.int("steps", minimum=1),
        hardware=t.str("hardware"),
        runs=t.int("runs", required=False, minimum=1),
        time_sd_s=t.float("time_sd_s", required=False),
    )
    t.done()
    return result


def _parse_environment(t: _Table) -> Environment:
    packages_table = t.table("packages", required=False)
    packages: dict[str, str] = {}
    if packages_table is not None:
        for name in list(packages_table.raw):
            packages[name] = packages_table.str(name)
        packages_table.done()
    env = Environment(python=t.str("python"), torch=t.str("torch"), packages=packages)
    t.done()
    return env


def _parse_innovation(t: _Table) -> Innovation:
    innovation = Innovation(
        name=t.str("name"),
        anchors=t.strings("anchors", required=False),  # empty: nothing in the code (a new PyTorch, say)
        description=t.str("description", required=False, default=""),
        probes=t.strings("probes", required=False),
    )
    t.done()
    return innovation


def _parse_protected(t: _Table | None) -> tuple[str, ...]:
    if t is None:
        return ()
    names = t.strings("names")
    t.done()
    return names
