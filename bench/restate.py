"""Restate a track's official runs from a chain measurement (bench/chain.py).

A record's official time and validation loss are the runs whose logs it carries: ``logs/seedS.txt``
and ``[result]`` in its ``record.toml`` (the median time, its sd, the mean val loss, how many
runs). After the measurement protocol changes, or the records are re-measured, this rewrites every
record of the track with the runs of one chain measurement: each seed's training output closed by
the harness's validation line (:mod:`replay.records.official_log`), the new ``[result]``, and a
sentence in ``notes`` naming the measurement. Code, hints and innovations are untouched.

The track's branch and tags move to the rewritten commits in one reference transaction
(:mod:`replay.records.track_refs`); the old tip stays at ``refs/pre-restate/<track>-<date>``.
Nothing is written unless every record has a complete measurement (at least 3 runs, every one of
them finished and on target).

    .venv/bin/python bench/restate.py --track mini                 # from bench/results/chain-mini.json
    .venv/bin/python bench/restate.py --track mini --dry-run       # print the new [result]s only
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import re
import statistics
import sys
from pathlib import Path

from replay.paths import LOGS_DIR, RECORD_TOML
from replay.records.official_log import official_log
from replay.records.store import RecordsStore
from replay.records.track_refs import rewrite_track
from replay.score.log_parser import parse_log
from replay.statuses import RunOutcome

RESULTS = Path(__file__).parent / "results"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--track", default="mini")
    parser.add_argument("--chain", type=Path, help="the chain JSON (default: bench/results/chain-<track>.json)")
    parser.add_argument("--dry-run", action="store_true", help="print each record's new [result]; write nothing")
    args = parser.parse_args()
    chain_path = args.chain or RESULTS / f"chain-{args.track}.json"
    chain = json.loads(chain_path.read_text())
    store = RecordsStore()
    records = store.records(args.track)
    restated = {record.index: restatement(record, chain, chain_path) for record in records}
    for record in records:
        new = restated[record.index]
        print(
            f"{record.label}: time {new['time_s']} s (sd {new['time_sd_s']}), "
            f"val loss {new['val_loss']}, runs {new['runs']}"
        )
    if not args.dry_run:
        tip = rewrite(store, args.track, restated)
        print(f"{args.track}: rewritten, tip {tip}; old tip kept at refs/pre-restate/{args.track}-{dt.date.today()}")


def restatement(record, chain: dict, chain_path: Path) -> dict:
    """The new official figures, logs and notes sentence of one record, from its chain runs."""
    measurement = next((m for m in chain["measurements"] if record.index in m["records"]), None)
    runs = chain["results"].get(str(record.index), [])
    if measurement is None or "folder" not in measurement:
        sys.exit(f"{chain_path}: no measurement of {record.label} with its logs; run bench/chain.py over it first")
    if len(runs) < 3 or any(r["status"] != RunOutcome.OK for r in runs):
        sys.exit(f"{chain_path}: {record.label} has {len(runs)} runs, not 3 or more that all reached the target")
    folder = Path(measurement["folder"])
    logs = {}
    for seed, run in enumerate(runs):
        training = (folder / run["log"]).read_text(errors="replace")
        last = parse_log(training).last
        if last is None or last.step != last.total:
            sys.exit(f"{folder / run['log']}: no finished training run in the log")
        logs[f"logs/seed{seed}.txt"] = official_log(training, last.total, run["time_s"], run["val_loss"])
    times = [r["time_s"] for r in runs]
    losses = [r["val_loss"] for r in runs]
    seeds = f"seeds 0-{len(runs) - 1}: " + ", ".join(f"{t:.1f}" for t in times) + " s; harness val loss "
    sentence = (
        f" Official figures since {measurement['date']}: median of {len(runs)} interleaved full runs under the "
        f"harness protocol ({seeds}{', '.join(f'{v:.4f}' for v in losses)}), `{measurement['command']}`; "
        "figures earlier in these notes come from earlier measurements."
    )
    return {
        "time_s": round(statistics.median(times), 1),
        "time_sd_s": round(statistics.stdev(times), 2),
        "val_loss": round(statistics.mean(losses), 4),
        "runs": len(runs),
        "logs": logs,
        "notes_sentence": sentence,
    }


def restated_toml(text: str, new: dict) -> str:
    """``record.toml`` with the new ``[result]`` values and the notes sentence appended."""
    head, marker, rest = text.partition("\n[result]\n")
    section, next_table, tail = rest.partition("\n[")
    for key in ("time_s", "time_sd_s", "val_loss", "runs"):
        section, found = re.subn(rf"^{key} = .*$", f"{key} = {new[key]}", section, count=1, flags=re.M)
        if not found:
            section += f"\n{key} = {new[key]}"
    if not re.search(r"^notes = ", head, flags=re.M):
        head += f'\nnotes = "{new["notes_sentence"].strip()}"'
    else:
        head, found = re.subn(
            r'^(notes = ".*)"$', lambda m: m.group(1) + new["notes_sentence"] + '"', head, count=1, flags=re.M
        )
        if not found:
            raise SystemExit(f"record.toml whose notes are not a one-line string to extend:\n{head}")
    return head + marker + section + next_table + tail


def rewrite(store: RecordsStore, track: str, restated: dict[int, dict]) -> str:
    """Rewrite the track's records with their restatements; move the branch and tags; keep the old tip."""

    def files_of(record) -> dict[str, str]:
        new = restated[record.index]
        toml_text = restated_toml(store.read_file(record, RECORD_TOML).decode(), new)
        return {RECORD_TOML: toml_text, **new["logs"]}

    keep = f"refs/pre-restate/{track}-{dt.date.today()}"
    return rewrite_track(store, track, files_of, keep, f"restate {track}", drop_prefix=f"{LOGS_DIR}/")


if __name__ == "__main__":
    main()
