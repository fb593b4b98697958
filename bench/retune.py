"""Re-tune check: a mini record's seed runs with other settings, as the harness measures them.

Why a task of the mini chain is not significant is a claim about its records: whether a re-tune
at this scale gives back the steps a significant speedup needs. This runs the record's script with
its ``Hyperparameters`` fields set to each combination of the given values (a grid), one training
process per run and seed, as a replay's job runs it (:class:`replay.run.executor.RunTask`: the
launch, then the harness's evaluation of the saved model), and prints the validation loss the
harness computes and the script's own train_time. The evidence behind
``bench/results/within-noise-mini.toml`` comes from it.

    .venv/bin/python bench/retune.py 21 --set num_iterations=47,45 --set muon_lr=0.045,0.06
    .venv/bin/python bench/retune.py 14 --set num_iterations=40 --set learning_rate=0.006,0.01 --seeds 0,1

Runs are not sandboxed: the scripts are the track's own records.
"""

from __future__ import annotations

import argparse
import itertools
import re
import tempfile
from pathlib import Path

from replay.data import datasets
from replay.records.store import RecordsStore
from replay.run.executor import HarnessEvaluation, LaunchSpec, RunTask
from replay.run.replayer import MODEL_OUT_VARIABLE
from replay.score.log_parser import StepLine

MODEL_FILE = "model.pt"


def with_settings(script: str, settings: dict[str, str]) -> str:
    """``script`` with each ``Hyperparameters`` field's default replaced (``name: type = value``);
    a field the script does not define is an error naming it."""
    for name, value in settings.items():
        script, found = re.subn(
            rf"^(    {re.escape(name)}: \w+ = )[^#\n]+?(\s*(#.*)?)$", rf"\g<1>{value}\2", script, flags=re.M
        )
        if found != 1:
            raise SystemExit(f"retune: the script has no Hyperparameters field '{name}' (name: type = value)")
    return script


def grid(assignments: list[str]) -> list[dict[str, str]]:
    """``["a=1,2", "b=3"]`` -> every combination: ``[{a: 1, b: 3}, {a: 2, b: 3}]``."""
    axes = []
    for item in assignments:
        name, sep, values = item.partition("=")
        if not sep or not name or not values:
            raise SystemExit(f"retune: '--set {item}' is not NAME=VALUE[,VALUE...]")
        axes.append([(name, v) for v in values.split(",")])
    return [dict(combo) for combo in itertools.product(*axes)]


def run_once(script: str, seed: int, data: str, folder: Path) -> tuple[float | None, float | None, str]:
    """Train ``script`` once with ``seed`` in ``folder`` as a replay's job does (the executor's
    :class:`RunTask`, without a sandbox); (harness val loss, train_time s, problem)."""
    (folder / "train_gpt.py").write_text(script)
    env = {**datasets.training_only(datasets.prepare(data)), "SPEEDRUN_SEED": str(seed), MODEL_OUT_VARIABLE: MODEL_FILE}
    steps: list[StepLine] = []
    task = RunTask(
        LaunchSpec(folder, "train_gpt.py", env=env), folder / "log.txt", evaluation=HarnessEvaluation(MODEL_FILE, data)
    )
    exit = task.execute(gpus=0, sandbox=None, on_step=steps.append).exit
    train_s = steps[-1].train_time_ms / 1000 if steps else None
    if exit.returncode != 0:
        return None, train_s, f"exit code {exit.returncode} (log {folder / 'log.txt'})"
    scored = exit.evaluation
    return scored.val_loss, train_s, scored.problem or ""


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("record", type=int, help="record index on the track")
    parser.add_argument("--track", default="mini")
    parser.add_argument("--set", dest="settings", action="append", default=[], help="NAME=VALUE[,VALUE...]")
    parser.add_argument("--seeds", default="0", help="comma-separated seeds (default 0)")
    args = parser.parse_args(argv)
    store = RecordsStore()
    record = store.record(args.track, args.record)
    script = store.read_file(record, record.meta.entry).decode()
    seeds = [int(s) for s in args.seeds.split(",")]
    combos = grid(args.settings)
    scripts = [with_settings(script, combo) for combo in combos]  # every name checked before any run
    print(f"{args.track} record {args.record}, target val loss {record.meta.target_val_loss}")
    for combo, text in zip(combos, scripts, strict=True):
        for seed in seeds:
            with tempfile.TemporaryDirectory(prefix="retune-") as tmp:
                loss, train_s, problem = run_once(text, seed, record.meta.data, Path(tmp))
            shown = " ".join(f"{k}={v}" for k, v in combo.items()) or "(as recorded)"
            loss_text = f"{loss:.4f}" if loss is not None else f"failed: {problem}"
            time_text = f"{train_s:.1f} s" if train_s is not None else "-"
            print(f"seed {seed}  {shown}: val loss {loss_text}, train_time {time_text}", flush=True)


if __name__ == "__main__":
    main()
