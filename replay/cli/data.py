"""``speedrun data ...``: the datasets replays read (help panel "Data")."""

from __future__ import annotations

from pathlib import Path

import typer

from replay import paths
from replay.errors import SpeedrunError

PANEL = "Data"
GPT2_EOT = 50256  # GPT-2's <|endoftext|>, FineWeb's document separator

data = typer.Typer(name="data", no_args_is_help=True, help="Prepare datasets for replays.")
groups = (data,)


@data.command("mini")
def data_mini():
    """Generate the mini track's synthetic corpus (cached under runs/data).

    Example: speedrun data mini
    """
    from replay.data import corpus

    print(corpus.ensure_mini_corpus(paths.data_dir()))


@data.command("synthetic")
def data_synthetic(
    out: Path = typer.Option(..., "--out", "-o", help="Folder to write the shards into (created)."),
    train_tokens: int = typer.Option(4_194_304, "--train-tokens", help="Training tokens in all."),
    val_tokens: int = typer.Option(
        10_485_760, "--val-tokens", help="Validation tokens (the real scripts evaluate 10,485,760)."
    ),
    shard_tokens: int = typer.Option(2_097_152, "--shard-tokens", help="Training tokens per shard."),
    seed: int = typer.Option(0, "--seed", help="Generator seed."),
):
    """Write small FineWeb-format shards (valid headers, documents separated by token 50256) for smoke runs.

    The text is the mini track's synthetic language under FineWeb's file names
    (fineweb_train_000001.bin ..., fineweb_val_000000.bin), so real records can run a few steps
    without the real data. Example: speedrun data synthetic --out /tmp/fineweb10B
    """
    from replay.data import corpus

    if min(train_tokens, val_tokens, shard_tokens) <= 0:
        raise SpeedrunError("--train-tokens, --val-tokens and --shard-tokens must be positive")
    written = corpus.generate(
        out,
        n_train_tokens=train_tokens,
        n_val_tokens=val_tokens,
        seed=seed,
        shard_tokens=shard_tokens,
        prefix="fineweb",
        eot=GPT2_EOT,
        first_train_index=1,
    )
    for path in written:
        print(path)


@data.command("fineweb")
def data_fineweb(
    shards: int = typer.Option(
        8, "--shards", "-n", help="Training shards of 100M tokens (the real records read up to ~8-10)."
    ),
    out: Path | None = typer.Option(
        None, "--out", "-o", help="Folder (default: $SPEEDRUN_FINEWEB or runs/data/fineweb10B)."
    ),
):
    """Download the real FineWeb GPT-2 shards (needs network access; ~200 MB per shard).

    Replays of the nanogpt track read them from the same folder. On GPU nodes without network,
    download elsewhere and copy the folder, then set SPEEDRUN_FINEWEB.
    Example: speedrun data fineweb --shards 8
    """
    from replay.data import datasets, fineweb

    fineweb.download(out or datasets.fineweb_dir(), shards)
