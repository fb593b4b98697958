"""Read a real speedrun log: the script source it opens with, the files appended to it, its
version header and its final metrics.

A record's log starts with its training script's source (older logs put a line of 100 ``=``
before it), then a line of 100 ``=``, then the versions (Python, PyTorch, Triton) and the
``nvidia-smi`` output, another separator, then step lines. Newer logs append more source files
after the script, each under a sub-header::

    ----------------------------------------
    # triton_kernels.py
    ----------------------------------------

The first two records logged in llm.c's terse format (``s:STEP tel:LOSS`` for validation);
:func:`llmc_final` reads those.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

SEPARATOR = "=" * 100
_FILE_HEADER = re.compile(r"^-{20,}\n# ([A-Za-z0-9_][A-Za-z0-9_.-]*\.py)\n-{20,}\n", re.MULTILINE)
_PYTHON = re.compile(r"^Running Python (\d+\.\d+)(?:\.\d+)?", re.MULTILINE)
_TORCH = re.compile(r"^Running [Pp]y[Tt]orch (\S+)", re.MULTILINE)
_LLMC_VAL = re.compile(r"^s:(\d+) tel:([0-9.]+)\s*$", re.MULTILINE)


class LogFormatError(ValueError):
    """The text is not a speedrun log that carries its code."""


@dataclass(frozen=True)
class SpeedrunLog:
    """A log split into its parts."""

    main_source: str
    extra_sources: dict[str, str] = field(default_factory=dict)  # file name -> source
    header: str = ""
    body: str = ""

    @property
    def python(self) -> str | None:
        """``major.minor`` of the Python that ran, when the header says."""
        match = _PYTHON.search(self.header)
        return match.group(1) if match else None

    @property
    def torch(self) -> str | None:
        """The PyTorch version string that ran (e.g. ``2.4.1+cu121``), when the header says."""
        match = _TORCH.search(self.header)
        return match.group(1) if match else None


def split_log(text: str) -> SpeedrunLog:
    """Split a log that opens with its code; raise :class:`LogFormatError` if it does not."""
    lines = text.split("\n")
    start = 1 if lines and lines[0] == SEPARATOR else 0
    try:
        end = lines.index(SEPARATOR, start)
    except ValueError:
        raise LogFormatError("no line of 100 '=' after the code (not a log that carries its script)") from None
    if end == start:
        raise LogFormatError("the log carries no code before its first separator")
    code = "\n".join(lines[start:end]) + "\n"
    rest = lines[end + 1 :]
    try:
        second = rest.index(SEPARATOR)
    except ValueError:
        second = len(rest)
    main, extras = _split_sources(code)
    return SpeedrunLog(main, extras, header="\n".join(rest[:second]), body="\n".join(rest[second + 1 :]))


def _split_sources(code: str) -> tuple[str, dict[str, str]]:
    """The script and the files appended after it under ``# name.py`` sub-headers."""
    headers = list(_FILE_HEADER.finditer(code))
    if not headers:
        return _tidy(code), {}
    extras = {}
    for header, following in zip(headers, headers[1:] + [None], strict=True):
        extras[header.group(1)] = _tidy(code[header.end() : following.start() if following else len(code)])
    return _tidy(code[: headers[0].start()]), extras


def _tidy(source: str) -> str:
    """A source file as written: no blank lines the logger added around it, one final newline."""
    return source.strip("\n") + "\n"


def llmc_final(text: str) -> tuple[int, float] | None:
    """The last ``(step, val_loss)`` of an llm.c-format log, or None if it has none."""
    matches = _LLMC_VAL.findall(text)
    if not matches:
        return None
    step, loss = matches[-1]
    return int(step), float(loss)
