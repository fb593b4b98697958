"""Following a run's log while another machine writes it: the live step lines of a cluster job.

A Slurm job writes its run's log on the shared filesystem, line by line; the process that waits
for the job reads what the file has gained since its last look and reports each new step line,
as a local run reports the lines of its own pipe. A requeued job starts its log afresh, and the
follower starts over with it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from replay.score.log_parser import LogParser, StepLine

READ_BYTES = 1 << 20  # at most this much per look: a flooding log is read over several looks


class LogFollower:
    """Reads what a log file has gained since the last look and reports its new step lines."""

    def __init__(self, path: Path, on_step: Callable[[StepLine], None]):
        self.path, self.on_step = Path(path), on_step
        self.offset = 0
        self.partial = b""  # the last line, until its newline arrives
        self.parser = LogParser()

    def poll(self) -> None:
        """Report the step lines completed since the last call (none while the file is missing)."""
        try:
            with open(self.path, "rb") as log:
                size = log.seek(0, 2)
                if size < self.offset:  # rewritten from the start: a requeued job's new run
                    self.offset, self.partial, self.parser = 0, b"", LogParser()
                log.seek(self.offset)
                data = log.read(READ_BYTES)
        except OSError:
            return
        self.offset += len(data)
        *lines, self.partial = (self.partial + data).split(b"\n")
        if len(self.partial) > READ_BYTES:
            self.partial = b""  # no step line is that long
        for line in lines:
            step = self.parser.feed(line.decode(errors="replace"))
            if step is not None:
                self.on_step(step)
