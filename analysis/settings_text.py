"""Settings kept as text inside a script, read as a canonical table of constants.

A script may keep its settings in a string and parse it at start-up (``HP = load(HPARAMS_TEXT)``
over a YAML-like block, ``json.loads('{"lr": 0.02}')``, ``tomllib.loads(...)``). Its numbers are
then settings as much as a dataclass's fields are, so the analysis reads the text with the
standard parsers (JSON, TOML, then YAML, which takes most hand-written ``key: value`` blocks) and
hands back the same canonical dict table that a literal ``{"opt": {"lr": 0.02}}`` gives
(:mod:`analysis.canon`).

The parser the script applies is its own, so the table answers both ways it may index the result:
by section (``HP["opt"]["lr"]``) and by a dotted path (``CFG["opt.lr"]``, a parser that flattens).
"""

from __future__ import annotations

import json
import tomllib

import yaml

from analysis.canon import Num, literal_table


def settings_text(text: str) -> tuple | None:
    """The canonical table of a string constant's text (as the parse tree holds it: escapes as
    written) when it parses as a mapping that holds a number; else None."""
    if "\n" not in text.strip():
        text = text.replace("\\n", "\n")  # '{"lr": 0.02,\n "wd": 0}' written on one line
    if "\n" not in text.strip() and not text.lstrip().startswith("{"):
        return None  # a one-line string is a name or a message, not a block of settings
    mapping = _parsed(text)
    if not isinstance(mapping, dict):
        return None
    table = _table({**mapping, **_dotted(mapping)})
    return table if literal_table(table) else None  # a mapping of no number is a text, not settings


def _parsed(text: str):
    for parse in (json.loads, tomllib.loads, yaml.safe_load):
        try:
            return parse(text)
        except (ValueError, yaml.YAMLError):
            continue
    return None


def _dotted(mapping: dict, prefix: str = "") -> dict:
    """Every nested entry under its dotted path (``{"opt": {"lr": 1}}`` -> ``{"opt.lr": 1}``)."""
    out = {}
    for key, value in mapping.items():
        if isinstance(value, dict):
            for inner, leaf in _dotted(value, f"{prefix}{key}.").items():
                out[inner] = leaf
        elif prefix:
            out[f"{prefix}{key}"] = value
    return out


def _table(value):
    """The canonical form :class:`analysis.canon.Canon` gives the same value written as a literal."""
    if isinstance(value, bool) or value is None:
        return ("s", str(value).lower())
    if isinstance(value, int | float):
        return Num(value)
    if isinstance(value, dict):
        entries = ((str(k), _table(v)) for k, v in value.items())
        return ("c", "dict", (), tuple(sorted(entries, key=lambda kv: kv[0])))
    if isinstance(value, list):
        return ("q", "list", tuple(map(_table, value)))
    return ("s", repr(str(value)))
