"""Write the small TOML documents this project generates (``record.toml`` of imported records).

The standard library reads TOML but does not write it. This renderer covers what a record needs:
strings, numbers, booleans, dates, lists of scalars, tables and arrays of tables.
"""

from __future__ import annotations

import datetime as dt
import json
import math


def render(document: dict) -> str:
    """TOML text for ``document`` (scalars first, then tables, then arrays of tables)."""
    lines: list[str] = []
    _render_table(document, [], lines)
    return "\n".join(lines).strip("\n") + "\n"


def _render_table(table: dict, path: list[str], lines: list[str]) -> None:
    scalars = {k: v for k, v in table.items() if not _is_table(v) and not _is_table_array(v)}
    for key, value in scalars.items():
        lines.append(f"{_key(key)} = {_value(value)}")
    for key, value in table.items():
        if _is_table(value):
            lines += ["", f"[{'.'.join(_key(k) for k in path + [key])}]"]
            _render_table(value, path + [key], lines)
    for key, value in table.items():
        if _is_table_array(value):
            for item in value:
                lines += ["", f"[[{'.'.join(_key(k) for k in path + [key])}]]"]
                _render_table(item, path + [key], lines)


def _is_table(value) -> bool:
    return isinstance(value, dict)


def _is_table_array(value) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, dict) for v in value)


def _key(key: str) -> str:
    return key if key.replace("_", "").replace("-", "").isalnum() else json.dumps(key)


def _value(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"TOML cannot hold {value}")
        return repr(value)
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, str):
        # JSON string escapes are valid TOML basic-string escapes.
        return json.dumps(value, ensure_ascii=False)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} as TOML")
