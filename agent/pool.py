"""A bounded pool of daemon worker threads that hands back futures.

The agent runs the nodes of a batch at once: each worker blocks on a model call or on the
executor while the run's own thread plans, commits and saves. The standard library's
``ThreadPoolExecutor`` joins its workers when the interpreter exits, so a Ctrl-C'd run would
wait for every training run in flight; these workers are daemons instead, and a run's
processes die with it (the executor's children get SIGTERM when their parent dies), leaving
the interrupted nodes to be redone by ``agent resume``.
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from concurrent.futures import Future


class DaemonPool:
    """``size`` daemon threads, started lazily; ``submit`` returns a Future for ``fn(*args)``."""

    def __init__(self, size: int, name: str):
        if size < 1:
            raise ValueError("a pool needs at least one worker")
        self.size = size
        self.name = name
        self._tasks: queue.SimpleQueue = queue.SimpleQueue()
        self._workers: list[threading.Thread] = []

    def submit(self, fn: Callable, *args) -> Future:
        if len(self._workers) < self.size:
            worker = threading.Thread(target=self._work, name=f"{self.name}-{len(self._workers)}", daemon=True)
            worker.start()
            self._workers.append(worker)
        future: Future = Future()
        self._tasks.put((future, fn, args))
        return future

    def _work(self) -> None:
        while True:
            future, fn, args = self._tasks.get()
            if not future.set_running_or_notify_cancel():
                continue
            try:
                future.set_result(fn(*args))
            except BaseException as exc:  # handed to the caller, who decides what it means
                future.set_exception(exc)
