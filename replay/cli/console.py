"""Console output shared by the commands that run things (``replay``, ``agent run``): the live
progress bar, the replay summary table, and the line that names the command to resume with."""

from __future__ import annotations

import sys
from contextlib import contextmanager

from replay.run.replayer import Progress


class RichProgress:
    """A rich progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self, announce_runs: bool = True):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, TextColumn, TimeElapsedColumn
        from rich.progress import Progress as Bar

        self.console = Console(stderr=True)
        self.bar = Bar(
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=self.console,
            transient=True,
        )
        self.announce_runs = announce_runs  # agent runs print one line per node themselves
        self.bars = {}  # (side, replicate) -> its bar: runs submitted together progress side by side

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def callbacks(self) -> Progress:
        return Progress(start_run=self._start, step=self._step, end_run=self._end)

    def _start(self, side: str, replicate: int, runs: int) -> None:
        self.bars[side, replicate] = self.bar.add_task(f"{side} run {replicate + 1}/{runs}", total=None)

    def _step(self, side: str, replicate: int, step) -> None:
        if (side, replicate) in self.bars:
            self.bar.update(self.bars[side, replicate], completed=step.step, total=step.total)

    def _end(self, record: dict) -> None:
        bar = self.bars.pop((record["side"], record["replicate"]), None)
        if bar is not None:
            self.bar.remove_task(bar)
        if not self.announce_runs:
            return
        time = f"{record['time_s']:.2f} s" if record["time_s"] is not None else "no time"
        loss = f"val loss {record['val_loss']:.4f}" if record["val_loss"] is not None else record["status"]
        cached = " (cached)" if record["cached"] else ""
        failure = f" [{record['failure']}]" if record["failure"] else ""
        self.console.print(f"{record['side']} run {record['replicate'] + 1}: {time}, {loss}{failure}{cached}")


def console():
    """A rich console on stdout whose tables stay readable when piped (not cut to 80 columns)."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() else 160)


def print_summary(summary: dict) -> None:
    """A replay's table, each side against the baseline, the notes a reader must see, the estimator."""
    from rich.table import Table

    from replay.score.replay_report import HEADERS, comparison_lines, notes, table_rows

    table = Table(title=f"{summary['track']} task {summary['task']} — target val loss {summary['target_val_loss']}")
    for header in HEADERS:
        table.add_column(header)
    for row in table_rows(summary):
        table.add_row(*row)
    out = console()
    out.print(table)
    for line in comparison_lines(summary) + notes(summary) + [summary.get("measured_by", ""), summary["estimator"]]:
        out.print(line)


@contextmanager
def resumable(command: str):
    """Ctrl-C (or SIGTERM, which runs turn into Ctrl-C) inside the block ends the command with
    exit status 130 and one line naming the command that resumes it."""
    try:
        yield
    except KeyboardInterrupt:
        print(f"interrupted: resume with `{command}`", file=sys.stderr)
        raise SystemExit(130) from None
