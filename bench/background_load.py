"""A steady background load, to measure a chain on a shared machine (bench/time_measures.py).

Keeps one CPU busy for a fraction of every period (``--busy 0.25``: 25 ms of every 100 ms) until
stopped, as another user's light work would. A full busy loop is no good model: the records'
two-thread training then waits at every barrier for a descheduled thread and slows many times
over (a 19 s record ran for more than 3 minutes beside one, 2026-11-28), which says more about
thread pools than about time measures.

    .venv/bin/python bench/background_load.py --busy 0.25 &
    .venv/bin/python bench/chain.py --track mini --runs 3 --first 14 --out bench/results/loaded
    kill %1
"""

from __future__ import annotations

import argparse
import time


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--busy", type=float, default=0.25, help="share of each period spent busy (0-1)")
    parser.add_argument("--period-ms", type=float, default=100.0)
    args = parser.parse_args()
    if not 0 < args.busy <= 1 or args.period_ms <= 0:
        raise SystemExit("--busy must be in (0, 1] and --period-ms positive")
    period = args.period_ms / 1000
    while True:
        start = time.perf_counter()
        while time.perf_counter() - start < args.busy * period:
            pass
        time.sleep(max(0.0, period - (time.perf_counter() - start)))


if __name__ == "__main__":
    main()
