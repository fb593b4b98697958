"""Files this project writes and reads back: written atomically (a reader sees the old file or
the new one, never half of one), read back so that a damaged file is one clear error naming it."""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

from replay.errors import SpeedrunError

T = TypeVar("T")


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a fresh temp file beside ``path``, then rename it over ``path``."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_text_atomic(path: Path, text: str) -> None:
    write_bytes_atomic(path, text.encode())


def write_json_atomic(path: Path, data) -> None:
    write_text_atomic(path, json.dumps(data, indent=2, default=str) + "\n")


def read_json(path: Path, parse: Callable[[dict], T]) -> T:
    """Read a JSON file we wrote and ``parse`` it; unreadable, not JSON, or not the shape ``parse``
    expects is one :class:`SpeedrunError` naming the file."""
    try:
        data = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise SpeedrunError(f"{path} cannot be read ({type(exc).__name__}: {exc}); it is damaged or missing") from None
    try:
        return parse(data)
    except SpeedrunError:
        raise
    except (KeyError, TypeError, ValueError, AttributeError, IndexError) as exc:
        raise SpeedrunError(f"{path} is damaged ({type(exc).__name__}: {exc})") from None
