"""Parse the speedrun README's record table ("World record history").

The table's header is ``| # | Record time | Description | Date | Log | Contributors |``; its
data rows do not start with ``|``. A number may repeat (later rows re-time an earlier record),
and some rows have no log. This module only reads the table; which rows become records is the
importer's decision.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

SECTION = "World record history"
_HEADER = re.compile(r"^\|?\s*#\s*\|\s*Record time\s*\|", re.IGNORECASE)
_LINK = re.compile(r"\[([^\]]*)\]\(([^)\s]+)\)")
_TIME = re.compile(r"^([0-9]+(?:\.[0-9]+)?)\s*(minutes?|min|seconds?|s)\b", re.IGNORECASE)


class TableError(ValueError):
    """The README has no record table, or a row cannot be read."""


@dataclass(frozen=True)
class TableRow:
    """One data row of the record table."""

    number: int
    time_text: str
    time_s: float
    description: str  # link text, without markdown
    date: dt.date
    log: str | None  # repository path the row's "log" link points to (file or folder)
    contributors: tuple[str, ...]
    line: int  # 1-based line in the README


def parse_record_table(readme: str) -> list[TableRow]:
    """Every data row of the record table, in README order."""
    lines = readme.split("\n")
    header = next((i for i, line in enumerate(lines) if _HEADER.match(line.strip())), None)
    if header is None:
        raise TableError(f"no '{SECTION}' table (a header '| # | Record time | ...')")
    rows = []
    for number, line in enumerate(lines[header + 1 :], start=header + 2):
        text = line.strip()
        if not text:
            break
        if set(text) <= set("|- :"):  # the |-|-| rule under the header
            continue
        rows.append(_parse_row(text, number))
    if not rows:
        raise TableError(f"the '{SECTION}' table has no rows")
    return rows


def _parse_row(text: str, line: int) -> TableRow:
    cells = [c.strip() for c in text.strip("|").split("|")]
    if len(cells) < 6:
        raise TableError(f"README line {line}: expected 6 cells (# | time | description | date | log | contributors)")
    number, time_text, description, date_text, log_cell = cells[:5]
    contributors = "|".join(cells[5:])
    if not number.isdigit():
        raise TableError(f"README line {line}: record number {number!r} is not a number")
    return TableRow(
        number=int(number),
        time_text=time_text,
        time_s=_seconds(time_text, line),
        description=_plain(description),
        date=_date(date_text, line),
        log=_log_path(log_cell),
        contributors=tuple(c.strip() for c in _plain(contributors).split(",") if c.strip()),
        line=line,
    )


def _seconds(text: str, line: int) -> float:
    match = _TIME.match(text)
    if not match:
        raise TableError(f"README line {line}: record time {text!r} is not 'N minutes'")
    value = float(match.group(1))
    return value * 60 if match.group(2).lower().startswith("min") else value


def _date(text: str, line: int) -> dt.date:
    try:
        return dt.datetime.strptime(text, "%m/%d/%y").date()
    except ValueError:
        raise TableError(f"README line {line}: date {text!r} is not MM/DD/YY") from None


def _plain(markdown: str) -> str:
    """Markdown cell text without link syntax."""
    return _LINK.sub(lambda m: m.group(1), markdown).strip()


def _log_path(cell: str) -> str | None:
    """The repository path of the cell's ``log`` link (None for 'none', '-' or a PR-only cell)."""
    for text, target in _LINK.findall(cell):
        if text.strip().lower() == "log" and not re.match(r"^[a-z]+://", target):
            return target.lstrip("./").rstrip("/")
    return None
