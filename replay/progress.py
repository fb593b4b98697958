"""A live progress display for replays: which side and run is going, and its step."""

from __future__ import annotations

from replay.engine import Progress


class RichProgress:
    """A rich progress bar on stderr (plain lines when stderr is not a terminal)."""

    def __init__(self):
        from rich.console import Console
        from rich.progress import BarColumn, MofNCompleteColumn, Progress as Bar, TextColumn, TimeElapsedColumn

        self.console = Console(stderr=True)
        self.bar = Bar(TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
                       console=self.console, transient=True)
        self.current = None

    def __enter__(self):
        self.bar.__enter__()
        return self

    def __exit__(self, *exc):
        return self.bar.__exit__(*exc)

    def callbacks(self) -> Progress:
        return Progress(start_run=self._start, step=self._step, end_run=self._end)

    def _start(self, side: str, replicate: int, runs: int) -> None:
        self.current = self.bar.add_task(f"{side} run {replicate + 1}/{runs}", total=None)

    def _step(self, step) -> None:
        self.bar.update(self.current, completed=step.step, total=step.total)

    def _end(self, record: dict) -> None:
        self.bar.remove_task(self.current)
        time = f"{record['time_s']:.2f} s" if record["time_s"] is not None else "no time"
        loss = f"val loss {record['val_loss']:.4f}" if record["val_loss"] is not None else record["status"]
        cached = " (cached)" if record["cached"] else ""
        failure = f" [{record['failure']}]" if record["failure"] else ""
        self.console.print(f"{record['side']} run {record['replicate'] + 1}: {time}, {loss}{failure}{cached}")
